package delivery

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/newsroom/digest/internal/delivery/outbox"
)

// ledger is the one writer of a pass's outcomes. Each worker hands it the
// outcome of its last message, with a request for more work when its queue
// runs low, and goes on preparing its next message; the ledger records
// what has arrived from all the workers, and claims their next deliveries,
// in one transaction (Store.Settle). A worker holds back the end of its
// next message's DATA until the ledger has answered (mailer's SendWhen), so
// a crash still leaves at most one accepted-but-unrecorded message per
// worker, while the database sees one short transaction per round of
// workers instead of two per message, and recording overlaps sending.
type ledger struct {
	store  Store
	now    func() time.Time
	reqs   chan *settleRequest
	active atomic.Int64  // workers that have not left
	left   chan struct{} // a worker left: run need not wait for it
	gather time.Duration // longest wait for the rest of a round
	// Counted by run, read once it has returned.
	rounds, recorded int
}

// roundGather bounds how long the ledger holds a round open for the
// workers that have not handed in their outcome yet. A round closes as
// soon as every worker is in it; waiting for them costs nothing while they
// are busy writing their next message, and a transaction per worker
// instead of one per round costs CPU the workers need. The bound matters
// only when a worker is slow (a server taking its time to reply): the
// others then wait at most this long for their answer. With many workers
// rounds mostly close on this bound, so it sets how many outcomes one
// transaction records (BENCHMARKS.md).
const roundGather = 4 * time.Millisecond

type settleRequest struct {
	results []outbox.Result
	claim   outbox.ClaimRequest
	done    chan settled
}

// settled is the ledger's answer to one worker.
type settled struct {
	claims  []outbox.Claim
	refused []error // per result: the ledger would not record it
	err     error   // nothing of the round was recorded
}

// newLedger returns a ledger for workers workers, each of which may have
// one request outstanding.
func newLedger(store Store, now func() time.Time, workers int) *ledger {
	l := &ledger{store: store, now: now, reqs: make(chan *settleRequest, workers),
		left: make(chan struct{}, workers), gather: roundGather}
	l.active.Store(int64(workers))
	return l
}

// leave says a worker has stopped and will not submit again.
func (l *ledger) leave() {
	l.active.Add(-1)
	l.left <- struct{}{}
}

// submit hands results and a claim for up to claim.N deliveries to the
// ledger and returns at once; wait on the request for the answer. A worker
// has at most one request outstanding, so submit never blocks.
func (l *ledger) submit(results []outbox.Result, claim outbox.ClaimRequest) *settleRequest {
	r := &settleRequest{results: results, claim: claim, done: make(chan settled, 1)}
	l.reqs <- r
	return r
}

// run serves submitted requests until close. A round takes a request from every
// worker still working, or what has come within roundGather of the first
// one, and records them in one transaction.
func (l *ledger) run() {
	timer := time.NewTimer(l.gather)
	timer.Stop()
	for r := range l.reqs {
		round := []*settleRequest{r}
		timer.Reset(l.gather)
	gather:
		for int64(len(round)) < l.active.Load() {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break gather
				}
				round = append(round, r)
			case <-l.left:
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		var results []outbox.Result
		claims := make([]outbox.ClaimRequest, len(round))
		for i, r := range round {
			results = append(results, r.results...)
			claims[i] = r.claim
		}
		// Outcomes are recorded even while the pass stops: a message the
		// server accepted must not be left "sending".
		got, refused, err := l.store.Settle(context.Background(), l.now(), results, claims)
		l.rounds++
		if err == nil {
			l.recorded += len(results)
		}
		off := 0
		for i, r := range round {
			s := settled{err: err}
			if err == nil {
				s.claims, s.refused = got[i], refused[off:off+len(r.results)]
			}
			off += len(r.results)
			r.done <- s
		}
	}
}

// close ends run once every worker has stopped submitting.
func (l *ledger) close() { close(l.reqs) }
