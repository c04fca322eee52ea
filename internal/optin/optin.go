// Package optin owns the double opt-in: the confirmation email a new
// subscriber is sent, with the signed link that activates them, and the
// rule that a sign-up not confirmed in time lapses. The page behind the
// link is internal/server's; the state changes are the store's
// (ConfirmSubscriber, ExpirePending). It builds messages with
// internal/render and sends them through a Sender it is given, so the same
// service serves `subscribers add --confirm`, an import, or a web form.
package optin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/render"
)

// DefaultExpireAfter is how long a sign-up waits for its confirmation when
// the configuration says nothing (optin.expire_after).
const DefaultExpireAfter = 7 * 24 * time.Hour

// Renderer renders the confirmation email; *render.Renderer is one.
type Renderer interface {
	Confirm(in render.ConfirmInput) (render.ConfirmOutput, error)
}

// Sender sends one message; *mailer.Sender is one.
type Sender interface {
	Send(ctx context.Context, m mailer.Message) error
}

// Links makes the confirmation link; *links.Builder is one.
type Links interface {
	Confirm(subscriberID int64) string
}

// Options shape the invitations.
type Options struct {
	// From is the sender, "Name <addr@domain>" (the from config key).
	From string
	// MessageIDDomain is the right-hand side of Message-IDs; the domain of
	// From when empty.
	MessageIDDomain string
	// ExpireAfter is how long the reader has to confirm, as the email
	// tells them; DefaultExpireAfter when zero.
	ExpireAfter time.Duration
	// Now is the clock for the Date header; time.Now when nil.
	Now func() time.Time
}

// Inviter sends double opt-in invitations. It is safe for concurrent use
// when its Sender is.
type Inviter struct {
	render Renderer
	send   Sender
	links  Links
	opts   Options
}

// New returns an Inviter. It fails when opts.From is not an address.
func New(r Renderer, s Sender, l Links, opts Options) (*Inviter, error) {
	from, err := mail.ParseAddress(opts.From)
	if err != nil {
		return nil, fmt.Errorf("opt-in sender %q: %w", opts.From, err)
	}
	if opts.MessageIDDomain == "" {
		opts.MessageIDDomain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	}
	if opts.ExpireAfter <= 0 {
		opts.ExpireAfter = DefaultExpireAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Inviter{render: r, send: s, links: l, opts: opts}, nil
}

// Invite sends sub the confirmation email with their signed link. sub must
// be stored (it has an ID) and pending: inviting an active reader would ask
// them to confirm what they already have, and an unsubscribed one must not
// be mailed at all. The error of a failed send is the Sender's (a
// *mailer.SendError says whether retrying may help); the subscriber is
// left as it was, still pending.
func (i *Inviter) Invite(ctx context.Context, sub digest.Subscriber) error {
	switch {
	case sub.ID <= 0:
		return digest.Invalid(sub.Email, "id", "the subscriber is not stored yet")
	case sub.Status != digest.StatusPending:
		return digest.Invalid(sub.Email, "status", "is %s; only a pending subscriber is asked to confirm", sub.Status)
	}
	out, err := i.render.Confirm(render.ConfirmInput{
		Subscriber: sub,
		ConfirmURL: i.links.Confirm(sub.ID),
		ValidFor:   i.opts.ExpireAfter,
	})
	if err != nil {
		return fmt.Errorf("invite subscriber %d: %w", sub.ID, err)
	}
	id, err := messageID(sub.ID, i.opts.MessageIDDomain)
	if err != nil {
		return fmt.Errorf("invite subscriber %d: %w", sub.ID, err)
	}
	// No List-Id or List-Unsubscribe: this is a one-off message the
	// reader asked for, not a message of the list they have not joined.
	err = i.send.Send(ctx, mailer.Message{
		MessageID: id,
		From:      i.opts.From,
		ToName:    sub.Name,
		ToEmail:   sub.Email,
		Subject:   out.Subject,
		Text:      mailer.StringBody(out.Text),
		HTML:      mailer.StringBody(out.HTML),
		Date:      i.opts.Now(),
	})
	if err != nil {
		return fmt.Errorf("send confirmation email to subscriber %d: %w", sub.ID, err)
	}
	return nil
}

// messageID returns a fresh Message-ID for an invitation: one per email,
// since a second invitation is a new message, not a retry of the first.
func messageID(subscriberID int64, domain string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	return fmt.Sprintf("<confirm.%d.%s@%s>", subscriberID, hex.EncodeToString(b[:]), domain), nil
}

// PendingStore is what Expire needs of the store; *sqlite.DB is one.
type PendingStore interface {
	ExpirePending(ctx context.Context, createdBefore time.Time) (int, error)
}

// Expire marks expired the sign-ups still pending expireAfter after they
// were made (DefaultExpireAfter when zero), as of now, and returns how
// many. `digest serve` runs it before every pass.
func Expire(ctx context.Context, store PendingStore, now time.Time, expireAfter time.Duration) (int, error) {
	if expireAfter < 0 {
		return 0, errors.New("expire pending sign-ups: negative expire_after")
	}
	if expireAfter == 0 {
		expireAfter = DefaultExpireAfter
	}
	n, err := store.ExpirePending(ctx, now.Add(-expireAfter))
	if err != nil {
		return 0, err
	}
	return n, nil
}
