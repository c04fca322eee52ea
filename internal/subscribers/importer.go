package subscribers

import (
	"context"

	digest "github.com/newsroom/digest"
)

// ImportBatch is how many rows one import transaction writes: small enough
// that `digest serve` on the same database waits at most one batch for the
// write lock, never the whole import.
const ImportBatch = 5000

// ImportStore is what an import needs of the database; *sqlite.DB
// implements it.
type ImportStore interface {
	// ExistingSubscribers returns what the store holds about each of
	// emails, keyed by digest.EmailKey; an address it knows nothing about
	// is absent.
	ExistingSubscribers(ctx context.Context, emails []string) (map[string]*Existing, error)
	// ImportBatch runs apply in one write transaction, with what the store
	// holds about emails when it begins (as ExistingSubscribers returns
	// it); apply writes through w. An error from apply rolls the batch
	// back.
	ImportBatch(ctx context.Context, emails []string, apply func(known map[string]*Existing, w ImportWriter) error) error
}

// ImportWriter stores what an import decided, inside one batch's
// transaction.
type ImportWriter interface {
	// Create stores a new subscriber, with regions and consent, and sets
	// s.ID.
	Create(ctx context.Context, s *digest.Subscriber) error
	// Update stores s over the subscriber s.ID: name, zone, send time,
	// status, consent and regions. resetBounces starts the count of soft
	// bounces again.
	Update(ctx context.Context, s digest.Subscriber, resetBounces bool) error
	// Unsuppress takes email off the suppression list.
	Unsuppress(ctx context.Context, email string) error
}

// Inviter emails a stored pending subscriber the link that confirms their
// sign-up (double opt-in).
type Inviter interface {
	Invite(ctx context.Context, sub digest.Subscriber) error
}

// Import is one import of valid rows: it collects them as a file is read
// (Add is ReadImport's each), then decides for each row what to do with
// it against what the store holds (ImportMode.decide) and either reports
// that (Plan, a dry run) or does it (Write).
//
// Rows are kept in batches of ImportBatch, so no slice of a million rows
// is grown and copied, and each batch is one transaction as it is.
type Import struct {
	// Mode says what to do with addresses the store knows.
	Mode ImportMode
	// Consent is recorded for every new reader and every resubscription.
	Consent digest.Consent
	// Pending (double opt-in) stores new readers as pending, whatever the
	// file's status column says; they get digests once they confirm.
	Pending bool

	batches [][]Row
	n       int
}

// Add appends a valid row, with the import's consent and, when Pending,
// the pending status.
func (im *Import) Add(r Row) {
	if k := len(im.batches); k == 0 || len(im.batches[k-1]) == ImportBatch {
		im.batches = append(im.batches, make([]Row, 0, ImportBatch))
	}
	r.Subscriber.Consent = im.Consent
	if im.Pending {
		r.Subscriber.Status, r.HasStatus = digest.StatusPending, false
	}
	k := len(im.batches) - 1
	im.batches[k] = append(im.batches[k], r)
	im.n++
}

// Len is the number of rows added.
func (im *Import) Len() int { return im.n }

// ImportResult sums up an import: one outcome per row, in row order, and
// the readers it created pending (to be invited).
type ImportResult struct {
	Outcomes []ImportOutcome
	// Counts by action.
	Created, Updated, Unchanged, Skipped int
	// Invitees are the subscribers an import with Pending created, as
	// stored, in row order; nil without Pending.
	Invitees []digest.Subscriber
}

// merge adds the outcomes, counts and invitees of another batch's result
// to r.
func (r *ImportResult) merge(o ImportResult) {
	r.Outcomes = append(r.Outcomes, o.Outcomes...)
	r.Created += o.Created
	r.Updated += o.Updated
	r.Unchanged += o.Unchanged
	r.Skipped += o.Skipped
	r.Invitees = append(r.Invitees, o.Invitees...)
}

// add appends one row's outcome and counts it.
func (r *ImportResult) add(o ImportOutcome) {
	r.Outcomes = append(r.Outcomes, o)
	switch o.Action {
	case ImportCreate:
		r.Created++
	case ImportUpdate:
		r.Updated++
	case ImportUnchanged:
		r.Unchanged++
	default:
		r.Skipped++
	}
}

// Plan decides, writing nothing, what Write would do now. Each row is
// decided against the store as it is: the rows of one file have distinct
// addresses (ReadImport reports a repeated one), so none sees another.
func (im *Import) Plan(ctx context.Context, store ImportStore) (ImportResult, error) {
	var res ImportResult
	for _, batch := range im.batches {
		known, err := store.ExistingSubscribers(ctx, emailsOf(batch))
		if err != nil {
			return res, err
		}
		if err := im.apply(ctx, batch, known, nil, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Write imports the rows batch by batch, each batch decided against what
// the store holds inside its own transaction. progress, when not nil, is
// told how many rows each committed batch had. On an error the batches
// already committed stay imported and the result counts them.
func (im *Import) Write(ctx context.Context, store ImportStore, progress func(rows int)) (ImportResult, error) {
	var total ImportResult
	for _, batch := range im.batches {
		var res ImportResult
		err := store.ImportBatch(ctx, emailsOf(batch), func(known map[string]*Existing, w ImportWriter) error {
			res = ImportResult{}
			return im.apply(ctx, batch, known, w, &res)
		})
		if err != nil {
			return total, err
		}
		total.merge(res)
		if progress != nil {
			progress(len(batch))
		}
	}
	return total, nil
}

// apply decides each row of batch against known and, when w is not nil,
// stores the decision. Rows are applied in turn: a later row with the
// same address sees what an earlier one did.
func (im *Import) apply(ctx context.Context, batch []Row, known map[string]*Existing, w ImportWriter, res *ImportResult) error {
	for _, row := range batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		key := digest.EmailKey(row.Subscriber.Email)
		d := im.Mode.decide(row, known[key])
		res.add(d.ImportOutcome)
		if w == nil {
			continue
		}
		s := d.next
		switch d.Action {
		case ImportCreate:
			if err := w.Create(ctx, &s); err != nil {
				return err
			}
			if im.Pending {
				res.Invitees = append(res.Invitees, s)
			}
		case ImportUpdate:
			if err := w.Update(ctx, s, d.resubscribed); err != nil {
				return err
			}
		default:
			continue
		}
		if d.unsuppress {
			if err := w.Unsuppress(ctx, s.Email); err != nil {
				return err
			}
		}
		known[key] = &Existing{Subscriber: s}
	}
	return nil
}

func emailsOf(batch []Row) []string {
	emails := make([]string, len(batch))
	for i, r := range batch {
		emails[i] = r.Subscriber.Email
	}
	return emails
}

// InviteAll emails each of subs, stored pending subscribers, their
// confirmation link, and calls failed for each one whose email was not
// sent (they stay pending). It returns how many were sent.
func InviteAll(ctx context.Context, inv Inviter, subs []digest.Subscriber, failed func(digest.Subscriber, error)) int {
	sent := 0
	for _, s := range subs {
		if err := inv.Invite(ctx, s); err != nil {
			failed(s, err)
			continue
		}
		sent++
	}
	return sent
}
