// Package outbox is the protocol between a pass's workers and the ledger
// that records their deliveries (delivery.Store.Settle): what a worker
// reports (Result), asks for (ClaimRequest) and is handed (Claim), and the
// order in which deliveries are claimed (ClaimOrder). Package delivery
// owns it; it is a package of its own so that a store implementing the
// ledger uses these types without importing the pass and its renderer and
// SMTP client, and so that delivery's tests can open a real store.
package outbox

import (
	"cmp"
	"time"

	digest "github.com/newsroom/digest"
)

// Result is what became of one claimed delivery, for the ledger to
// record.
type Result struct {
	DeliveryID int64
	// Status is sent, deferred, failed or suppressed; or queued to release
	// the delivery without counting the attempt (it never reached the
	// server).
	Status digest.DeliveryStatus
	SentAt time.Time // sent: when the server accepted the message
	Next   time.Time // deferred: when to try again
	Reason string    // the server's reply (sent), or why
	Bounce bool      // failed: the address does not work; the subscriber becomes bounced
}

// ClaimRequest asks the ledger for up to N deliveries for the worker Holder.
type ClaimRequest struct {
	Holder string
	N      int
}

// Claim is a delivery handed to a worker, with its reader as stored at the
// moment of the claim (Subscriber.ID is 0 if the reader no longer exists).
type Claim struct {
	Delivery   digest.Delivery
	Subscriber digest.Subscriber
}

// ClaimOrder compares two new deliveries in the order a plan stores them:
// by due time, as workers claim them, then by reader. Workers break ties
// of due time by id, and the ids follow this order, so the deliveries a
// worker claims together are neighbours.
func ClaimOrder(a, b *digest.Delivery) int {
	if c := a.DueAt.Compare(b.DueAt); c != 0 {
		return c
	}
	return cmp.Compare(a.SubscriberID, b.SubscriberID)
}
