package subscribers

import (
	"slices"

	digest "github.com/newsroom/digest"
)

// ImportMode says what an import does with addresses the store already
// knows. The zero value adds new readers and leaves every known address
// alone.
type ImportMode struct {
	// UpdateExisting updates the name, regions, time zone and send time
	// (and the status, when the row gives one) of subscribers who are
	// active or pending. Without it they are left alone.
	UpdateExisting bool
	// Resubscribe reactivates addresses that unsubscribed, bounced,
	// expired or are suppressed (the suppression is lifted), with the
	// row's values and a new consent record. An erased address is never
	// re-added by an import: it takes `subscribers unsuppress` first.
	Resubscribe bool
}

// Existing is what the store holds about one address.
type Existing struct {
	// Subscriber is the stored subscriber, with regions; ID 0 when there
	// is none (a suppressed or erased address without a subscriber).
	Subscriber digest.Subscriber
	// Suppressed is the suppression reason, "" when not suppressed.
	Suppressed string
	// Erased: the address was erased on request (GDPR), and only a keyed
	// hash of it stays suppressed.
	Erased bool
}

// inactive reports whether the address gets no digests for a reason only
// the reader (or an explicit --resubscribe) may undo.
func (e *Existing) inactive() bool {
	if e.Suppressed != "" || e.Subscriber.ID == 0 {
		return true
	}
	switch e.Subscriber.Status {
	case digest.StatusUnsubscribed, digest.StatusBounced, digest.StatusExpired:
		return true
	}
	return false
}

// ImportAction is what an import does, or would do, with one row.
type ImportAction int

// Import actions.
const (
	// ImportCreate adds a new subscriber.
	ImportCreate ImportAction = iota + 1
	// ImportUpdate changes an existing subscriber (UpdateExisting), or
	// reactivates one (Resubscribe).
	ImportUpdate
	// ImportUnchanged: the subscriber already has the row's values.
	ImportUnchanged
	// ImportSkipExisting: the address is subscribed (active or pending)
	// and UpdateExisting is off.
	ImportSkipExisting
	// ImportSkipInactive: the address unsubscribed, bounced, expired, is
	// suppressed or was erased, and Resubscribe is off (or it was erased).
	ImportSkipInactive
)

// ImportOutcome is what happened to one row, with what the store held
// before, so that a skipped row can be explained.
type ImportOutcome struct {
	// Line is the row's line in the import file.
	Line   int
	Action ImportAction
	// Was is the subscriber's status before the import; "" for an
	// address the store did not have.
	Was digest.SubscriberStatus
	// Suppressed is the suppression reason of a suppressed address
	// ("erased" for an erased one); "" when it is not suppressed.
	Suppressed string
	// Erased reports that the address was erased (GDPR): only a keyed
	// hash of it remains, and an import never brings it back.
	Erased bool
}

// decision is what importing one row does: the outcome, the subscriber as
// it is to be stored (for a create or an update), and what else the store
// changes.
type decision struct {
	ImportOutcome
	next digest.Subscriber
	// resubscribed: an inactive reader comes back, so their count of soft
	// bounces starts again.
	resubscribed bool
	// unsuppress: the address's suppression is lifted.
	unsuppress bool
}

// decide is the import's merge rule: what importing row does when the
// store holds e about its address (nil: nothing). A dry run and an import
// both decide with it, so the dry run reports what the import does.
func (m ImportMode) decide(row Row, e *Existing) decision {
	d := decision{ImportOutcome: ImportOutcome{Line: row.Line}}
	if e == nil {
		d.Action, d.next = ImportCreate, row.Subscriber
		return d
	}
	d.Was, d.Suppressed, d.Erased = e.Subscriber.Status, e.Suppressed, e.Erased
	cur := e.Subscriber
	d.next = cur
	if e.inactive() {
		if !m.Resubscribe || e.Erased {
			d.Action = ImportSkipInactive
			return d
		}
		d.unsuppress = e.Suppressed != ""
		if cur.ID == 0 {
			d.Action, d.next = ImportCreate, row.Subscriber
			return d
		}
		// A resubscription is a new sign-up on the old record: every
		// field the row gives, a fresh consent, active unless the row
		// says otherwise.
		d.next = merge(cur, row)
		d.next.Status = digest.StatusActive
		if row.HasStatus {
			d.next.Status = row.Subscriber.Status
		}
		d.next.Consent = row.Subscriber.Consent
		d.Action, d.resubscribed = ImportUpdate, true
		return d
	}
	if !m.UpdateExisting {
		d.Action = ImportSkipExisting
		return d
	}
	d.next = merge(cur, row)
	if row.HasStatus {
		d.next.Status = row.Subscriber.Status
	}
	d.Action = ImportUpdate
	if sameProfile(cur, d.next) {
		d.Action = ImportUnchanged
	}
	return d
}

// merge returns cur with the fields row gives: regions always, the
// optional fields only when the row had a value for them.
func merge(cur digest.Subscriber, row Row) digest.Subscriber {
	next := cur
	next.Regions = slices.Clone(row.Subscriber.Regions)
	if row.HasName {
		next.Name = row.Subscriber.Name
	}
	if row.HasTimeZone {
		next.TimeZone = row.Subscriber.TimeZone
	}
	if row.HasSendTime {
		next.SendTime = row.Subscriber.SendTime
	}
	return next
}

// sameProfile reports whether an update would change nothing an import
// sets.
func sameProfile(a, b digest.Subscriber) bool {
	return a.Name == b.Name && slices.Equal(a.Regions, b.Regions) && a.TimeZone == b.TimeZone &&
		a.SendTime == b.SendTime && a.Status == b.Status
}
