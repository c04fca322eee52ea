package bounces

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	digest "github.com/newsroom/digest"
)

// Store is what ingesting needs from the database; *sqlite.DB implements it.
type Store interface {
	Delivery(ctx context.Context, id int64) (digest.Delivery, error)
	DeliveryByMessageID(ctx context.Context, messageID string) (digest.Delivery, error)
	Subscriber(ctx context.Context, id int64) (digest.Subscriber, error)
	SubscriberByEmail(ctx context.Context, email string) (digest.Subscriber, error)
	MarkBounced(ctx context.Context, subscriberID int64) (changed bool, err error)
	RecordSoftBounce(ctx context.Context, subscriberID int64, threshold int) (count int, bounced bool, err error)
	Complain(ctx context.Context, subscriberID int64, reason string) error
}

// Tokens verifies VERP tokens; *token.Signer implements it.
type Tokens interface {
	Verify(purpose, token string) (int64, error)
}

// VERPPurpose is the token purpose of VERP envelope senders.
const VERPPurpose = "bounce"

// Action is what ingesting one report did.
type Action string

// Actions of ingesting a report.
const (
	ActionBounced      Action = "marked bounced"
	ActionSoftCounted  Action = "soft bounce counted"
	ActionSoftBounced  Action = "soft bounce limit reached: marked bounced"
	ActionComplained   Action = "unsubscribed and suppressed"
	ActionSenderSide   Action = "not counted: refused for a reason on the sending side"
	ActionNoSubscriber Action = "no matching subscriber"
)

// Outcome reports one ingested report.
type Outcome struct {
	Report       Report
	SubscriberID int64
	Email        string
	MatchedBy    string // "verp", "message-id" or "recipient"
	Action       Action
}

// Ingester applies bounce and complaint reports to subscribers.
type Ingester struct {
	store         Store
	tokens        Tokens
	softThreshold int
	logger        *slog.Logger
}

// NewIngester returns an Ingester. softThreshold soft bounces mark a
// subscriber bounced (0: never).
func NewIngester(store Store, tokens Tokens, softThreshold int, logger *slog.Logger) *Ingester {
	return &Ingester{store: store, tokens: tokens, softThreshold: softThreshold, logger: logger}
}

// ingest finds the subscriber a report is about and acts on it: a hard
// bounce marks them bounced, a soft one is counted, a complaint
// unsubscribes and suppresses. The subscriber is found by the signed VERP
// token first (it names the delivery), then by the original Message-ID, then
// by the recipient address; a forged token is ignored, not trusted.
func (in *Ingester) ingest(ctx context.Context, r Report) (Outcome, error) {
	out := Outcome{Report: r}
	sub, how, err := in.match(ctx, r)
	if errors.Is(err, digest.ErrNotFound) {
		out.Action = ActionNoSubscriber
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.SubscriberID, out.Email, out.MatchedBy = sub.ID, sub.Email, how
	switch r.Kind {
	case Complaint:
		if err := in.store.Complain(ctx, sub.ID, "complaint (ARF feedback report) from "+orUnknown(r.ReportingMTA)); err != nil {
			return out, err
		}
		out.Action = ActionComplained
	case Hard:
		// A policy or reputation refusal (5.7.x) is about how we send,
		// not about the reader's address.
		if strings.HasPrefix(r.Status, "5.7.") {
			out.Action = ActionSenderSide
			in.logger.Error("operator alert: a bounce says the sending side was refused", "alert", true,
				"subscriber", sub.ID, "status", r.Status, "diagnostic", r.Diagnostic)
			return out, nil
		}
		if _, err := in.store.MarkBounced(ctx, sub.ID); err != nil {
			return out, err
		}
		out.Action = ActionBounced
	case Soft:
		_, bounced, err := in.store.RecordSoftBounce(ctx, sub.ID, in.softThreshold)
		if err != nil {
			return out, err
		}
		out.Action = ActionSoftCounted
		if bounced {
			out.Action = ActionSoftBounced
		}
	default:
		return out, fmt.Errorf("unknown report kind %q", r.Kind)
	}
	return out, nil
}

func (in *Ingester) match(ctx context.Context, r Report) (digest.Subscriber, string, error) {
	if r.VERPToken != "" && in.tokens != nil {
		if id, err := in.tokens.Verify(VERPPurpose, r.VERPToken); err == nil {
			d, err := in.store.Delivery(ctx, id)
			if err == nil {
				s, err := in.store.Subscriber(ctx, d.SubscriberID)
				return s, "verp", err
			}
			if !errors.Is(err, digest.ErrNotFound) {
				return digest.Subscriber{}, "", err
			}
		}
	}
	if r.OriginalMessageID != "" {
		d, err := in.store.DeliveryByMessageID(ctx, r.OriginalMessageID)
		if err == nil {
			s, err := in.store.Subscriber(ctx, d.SubscriberID)
			return s, "message-id", err
		}
		if !errors.Is(err, digest.ErrNotFound) {
			return digest.Subscriber{}, "", err
		}
	}
	if r.Recipient != "" {
		s, err := in.store.SubscriberByEmail(ctx, r.Recipient)
		return s, "recipient", err
	}
	return digest.Subscriber{}, "", digest.ErrNotFound
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown reporter"
	}
	return s
}
