// Package server is the HTTP side of `digest serve`: the pages behind the
// personal links a digest and a confirmation email carry. It owns RFC 8058
// one-click unsubscribe (POST /unsubscribe/{token}) and the confirmation
// page a person sees when they follow that link in a browser, the double
// opt-in page (GET /confirm/{token} shows a button, POST activates), the
// preferences page (/preferences/{token}: editions and their order, send
// time, time zone, when the next digest falls due, unsubscribe), and
// /healthz. A GET never changes
// anything: link scanners follow links. It reads and changes subscribers
// only through the Store it is given, and trusts a subscriber ID only when
// a Tokens signer vouches for it.
package server

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
)

// Token purposes; internal/links signs with the same strings.
const (
	purposeUnsubscribe = "unsubscribe"
	purposePreferences = "preferences"
	purposeConfirm     = "confirm"
)

// maxBodyBytes caps a POST body. A one-click body is 26 bytes; a multipart
// one a few hundred.
const maxBodyBytes = 8 << 10

// Store is what the server needs of the subscriber store.
type Store interface {
	// Subscriber returns a subscriber, or an error wrapping
	// digest.ErrNotFound.
	Subscriber(ctx context.Context, id int64) (digest.Subscriber, error)
	// Unsubscribe marks a subscriber unsubscribed; changed is false when
	// they already were. It returns an error wrapping digest.ErrNotFound
	// for an unknown ID.
	Unsubscribe(ctx context.Context, id int64) (changed bool, err error)
	// UpdateSubscriber saves a subscriber's regions, time zone, send time
	// (and name and status, which the pages pass through unchanged). With
	// s.UpdatedAt set it fails with digest.ErrConflict when the record
	// changed since it was read.
	UpdateSubscriber(ctx context.Context, s *digest.Subscriber) error
	// ConfirmSubscriber activates a pending subscriber and records the
	// consent; changed is false when they were already active. Other
	// statuses are refused with an error.
	ConfirmSubscriber(ctx context.Context, id int64, c digest.Consent) (changed bool, err error)
}

// Pinger is optionally implemented by a Store; /healthz then checks it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Tokens signs and verifies link tokens; *token.Signer is one. Signing
// makes the preferences link shown after a confirmation and the form
// tokens of the preferences page.
type Tokens interface {
	Sign(purpose string, subscriberID int64) string
	Verify(purpose, token string) (int64, error)
}

// Options shape the pages.
type Options struct {
	// PublisherName names the newsroom on every page; "the digest" when
	// empty.
	PublisherName string
	// Regions are the configured editions: the choices of the
	// preferences page, and the rules its answers are checked against.
	Regions digest.Regions
	// PublicURL is base_url, the address readers reach the pages at. A
	// POST whose Origin is this URL's origin is same-origin even when a
	// proxy changed the Host header. Optional.
	PublicURL string
	// BehindProxy trusts the last X-Forwarded-For address as the client's
	// (http.behind_proxy). Without it the connection's peer address is
	// recorded: a client could write anything into the header.
	BehindProxy bool
	// ConsentTextVersion is recorded with each confirmation
	// (optin.consent_text_version).
	ConsentTextVersion string
	// Now is the clock of the preferences form tokens; time.Now when nil.
	Now func() time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

// Server serves the pages. Build it with New.
type Server struct {
	store  Store
	tokens Tokens
	opts   Options
	logger *slog.Logger
	pages  map[string]*template.Template
	mux    *http.ServeMux
	// publicOrigin is the scheme://host of Options.PublicURL, or "".
	publicOrigin string
}

// New returns a Server. The page templates are embedded and parsed here,
// once.
func New(store Store, tokens Tokens, opts Options, logger *slog.Logger) *Server {
	if opts.PublisherName == "" {
		opts.PublisherName = "the digest"
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		store:  store,
		tokens: tokens,
		opts:   opts,
		logger: logger,
		pages:  make(map[string]*template.Template),
		mux:    http.NewServeMux(),
	}
	if u, err := url.Parse(opts.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		s.publicOrigin = u.Scheme + "://" + u.Host
	}
	for _, page := range []string{"message", "confirm", "preferences", "optin"} {
		// The templates are compiled into the binary, so a parse error is
		// a bug caught by every test, never a runtime condition.
		s.pages[page] = template.Must(template.New(page).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html"))
	}

	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /unsubscribe/{token}", s.confirmPage)
	s.mux.HandleFunc("POST /unsubscribe/{token}", s.unsubscribe(purposeUnsubscribe))
	s.mux.HandleFunc("GET /preferences/{token}", s.preferencesPage)
	s.mux.HandleFunc("POST /preferences/{token}", s.savePreferences)
	s.mux.HandleFunc("POST /preferences/{token}/unsubscribe", s.unsubscribe(purposePreferences))
	s.mux.HandleFunc("GET /confirm/{token}", s.optinPage)
	s.mux.HandleFunc("POST /confirm/{token}", s.confirm)
	return s
}

// Handler returns the HTTP handler: the routes above, with security headers
// on every response. The mux answers 405 to other methods on these paths
// and 404 elsewhere.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy",
			"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		// The URL holds a personal token: keep it out of Referer headers
		// and out of caches.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		s.mux.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.store.(Pinger); ok {
		if err := p.Ping(r.Context()); err != nil {
			s.logger.Error("health check: store unreachable", "err", err)
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// pageData is what every template gets.
type pageData struct {
	Publisher    string
	Title        string
	Text         string
	Email        string // masked
	Token        string
	Unsubscribed bool
	Editions     []string
	SendTime     string
	TimeZone     string
	// NextDigest is when the reader's next digest falls due, in their
	// zone; empty when none will (not active, or a zone that cannot be
	// loaded).
	NextDigest string
	// Link and LinkText add a link under a message; Link is relative to
	// the page, so it works wherever the service is mounted.
	Link, LinkText string
	// Form is the preferences form; nil when it is not offered.
	Form *prefsForm
}

// confirmPage shows who would be unsubscribed and a button that POSTs back.
// It changes nothing.
func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request) {
	sub, ok := s.subscriberFor(w, r, purposeUnsubscribe)
	if !ok {
		return
	}
	s.render(w, http.StatusOK, "confirm", pageData{
		Title:        "Unsubscribe",
		Email:        maskEmail(sub.Email),
		Unsubscribed: sub.Status == digest.StatusUnsubscribed,
	})
}

// unsubscribe handles the RFC 8058 one-click POST and the confirmation
// forms, which send the same body. It answers 200 with a page, never a
// redirect, and answers the same whether or not the reader was still
// subscribed, so repeating it is harmless. There is deliberately no
// cross-origin check: one-click requests come from the mail provider, not
// from our pages; the token is what authorises them.
func (s *Server) unsubscribe(purpose string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		status, err := readOneClick(w, r)
		if err != nil {
			s.logger.Debug("unsubscribe: unusable request body", "err", err)
			text := "This request was not understood. Use the button on the unsubscribe page."
			if status == http.StatusRequestEntityTooLarge {
				text = "This request is too large."
			}
			s.renderMessage(w, status, "Request not understood", text)
			return
		}
		id, err := s.tokens.Verify(purpose, r.PathValue("token"))
		if err != nil {
			s.invalidLink(w, http.StatusBadRequest)
			return
		}
		changed, err := s.store.Unsubscribe(r.Context(), id)
		switch {
		case errors.Is(err, digest.ErrNotFound):
			s.invalidLink(w, http.StatusNotFound)
			return
		case err != nil:
			s.logger.Error("unsubscribe failed", "subscriber", id, "err", err)
			s.serverError(w)
			return
		}
		if changed {
			s.logger.Info("subscriber unsubscribed", "subscriber", id, "via", purpose)
		}
		s.renderMessage(w, http.StatusOK, "You are unsubscribed",
			"You will get no more digests from "+s.opts.PublisherName+".")
	}
}

// readOneClick reads a form body (urlencoded or multipart, at most
// maxBodyBytes) and checks it is the one-click request,
// List-Unsubscribe=One-Click. On failure it returns the status to answer.
func readOneClick(w http.ResponseWriter, r *http.Request) (int, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	var err error
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/form-data") {
		err = r.ParseMultipartForm(maxBodyBytes)
		if r.MultipartForm != nil {
			defer func() { _ = r.MultipartForm.RemoveAll() }()
		}
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return http.StatusRequestEntityTooLarge, err
		}
		return http.StatusBadRequest, err
	}
	if got := r.PostForm.Get("List-Unsubscribe"); got != "One-Click" {
		return http.StatusBadRequest, errors.New("body lacks List-Unsubscribe=One-Click")
	}
	return http.StatusOK, nil
}

// subscriberFor verifies the request's token for purpose and loads its
// subscriber. On failure it has answered and returns false.
func (s *Server) subscriberFor(w http.ResponseWriter, r *http.Request, purpose string) (digest.Subscriber, bool) {
	id, err := s.tokens.Verify(purpose, r.PathValue("token"))
	if err != nil {
		s.invalidLink(w, http.StatusBadRequest)
		return digest.Subscriber{}, false
	}
	sub, err := s.store.Subscriber(r.Context(), id)
	switch {
	case errors.Is(err, digest.ErrNotFound):
		s.invalidLink(w, http.StatusNotFound)
		return digest.Subscriber{}, false
	case err != nil:
		s.logger.Error("load subscriber failed", "subscriber", id, "err", err)
		s.serverError(w)
		return digest.Subscriber{}, false
	}
	return sub, true
}

// invalidLink answers a forged, damaged or stale link with one generic page,
// whatever the reason, so the answer reveals nothing about any address.
func (s *Server) invalidLink(w http.ResponseWriter, status int) {
	s.renderMessage(w, status, "This link is not valid",
		"The link may be incomplete or out of date. Use the link in your most recent digest.")
}

func (s *Server) serverError(w http.ResponseWriter) {
	s.renderMessage(w, http.StatusInternalServerError, "Something went wrong",
		"Please try again in a few minutes.")
}

func (s *Server) renderMessage(w http.ResponseWriter, status int, title, text string) {
	s.render(w, status, "message", pageData{Title: title, Text: text})
}

// editionNames returns the display names of region codes, in their order;
// a code no longer configured shows as itself.
func (s *Server) editionNames(codes []string) []string {
	names := make([]string, 0, len(codes))
	for _, code := range codes {
		if region, ok := s.opts.Regions.Lookup(code); ok && region.Name != "" {
			names = append(names, region.Name)
		} else {
			names = append(names, code)
		}
	}
	return names
}

// render executes a page into memory first, so a template failure becomes
// a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, status int, page string, data pageData) {
	data.Publisher = s.opts.PublisherName
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.logger.Error("render page failed", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// maskEmail shows enough of an address for its owner to recognise it:
// "zoe@example.com" becomes "z***@example.com".
func maskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "***"
	}
	first := []rune(local)[0]
	return string(first) + "***@" + domain
}
