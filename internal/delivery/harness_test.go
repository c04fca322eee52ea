package delivery_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/demo"
	"github.com/newsroom/digest/internal/links"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/render"
	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/token"
	"github.com/newsroom/digest/templates"
)

const baseURL = "https://news.example.org/digest"

// harness is a whole pipeline on real parts: a SQLite file under
// t.TempDir(), the shipped templates, and an SMTP server on 127.0.0.1.
type harness struct {
	t       *testing.T
	ctx     context.Context
	db      *sqlite.DB
	sink    *smtpsink.Server
	pass    *delivery.Outbox
	signer  *token.Signer
	regions digest.Regions
	reject  atomic.Value // func(to string) error, consulted by the SMTP server per RCPT
	clock   *fakeClock   // the pass's clock; run sets it to the pass instant
	logs    *logBuffer   // what the pass and its senders logged
}

// logBuffer collects log output written from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeClock is the narrow seam for time: tests set it, the pass reads it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// harnessOptions vary the parts of a harness.
type harnessOptions struct {
	faults      smtpsink.Plan // how the SMTP server misbehaves
	timeout     time.Duration // the senders' SMTP timeout (10s)
	tls         string        // the senders' TLS mode ("none")
	maxAttempts int
	concurrency int           // (2)
	rate        float64       // messages per second; 0 for no limit
	lookback    time.Duration // FirstDigestLookback (24h)
	grace       time.Duration // LateBriefGrace (6h)
	// store, when set, wraps the real database the pass uses (to make a
	// write fail on cue).
	store func(*sqlite.DB) delivery.Store
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, harnessOptions{})
}

func newHarnessWith(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 10 * time.Second
	}
	if o.tls == "" {
		o.tls = "none"
	}
	if o.concurrency == 0 {
		o.concurrency = 2
	}
	if o.lookback == 0 {
		o.lookback = 24 * time.Hour
	}
	if o.grace == 0 {
		o.grace = 6 * time.Hour
	}
	ctx := context.Background()
	h := &harness{t: t, ctx: ctx, regions: config.Default().Regions, clock: &fakeClock{t: time.Now()}}
	h.reject.Store(func(string) error { return nil })

	db, err := sqlite.Open(ctx, t.TempDir()+"/digest.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h.db = db

	sink, err := smtpsink.Start(ctx, smtpsink.Options{
		Addr:       "127.0.0.1:0",
		RejectRcpt: func(to string) error { return h.reject.Load().(func(string) error)(to) },
		Faults:     o.faults,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	h.sink = sink

	h.logs = &logBuffer{}
	logger := slog.New(slog.NewTextHandler(h.logs, nil))
	newSender := func() (delivery.Sender, error) {
		return mailer.NewSender(mailer.Config{Host: sink.Host(), Port: sink.Port(), TLS: o.tls, Timeout: o.timeout}, logger)
	}

	renderer, err := render.New(templates.FS, render.Options{
		Regions: h.regions, PublisherName: "The Regional Brief", PostalAddress: "1 Example Square, Example City",
	})
	if err != nil {
		t.Fatal(err)
	}
	h.signer, err = token.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	var store delivery.Store = db
	if o.store != nil {
		store = o.store(db)
	}
	h.pass = delivery.New(store, renderer, newSender, links.New(baseURL, h.signer), delivery.Options{
		Regions:             h.regions,
		From:                "The Regional Brief <digest@news.example.org>",
		ListID:              "The Regional Brief <digest.news.example.org>",
		MessageIDDomain:     "news.example.org",
		FirstDigestLookback: o.lookback,
		LateBriefGrace:      o.grace,
		Concurrency:         o.concurrency,
		MaxAttempts:         o.maxAttempts,
		Rate:                o.rate,
	}, logger, h.clock.Now, nil)
	return h
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// addBrief stores a brief as `digest briefs add` would.
func (h *harness) addBrief(slug, region, published, headline string) digest.Brief {
	h.t.Helper()
	b := digest.Brief{
		Slug:        slug,
		Region:      region,
		Headline:    headline,
		Lede:        "Lede of " + slug + ".",
		Body:        "The news of **" + slug + "**, in a [linked](https://example.org/" + slug + ") paragraph.",
		Author:      "Desk " + region,
		PublishedAt: mustTime(h.t, published),
		Signals: []digest.Signal{{
			Title:   "What to watch",
			Body:    "Analysis for " + slug + ".",
			Sources: []digest.Source{{Name: "Ministry bulletin", URL: "https://example.org/bulletin"}, {Name: "Port data"}},
		}},
	}
	if _, err := h.db.UpsertBrief(h.ctx, &b); err != nil {
		h.t.Fatal(err)
	}
	return b
}

// addSubscriber stores an active subscriber.
func (h *harness) addSubscriber(email, name, regions, zone, sendAt string) digest.Subscriber {
	h.t.Helper()
	st, err := digest.ParseTimeOfDay(sendAt)
	if err != nil {
		h.t.Fatal(err)
	}
	s := digest.Subscriber{
		Email: email, Name: name, Regions: strings.Split(regions, ","), TimeZone: zone,
		SendTime: st, Status: digest.StatusActive,
	}
	if err := h.db.CreateSubscriber(h.ctx, &s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) run(now string) delivery.Report {
	h.t.Helper()
	at := mustTime(h.t, now)
	h.clock.Set(at)
	rep, err := h.pass.Run(h.ctx, at, delivery.RunOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return rep
}

// received is one message as the SMTP server got it, decoded.
type received struct {
	raw    smtpsink.Received
	header mail.Header
	text   string
	html   string
}

// inbox returns what the SMTP server received for an address, in order.
func (h *harness) inbox(addr string) []received {
	h.t.Helper()
	var out []received
	for _, r := range h.sink.Messages() {
		if len(r.To) != 1 || !strings.EqualFold(r.To[0], addr) {
			continue
		}
		msg, parts, err := demo.Parts(r.Data)
		if err != nil {
			h.t.Fatal(err)
		}
		rc := received{raw: r, header: msg.Header}
		if p, ok := demo.PartOf(parts, "text/plain"); ok {
			rc.text = string(p.Body)
		}
		if p, ok := demo.PartOf(parts, "text/html"); ok {
			rc.html = string(p.Body)
		}
		out = append(out, rc)
	}
	return out
}

// headlineOrder returns the headlines in the order they appear in s, of those given.
func headlineOrder(s string, headlines ...string) []string {
	type pos struct {
		h string
		i int
	}
	var found []pos
	for _, hl := range headlines {
		if i := strings.Index(s, hl); i >= 0 {
			found = append(found, pos{hl, i})
		}
	}
	for i := 1; i < len(found); i++ {
		for j := i; j > 0 && found[j].i < found[j-1].i; j-- {
			found[j], found[j-1] = found[j-1], found[j]
		}
	}
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = f.h
	}
	return out
}
