package digest

import (
	"fmt"
	"time"
)

// DeliveryStatus is where one digest for one reader on one day stands.
type DeliveryStatus string

// Delivery statuses. A pass first plans (queued, with the Message-ID fixed
// before any byte goes out); a worker claims a queued delivery (sending),
// and the SMTP server's reply decides what follows.
//
//	queued → sending → sent | deferred | failed
//	deferred → sending (when its next attempt is due)
//	queued | deferred → expired (too late to be a morning digest)
//	queued | sending → suppressed (the reader left before it went out)
//	sending → queued (recovered after a crash: sent again, same Message-ID)
const (
	// DeliveryQueued: planned, waiting for a worker.
	DeliveryQueued DeliveryStatus = "queued"
	// DeliverySending: claimed by a worker; the SMTP exchange may be under
	// way. Found at start-up, it means the last sender died mid-send.
	DeliverySending DeliveryStatus = "sending"
	// DeliverySent: accepted by the SMTP server.
	DeliverySent DeliveryStatus = "sent"
	// DeliveryDeferred: refused for now (4xx, network trouble); retried at
	// NextAttemptAt.
	DeliveryDeferred DeliveryStatus = "deferred"
	// DeliveryFailed: refused for good (5xx), out of attempts, or a message
	// that cannot be built. Not retried unless an operator asks.
	DeliveryFailed DeliveryStatus = "failed"
	// DeliveryExpired: not sent because it would arrive too long after the
	// reader's send time.
	DeliveryExpired DeliveryStatus = "expired"
	// DeliverySuppressed: not sent because the reader unsubscribed, bounced
	// or was suppressed after it was planned.
	DeliverySuppressed DeliveryStatus = "suppressed"
)

// DeliveryStatuses lists every status, in lifecycle order.
var DeliveryStatuses = []DeliveryStatus{
	DeliveryQueued, DeliverySending, DeliverySent, DeliveryDeferred,
	DeliveryFailed, DeliveryExpired, DeliverySuppressed,
}

// Valid reports whether s is a known delivery status.
func (s DeliveryStatus) Valid() bool {
	for _, v := range DeliveryStatuses {
		if s == v {
			return true
		}
	}
	return false
}

// Final reports whether no pass will act on a delivery in status s again.
func (s DeliveryStatus) Final() bool {
	switch s {
	case DeliverySent, DeliveryFailed, DeliveryExpired, DeliverySuppressed:
		return true
	}
	return false
}

// Delivery is one digest for one subscriber on one local calendar day. There
// is at most one per (subscriber, day).
type Delivery struct {
	ID            int64
	SubscriberID  int64
	DigestDate    Date    // the subscriber's local calendar day
	BriefIDs      []int64 // the briefs it carries, in the order they appear
	MessageID     string  // "<...@domain>", fixed when the delivery is created
	Status        DeliveryStatus
	Attempts      int
	Error         string    // the last failure, empty once sent
	Cutoff        time.Time // briefs published up to this instant; the subscriber's watermark once sent
	DueAt         time.Time // the reader's local send time that day; lateness is measured from it
	NextAttemptAt time.Time // when a deferred delivery may be tried again; zero otherwise
	CreatedAt     time.Time
	UpdatedAt     time.Time
	SentAt        time.Time // zero until sent
}

// DeliveryEvent is one transition of a delivery, kept for operators.
type DeliveryEvent struct {
	DeliveryID int64
	At         time.Time
	From, To   DeliveryStatus // From is empty for the creation
	Reason     string         // the SMTP reply, the error, or who asked
}

// Lease is a named lock held in the database with an expiry, so that only
// one process sends from a database at a time.
type Lease struct {
	Name      string
	Holder    string // who holds it: "host:pid"
	ExpiresAt time.Time
}

// LeaseHeldError says a lease is held by someone else.
type LeaseHeldError struct {
	Lease Lease
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("lease %q is held by %s until %s", e.Lease.Name, e.Lease.Holder, e.Lease.ExpiresAt.UTC().Format(time.RFC3339))
}
