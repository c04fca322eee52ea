package preview

import (
	"context"
	"fmt"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/subscribers"
)

// MadeUpEmail is the address of the reader of a region mix: .invalid can
// never be delivered to (RFC 2606), should a preview ever leak.
const MadeUpEmail = "preview@example.invalid"

// Target names whom a preview is for: a stored reader (Email), or, when
// Email is empty, a made-up reader of a region mix (Regions, in the
// reader's order, and TimeZone, by default the first region's).
type Target struct {
	Email    string
	Regions  []string
	TimeZone string
}

// ReaderFinder finds a stored reader; *sqlite.DB is one.
type ReaderFinder interface {
	// SubscriberByEmail returns one reader, or an error wrapping
	// digest.ErrNotFound.
	SubscriberByEmail(ctx context.Context, email string) (digest.Subscriber, error)
}

// Resolve returns the reader t names, for `digest preview` and `digest
// lint`. A stored reader's watermark and deliveries count in their
// preview; a made-up reader is never stored (ID 0), so every brief in the
// look-back window counts as new, and is validated as subscribers.New
// validates a real one, so a preview never shows a reader who could not
// exist. A reader not stored is an error wrapping digest.ErrNotFound; a
// bad target is one or more *digest.FieldError.
func (t Target) Resolve(ctx context.Context, subs ReaderFinder, d subscribers.Defaults) (digest.Subscriber, error) {
	switch {
	case t.Email != "" && len(t.Regions) > 0:
		return digest.Subscriber{}, digest.Invalid("preview", "email", "give a reader's email or a region mix, not both")
	case t.Email != "":
		if t.TimeZone != "" {
			return digest.Subscriber{}, digest.Invalid("preview", "timezone", "a stored reader has their own time zone")
		}
		s, err := subs.SubscriberByEmail(ctx, t.Email)
		if err != nil {
			return digest.Subscriber{}, fmt.Errorf("find reader %s: %w", t.Email, err)
		}
		return s, nil
	}
	return subscribers.New(subscribers.Input{Email: MadeUpEmail, Regions: t.Regions, TimeZone: t.TimeZone}, d)
}
