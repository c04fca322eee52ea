package server

import (
	"errors"
	"net/http"
	"net/url"

	digest "github.com/newsroom/digest"
)

// optinPage is what the link of a confirmation email opens. It shows one
// button that POSTs back to the same URL, and never activates anything
// itself: mail providers' link scanners and browser prefetchers follow every
// link in a message with a GET, so a GET that confirmed would subscribe
// people who never saw the email. Only the button's POST (confirm)
// activates; together they make the "GET/POST /confirm/{token}" of the
// double opt-in.
func (s *Server) optinPage(w http.ResponseWriter, r *http.Request) {
	sub, ok := s.subscriberFor(w, r, purposeConfirm)
	if !ok {
		return
	}
	if sub.Status != digest.StatusPending {
		s.optinOutcome(w, sub)
		return
	}
	s.render(w, http.StatusOK, "optin", pageData{
		Title:    "Confirm your subscription",
		Email:    maskEmail(sub.Email),
		Editions: s.editionNames(sub.Regions),
	})
}

// confirm activates a pending subscriber: the button of optinPage. It
// records the consent (time, client IP, user agent, consent wording
// version) and is idempotent: a second POST finds the reader active and
// shows the same page.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	if reason := s.crossSite(r); reason != "" {
		s.refuseCrossSite(w, r, reason)
		return
	}
	if status, err := readForm(w, r, maxBodyBytes); err != nil {
		s.renderMessage(w, status, "Request not understood", "Use the button on the confirmation page.")
		return
	}
	sub, ok := s.subscriberFor(w, r, purposeConfirm)
	if !ok {
		return
	}
	if sub.Status == digest.StatusPending {
		changed, err := s.store.ConfirmSubscriber(r.Context(), sub.ID, digest.Consent{
			IP:          s.clientIP(r),
			UserAgent:   userAgent(r),
			TextVersion: s.opts.ConsentTextVersion,
		})
		var fe *digest.FieldError
		switch {
		case errors.As(err, &fe):
			// The status moved since it was read (expired by a pass, say):
			// answer for the status it has now.
			if sub, ok = s.subscriberFor(w, r, purposeConfirm); ok {
				s.optinOutcome(w, sub)
			}
			return
		case errors.Is(err, digest.ErrNotFound):
			s.invalidLink(w, http.StatusNotFound)
			return
		case err != nil:
			s.logger.Error("confirm subscriber failed", "subscriber", sub.ID, "err", err)
			s.serverError(w)
			return
		}
		if changed {
			s.logger.Info("subscriber confirmed", "subscriber", sub.ID)
		}
		sub.Status = digest.StatusActive
	}
	s.optinOutcome(w, sub)
}

// optinOutcome answers a confirmation link for a subscriber who is no
// longer pending: confirmed, or beyond confirming.
func (s *Server) optinOutcome(w http.ResponseWriter, sub digest.Subscriber) {
	switch sub.Status {
	case digest.StatusActive:
		s.render(w, http.StatusOK, "message", pageData{
			Title: "You are subscribed",
			Text: "Thank you: " + maskEmail(sub.Email) + " will get the digest from " + s.opts.PublisherName +
				" every day at " + sub.SendTime.String() + zoneSuffix(sub.TimeZone) + ".",
			// Relative to /confirm/{token}, so it works under any prefix.
			Link:     "../preferences/" + url.PathEscape(s.tokens.Sign(purposePreferences, sub.ID)),
			LinkText: "Choose your editions and delivery time",
		})
	case digest.StatusExpired:
		s.renderMessage(w, http.StatusGone, "This confirmation link has expired",
			"The sign-up for "+maskEmail(sub.Email)+" was not confirmed in time, so it lapsed and nothing will be sent. "+
				"To get the digest, please sign up again.")
	default: // unsubscribed, bounced
		s.renderMessage(w, http.StatusConflict, "This subscription cannot be confirmed",
			maskEmail(sub.Email)+" is not subscribed and this link cannot subscribe it again. "+
				"To get the digest, please sign up again.")
	}
}

// zoneSuffix is " (Zone/Name)", or "" for no zone.
func zoneSuffix(zone string) string {
	if zone == "" {
		return ""
	}
	return " (" + zone + ")"
}
