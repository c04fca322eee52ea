// Package links builds the personal URLs a digest carries (one-click
// unsubscribe, preferences) and the double opt-in confirmation link. The
// paths here and the routes of internal/server are two halves of one
// contract, tested together in cmd/digest's end-to-end tests.
package links

import (
	"net/url"
	"strings"
)

// Token purposes. A token signed for one purpose never verifies for another.
const (
	PurposeUnsubscribe = "unsubscribe"
	PurposePreferences = "preferences"
	PurposeConfirm     = "confirm" // double opt-in: the link in the confirmation email
	PurposeBounce      = "bounce"  // VERP tokens naming a delivery in the envelope sender
)

// Signer signs a subscriber ID for a purpose; *token.Signer is one.
type Signer interface {
	Sign(purpose string, subscriberID int64) string
}

// Builder makes a subscriber's links under the public base URL of
// `digest serve`.
type Builder struct {
	base   string
	signer Signer
}

// New returns a Builder for baseURL (e.g. "https://news.example.org/digest").
func New(baseURL string, signer Signer) *Builder {
	return &Builder{base: strings.TrimRight(baseURL, "/"), signer: signer}
}

// Unsubscribe returns the one-click unsubscribe URL for a subscriber: the
// target of List-Unsubscribe and of the footer link.
func (b *Builder) Unsubscribe(subscriberID int64) string {
	return b.base + "/unsubscribe/" + url.PathEscape(b.signer.Sign(PurposeUnsubscribe, subscriberID))
}

// Preferences returns the subscriber's preferences page URL.
func (b *Builder) Preferences(subscriberID int64) string {
	return b.base + "/preferences/" + url.PathEscape(b.signer.Sign(PurposePreferences, subscriberID))
}

// Confirm returns the double opt-in link of the confirmation email: a page
// whose button activates the subscription.
func (b *Builder) Confirm(subscriberID int64) string {
	return b.base + "/confirm/" + url.PathEscape(b.signer.Sign(PurposeConfirm, subscriberID))
}
