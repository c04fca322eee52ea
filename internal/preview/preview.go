// Package preview is the editor's side of `digest preview --serve`: a small
// web page on which an editor picks a reader (searched by email) or a mix
// of regions and an instant, and sees what a pass would send then — the
// HTML email at desktop and phone width, the text part, subject and
// preheader, the HTML size against Gmail's 102 KB clipping limit, lint
// findings, and which briefs are in it and why. The page reloads by itself
// when a watched template or brief file changes.
//
// It owns the HTTP handler, the embedded page and its script, and the file
// watcher. It sends nothing and records nothing: a preview goes through
// the Previewer it is given (*delivery.Outbox), which uses the selection and
// rendering code of a real pass. It is meant for loopback: every response
// refuses a Host header that is not a loopback name unless told otherwise,
// so a web page elsewhere cannot read subscriber data through the
// editor's browser (DNS rebinding).
package preview

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/sqlite"
)

// HTMLLimit is the size of an HTML part above which Gmail clips a message
// ("[Message clipped]"), hiding the rest of the digest and its footer with
// the unsubscribe link.
const HTMLLimit = 102 * 1024

// Previewer works out what a pass would send a reader at an instant;
// *delivery.Outbox is one. A reader with ID 0 is a made-up one.
type Previewer interface {
	Preview(ctx context.Context, sub digest.Subscriber, at time.Time) (delivery.Preview, error)
}

// Subscribers finds the readers an editor picks from; *sqlite.DB is one.
type Subscribers interface {
	// ListSubscribers lists readers; the page uses Search and Limit.
	ListSubscribers(ctx context.Context, f sqlite.SubscriberFilter) ([]digest.Subscriber, error)
	// SubscriberByEmail returns one reader, or an error wrapping
	// digest.ErrNotFound.
	SubscriberByEmail(ctx context.Context, email string) (digest.Subscriber, error)
}

// Finding is one problem a linter found in a preview.
type Finding struct {
	Severity string `json:"severity"` // "error", "warning" or "info"
	Rule     string `json:"rule"`     // a short stable name of the check
	Message  string `json:"message"`
	Brief    string `json:"brief,omitempty"` // the slug of the brief it is about, if one
}

// Linter checks a preview; nil means no checks. It must not block on I/O:
// it runs on every preview request.
type Linter func(delivery.Preview) []Finding

// Options shape the page.
type Options struct {
	// Regions are the configured editions, offered in this order for a
	// region mix and used to name a brief's edition.
	Regions digest.Regions
	// SendTime is the send time of a made-up reader (config send_time).
	SendTime digest.TimeOfDay
	// AllowAnyHost turns off the loopback Host check: set it only when the
	// server is deliberately bound to a non-loopback address.
	AllowAnyHost bool
	// Now is the instant previewed when a request names none; time.Now
	// when nil.
	Now func() time.Time
}

//go:embed templates/*.html static/*
var assets embed.FS

// Server serves the editor page. Build it with New.
type Server struct {
	previewer Previewer
	subs      Subscribers
	lint      Linter
	opts      Options
	logger    *slog.Logger
	page      *template.Template
	static    http.Handler
	mux       *http.ServeMux
	events    *broker

	mu        sync.Mutex
	reloadErr string // why the last reload after a change failed; "" when it did not
}

// New returns a Server. The page template is embedded and parsed here.
func New(p Previewer, subs Subscribers, lint Linter, opts Options, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if lint == nil {
		lint = func(delivery.Preview) []Finding { return nil }
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the path is a constant: a bug every test catches
	}
	s := &Server{
		previewer: p,
		subs:      subs,
		lint:      lint,
		opts:      opts,
		logger:    logger,
		// Compiled into the binary: a parse error is a bug every test
		// catches, never a runtime condition.
		page:   template.Must(template.New("page.html").Option("missingkey=error").ParseFS(assets, "templates/page.html")),
		static: http.StripPrefix("/static/", http.FileServerFS(static)),
		mux:    http.NewServeMux(),
		events: newBroker(),
	}
	s.mux.HandleFunc("GET /{$}", s.editorPage)
	s.mux.Handle("GET /static/", s.static)
	s.mux.HandleFunc("GET /render", s.renderEmail)
	s.mux.HandleFunc("GET /api/preview", s.apiPreview)
	s.mux.HandleFunc("GET /api/subscribers", s.apiSubscribers)
	s.mux.HandleFunc("GET /events", s.eventStream)
	// Browsers ask for it; an empty answer keeps 404s out of the console.
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return s
}

// pageCSP lets the page run only its own script and style, talk only to
// this server and frame only this server's /render.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"frame-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler returns the HTTP handler: the routes above behind the Host check,
// with security headers on every response.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.opts.AllowAnyHost && !loopbackHost(r.Host) {
			http.Error(w, "this preview server answers only on a loopback address (127.0.0.1, ::1, localhost)", http.StatusMisdirectedRequest)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		s.mux.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoopbackAddr reports whether a listen address (host:port) binds only a
// loopback interface. An empty host ("":8081) binds every interface.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	return loopbackHost(host)
}

// setReloadError records the outcome of a reload after a change, shown by
// the page until the next successful one.
func (s *Server) setReloadError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reloadErr = ""
	if err != nil {
		s.reloadErr = err.Error()
	}
}

func (s *Server) reloadError() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadErr
}

// pageData is what the editor page template gets.
type pageData struct {
	Regions  digest.Regions
	Zones    []string // the regions' zones, offered for a mix
	SendTime string
}

func (s *Server) editorPage(w http.ResponseWriter, r *http.Request) {
	d := pageData{Regions: s.opts.Regions, SendTime: s.opts.SendTime.String()}
	seen := map[string]bool{}
	for _, rg := range s.opts.Regions {
		if !seen[rg.TimeZone] {
			seen[rg.TimeZone] = true
			d.Zones = append(d.Zones, rg.TimeZone)
		}
	}
	var buf strings.Builder
	if err := s.page.Execute(&buf, d); err != nil {
		s.logger.Error("render editor page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(buf.String()))
}
