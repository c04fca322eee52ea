package digest

import "time"

// DeliveryStatus is where one digest for one reader on one day stands.
type DeliveryStatus string

// Delivery statuses. A delivery is created before the send (so its Message-ID
// is fixed before any byte goes out) and becomes sent only once the SMTP
// server accepted the message.
const (
	// DeliveryQueued: planned, or refused for now (4xx, network trouble);
	// the next pass sends it, with the same Message-ID.
	DeliveryQueued DeliveryStatus = "queued"
	// DeliverySent: accepted by the SMTP server.
	DeliverySent DeliveryStatus = "sent"
	// DeliveryFailed: refused for good (5xx, or a message that cannot be
	// built); passes do not retry it.
	DeliveryFailed DeliveryStatus = "failed"
)

// Delivery is one digest for one subscriber on one local calendar day. There
// is at most one per (subscriber, day).
type Delivery struct {
	ID           int64
	SubscriberID int64
	DigestDate   Date    // the subscriber's local calendar day
	BriefIDs     []int64 // the briefs it carries, in the order they appear
	MessageID    string  // "<...@domain>", fixed when the delivery is created
	Status       DeliveryStatus
	Attempts     int
	Error        string    // the last failure, empty once sent
	Cutoff       time.Time // briefs published up to this instant; the subscriber's watermark once sent
	CreatedAt    time.Time
	UpdatedAt    time.Time
	SentAt       time.Time // zero until sent
}
