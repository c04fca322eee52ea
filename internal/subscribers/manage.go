package subscribers

import (
	"context"
	"errors"
	"fmt"

	digest "github.com/newsroom/digest"
)

// Store is what adding and changing one subscriber needs; *sqlite.DB is
// one. The CLI uses it today; a sign-up page or an API adds through the
// same functions, so the suppression rule holds for every way in.
type Store interface {
	// Suppressed reports whether an address (or the erased address it
	// hashes to) is on the suppression list, and why.
	Suppressed(ctx context.Context, email string) (reason string, ok bool, err error)
	// CreateSubscriber stores a new subscriber and sets its ID and
	// timestamps; an address already stored is an error wrapping
	// digest.ErrConflict.
	CreateSubscriber(ctx context.Context, s *digest.Subscriber) error
	// SubscriberByEmail returns one subscriber, or an error wrapping
	// digest.ErrNotFound.
	SubscriberByEmail(ctx context.Context, email string) (digest.Subscriber, error)
	// UpdateSubscriber stores s's settings under s.ID.
	UpdateSubscriber(ctx context.Context, s *digest.Subscriber) error
}

// SuppressedError is why an address is not added or made active: it is on
// the suppression list (suppressed by an operator, a complaint or a hard
// bounce, or erased), and stays unmailed until an operator lifts that on
// purpose.
type SuppressedError struct {
	Email  string
	Reason string // as recorded with the suppression
}

func (e *SuppressedError) Error() string {
	return fmt.Sprintf("%s is suppressed (%s)", e.Email, e.Reason)
}

// ExistsError is why a subscriber is not added: the address is already
// stored. It matches digest.ErrConflict with errors.Is.
type ExistsError struct{ Email string }

func (e *ExistsError) Error() string { return "subscriber " + e.Email + " already exists" }

// Is makes errors.Is(err, digest.ErrConflict) hold.
func (e *ExistsError) Is(target error) bool { return target == digest.ErrConflict }

// Add stores sub, a subscriber New validated, and sets its ID and
// timestamps. A suppressed address is refused with a *SuppressedError
// before anything is stored, an address already stored with an
// *ExistsError.
func Add(ctx context.Context, store Store, sub *digest.Subscriber) error {
	if err := checkSuppressed(ctx, store, sub.Email); err != nil {
		return err
	}
	if err := store.CreateSubscriber(ctx, sub); err != nil {
		if errors.Is(err, digest.ErrConflict) {
			return &ExistsError{Email: sub.Email}
		}
		return fmt.Errorf("add subscriber %s: %w", sub.Email, err)
	}
	return nil
}

// Change applies ch to the stored subscriber with address email, validated
// as Update validates it, stores and returns the result. A subscriber not
// stored is an error wrapping digest.ErrNotFound; invalid changes are the
// *digest.FieldError(s) of Update. Making a reader active does not lift a
// suppression: a suppressed address is refused with a *SuppressedError.
func Change(ctx context.Context, store Store, email string, ch Changes, d Defaults) (digest.Subscriber, error) {
	cur, err := store.SubscriberByEmail(ctx, email)
	if err != nil {
		return digest.Subscriber{}, err
	}
	next, err := Update(cur, ch, d)
	if err != nil {
		return digest.Subscriber{}, err
	}
	if next.Status == digest.StatusActive && cur.Status != digest.StatusActive {
		if err := checkSuppressed(ctx, store, cur.Email); err != nil {
			return digest.Subscriber{}, err
		}
	}
	if err := store.UpdateSubscriber(ctx, &next); err != nil {
		return digest.Subscriber{}, fmt.Errorf("update %s: %w", cur.Email, err)
	}
	return next, nil
}

// checkSuppressed returns a *SuppressedError when email is suppressed.
func checkSuppressed(ctx context.Context, store Store, email string) error {
	reason, ok, err := store.Suppressed(ctx, email)
	if err != nil {
		return err
	}
	if ok {
		return &SuppressedError{Email: email, Reason: reason}
	}
	return nil
}
