package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	digest "github.com/newsroom/digest"
)

// SenderLease is the name of the lease a process holds while it sends from
// a database.
const SenderLease = "sender"

// LeaseStore keeps leases; *sqlite.DB implements it.
type LeaseStore interface {
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (digest.Lease, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	TakeOverLease(ctx context.Context, name, from, holder string, now time.Time, ttl time.Duration) (digest.Lease, error)
}

// Holder names this process for leases and claims: "host:pid".
func Holder() string {
	return fmt.Sprintf("%s:%d", hostname(), os.Getpid())
}

func hostname() string {
	host, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return host
}

// holderDead reports whether holder names a process on this machine that
// no longer exists. Holders on other machines are never judged dead: their
// lease has to expire.
func holderDead(holder string) bool {
	i := strings.LastIndexByte(holder, ':')
	if i < 0 || holder[:i] != hostname() {
		return false
	}
	pid, err := strconv.Atoi(holder[i+1:])
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return !processAlive(pid)
}

// HeldLease is a lease this process holds and renews in the background.
type HeldLease struct {
	store  LeaseStore
	name   string
	holder string
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// HoldLease takes the named lease for holder and renews it every ttl/3
// until Release. When another process holds it, HoldLease fails with a
// *digest.LeaseHeldError, or, with wait, tries again every retry until ctx
// ends. The returned context is cancelled if the lease is lost (a renewal
// found someone else holding it, e.g. after this process was paused past
// the expiry), so work under it stops.
func HoldLease(ctx context.Context, store LeaseStore, name, holder string, ttl time.Duration, wait bool, retry time.Duration,
	logger *slog.Logger) (*HeldLease, context.Context, error) {
	for {
		_, err := store.AcquireLease(ctx, name, holder, time.Now(), ttl)
		if err == nil {
			break
		}
		var held *digest.LeaseHeldError
		if errors.As(err, &held) && holderDead(held.Lease.Holder) {
			// The holder was a process on this machine that no longer
			// exists (killed, crashed): no need to wait out its lease.
			logger.Warn("taking over the sender lease from a process that is gone", "holder", held.Lease.Holder)
			if _, err = store.TakeOverLease(ctx, name, held.Lease.Holder, holder, time.Now(), ttl); err == nil {
				break
			}
			held = nil
		}
		if !wait || !errors.As(err, &held) {
			return nil, nil, err
		}
		logger.Warn("another sender holds the database; waiting", "holder", held.Lease.Holder,
			"until", held.Lease.ExpiresAt.UTC().Format(time.RFC3339))
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(retry):
		}
	}
	leaseCtx, cancel := context.WithCancel(ctx)
	h := &HeldLease{store: store, name: name, holder: holder, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-leaseCtx.Done():
				return
			case <-t.C:
				if _, err := store.AcquireLease(leaseCtx, name, holder, time.Now(), ttl); err != nil {
					if leaseCtx.Err() != nil {
						return
					}
					var held *digest.LeaseHeldError
					if errors.As(err, &held) {
						logger.Error("lost the sender lease; stopping", "holder", held.Lease.Holder)
						cancel()
						return
					}
					// A busy database: try again at the next tick, well
					// before the lease runs out.
					logger.Warn("could not renew the sender lease", "err", err)
				}
			}
		}
	}()
	return h, leaseCtx, nil
}

// Release stops renewing and gives the lease up.
func (h *HeldLease) Release() error {
	var err error
	h.once.Do(func() {
		h.cancel()
		<-h.done
		err = h.store.ReleaseLease(context.Background(), h.name, h.holder)
	})
	return err
}
