package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/demo"
	"github.com/newsroom/digest/internal/links"
	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/newsroom/digest/internal/sqlite"
)

// pagesFixture serves the pages of `digest serve` for the CLI's config,
// over the same database file the CLI commands use.
type pagesFixture struct {
	cfg *config.Config
	db  *sqlite.DB
	srv *httptest.Server
}

func newPagesFixture(t *testing.T, c *cli, cfgPath string) *pagesFixture {
	t.Helper()
	cfg, err := config.Load(cfgPath, func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	_, signer, err := newLinks(cfg)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(httpHandler(pages(cfg, db, signer, logger).Handler(), http.NotFoundHandler()))
	t.Cleanup(srv.Close)
	return &pagesFixture{cfg: cfg, db: db, srv: srv}
}

// local turns a link of an email (under base_url) into the test server's
// URL, as the proxy in front of digest serve would.
func (p *pagesFixture) local(t *testing.T, link string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(link, p.cfg.BaseURL)
	if !ok {
		t.Fatalf("link %q is not under base_url %s", link, p.cfg.BaseURL)
	}
	return p.srv.URL + rest
}

func (p *pagesFixture) do(t *testing.T, method, target string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// What a browser sends when posting our own form.
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Origin", "null")
	}
	req.Header.Set("User-Agent", "TestBrowser/2.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *pagesFixture) subscriber(t *testing.T, email string) digest.Subscriber {
	t.Helper()
	s, err := p.db.SubscriberByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// textOf returns the text/plain part of a received message.
func textOf(t *testing.T, m smtpsink.Received) string {
	t.Helper()
	_, parts, err := demo.Parts(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := demo.PartOf(parts, "text/plain")
	if !ok {
		t.Fatalf("message to %v has no text part", m.To)
	}
	return string(p.Body)
}

var (
	confirmLink     = regexp.MustCompile(`https://\S+/confirm/[A-Za-z0-9_-]+`)
	preferencesLink = regexp.MustCompile(`https://\S+/preferences/[A-Za-z0-9_-]+`)
	formPart        = regexp.MustCompile(`(?s)<form method="post">(.*?)</form>`)
	inputPart       = regexp.MustCompile(`<input ([^>]*)>`)
	attrPart        = regexp.MustCompile(`([a-z_-]+)(?:="([^"]*)")?`)
)

// formOf returns what a browser would submit from the page's first form
// unchanged.
func formOf(t *testing.T, page string) url.Values {
	t.Helper()
	m := formPart.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form on the page:\n%s", page)
	}
	v := url.Values{}
	for _, in := range inputPart.FindAllStringSubmatch(m[1], -1) {
		attrs, checked := map[string]string{}, false
		for _, a := range attrPart.FindAllStringSubmatch(in[1], -1) {
			attrs[a[1]] = html.UnescapeString(a[2])
			checked = checked || a[1] == "checked"
		}
		if attrs["name"] != "" && (attrs["type"] != "checkbox" || checked) {
			v.Add(attrs["name"], attrs["value"])
		}
	}
	return v
}

// TestDoubleOptIn follows a reader from `subscribers add --confirm` through
// the confirmation email and page to their first digest.
func TestDoubleOptIn(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfgPath := c.config(sink, "127.0.0.1:18080")
	c.write("b.md", briefFile)
	if code, _, stderr := c.run("--config", cfgPath, "briefs", "add", filepath.Join(c.dir, "b.md")); code != 0 {
		t.Fatal(stderr)
	}
	code, stdout, stderr := c.run("--config", cfgPath, "subscribers", "add", "x@example.com", "--regions", "lagos", "--confirm")
	if code != 0 || !strings.Contains(stdout, "pending") || !strings.Contains(stdout, "sent the confirmation email to x@example.com") {
		t.Fatalf("add --confirm: exit %d\n%s%s", code, stdout, stderr)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "x@example.com" {
		t.Fatalf("after add --confirm the sink has %d messages, want the confirmation to x@example.com", len(msgs))
	}
	link := confirmLink.FindString(textOf(t, msgs[0]))
	if link == "" {
		t.Fatalf("no confirmation link in:\n%s", textOf(t, msgs[0]))
	}

	p := newPagesFixture(t, c, cfgPath)
	target := p.local(t, link)
	status, page := p.do(t, http.MethodGet, target, nil)
	if status != http.StatusOK || !strings.Contains(page, "<button") {
		t.Fatalf("GET %s: %d\n%s", target, status, page)
	}
	if s := p.subscriber(t, "x@example.com"); s.Status != digest.StatusPending {
		t.Fatalf("opening the link made the reader %s; only the button may", s.Status)
	}
	// A forged or other-purpose token is refused and activates nothing.
	_, signer, err := newLinks(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := p.subscriber(t, "x@example.com").ID
	for _, bad := range []string{
		strings.Replace(target, "/confirm/", "/confirm/A", 1),               // forged
		p.srv.URL + "/confirm/" + signer.Sign(links.PurposePreferences, id), // another purpose
		p.srv.URL + "/confirm/" + signer.Sign(links.PurposeUnsubscribe, id), // another purpose
	} {
		if status, _ := p.do(t, http.MethodPost, bad, url.Values{"confirm": {"yes"}}); status != http.StatusBadRequest {
			t.Errorf("POST %s: %d, want 400", bad, status)
		}
	}

	// Pending readers get no digest.
	code, stdout, _ = c.run("--config", cfgPath, "send", "--now", "2026-11-26T08:00:00Z")
	if code != 0 || strings.Contains(stdout, "sent 1") || len(sink.Messages()) != 1 {
		t.Fatalf("send with only a pending reader: exit %d, %d messages\n%s", code, len(sink.Messages()), stdout)
	}

	status, page = p.do(t, http.MethodPost, target, formOf(t, page))
	if status != http.StatusOK || !strings.Contains(page, "You are subscribed") {
		t.Fatalf("POST the confirmation form: %d\n%s", status, page)
	}
	s := p.subscriber(t, "x@example.com")
	if s.Status != digest.StatusActive || s.Consent.IP != "127.0.0.1" || s.Consent.UserAgent != "TestBrowser/2.0" ||
		s.Consent.ConfirmedAt.IsZero() || s.Consent.Source != "cli" {
		t.Fatalf("after confirming: status %s, consent %+v", s.Status, s.Consent)
	}

	code, stdout, _ = c.run("--config", cfgPath, "send", "--now", "2026-11-26T08:05:00Z")
	msgs = sink.Messages()
	if code != 0 || !strings.Contains(stdout, "sent 1") || len(msgs) != 2 || msgs[1].To[0] != "x@example.com" ||
		!strings.Contains(textOf(t, msgs[1]), "Port congestion eases") {
		t.Fatalf("send after confirming: exit %d, %d messages\n%s", code, len(msgs), stdout)
	}
}

// An unconfirmed sign-up lapses after optin.expire_after; its link then
// explains and activates nothing.
func TestOptInExpires(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfgPath := c.config(sink, "127.0.0.1:18080")
	if code, _, stderr := c.run("--config", cfgPath, "subscribers", "add", "late@example.com", "--regions", "lagos", "--confirm"); code != 0 {
		t.Fatal(stderr)
	}
	link := confirmLink.FindString(textOf(t, sink.Messages()[0]))
	p := newPagesFixture(t, c, cfgPath)
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)

	// Not yet: a day later the sign-up still stands.
	if err := expirePending(ctx, p.db, p.cfg, time.Now().Add(24*time.Hour), logger); err != nil {
		t.Fatal(err)
	}
	if s := p.subscriber(t, "late@example.com"); s.Status != digest.StatusPending {
		t.Fatalf("after a day: %s, want pending", s.Status)
	}
	if err := expirePending(ctx, p.db, p.cfg, time.Now().Add(p.cfg.OptIn.ExpireAfter+time.Minute), logger); err != nil {
		t.Fatal(err)
	}
	if s := p.subscriber(t, "late@example.com"); s.Status != digest.StatusExpired {
		t.Fatalf("after expire_after: %s, want expired", s.Status)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var form url.Values
		if method == http.MethodPost {
			form = url.Values{"confirm": {"yes"}}
		}
		status, page := p.do(t, method, p.local(t, link), form)
		if status != http.StatusGone || !strings.Contains(page, "expired") || strings.Contains(page, "<form") {
			t.Errorf("%s on the link of an expired sign-up: %d\n%s", method, status, page)
		}
	}
	if s := p.subscriber(t, "late@example.com"); s.Status != digest.StatusExpired {
		t.Errorf("the link of an expired sign-up made it %s", s.Status)
	}
}

// If the confirmation email cannot be sent, the reader is still stored
// (pending) and the command says so and exits 1.
func TestOptInEmailFails(t *testing.T) {
	c := newCLI(t)
	sink, err := smtpsink.Start(context.Background(), smtpsink.Options{RejectRcpt: func(string) error {
		return smtpsink.Reject(550, "5.1.1", "no such mailbox")
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	cfgPath := c.config(sink, "127.0.0.1:18080")
	code, stdout, stderr := c.run("--config", cfgPath, "subscribers", "add", "nobody@example.com", "--regions", "lagos", "--confirm")
	if code != 1 || !strings.Contains(stdout, "added subscriber") || !strings.Contains(stderr, "stored as pending") ||
		!strings.Contains(stderr, "5.1.1") {
		t.Fatalf("add --confirm with a refusing server: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	_, stdout, _ = c.run("--config", cfgPath, "subscribers", "list", "--format", "json")
	if !strings.Contains(stdout, `"status": "pending"`) {
		t.Errorf("the reader is not stored as pending:\n%s", stdout)
	}
	if code, _, stderr := c.run("--config", cfgPath, "subscribers", "add", "b@example.com", "--regions", "lagos", "--confirm", "--status", "active"); code != 2 {
		t.Errorf("--confirm --status active: exit %d (%s), want a usage error", code, stderr)
	}
}

// TestPreferencesTakeEffect changes a reader's editions, their order, the
// send time and the zone through the page linked from their digest; the
// next pass follows the new settings.
func TestPreferencesTakeEffect(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfgPath := c.config(sink, "127.0.0.1:18080")
	brief := func(slug, region, published string) string {
		b := strings.NewReplacer("slug: lagos-port", "slug: "+slug, "region: lagos", "region: "+region,
			"2026-11-25T18:00:00Z", published, "Port congestion eases", "Headline "+slug).Replace(briefFile)
		return c.write(slug+".md", b)
	}
	add := func(args ...string) {
		t.Helper()
		if code, stdout, stderr := c.run(append([]string{"--config", cfgPath}, args...)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	add("briefs", "add", brief("lagos-one", "lagos", "2026-11-25T18:00:00Z"), brief("bxl-one", "bxl", "2026-11-25T19:00:00Z"))
	add("subscribers", "add", "ada@example.com", "--regions", "lagos,bxl", "--send-time", "06:30")

	// Day one, 07:00 in Lagos: the digest, Lagos first, with its preferences link.
	add("send", "--now", "2026-11-26T06:00:00Z")
	first := textOf(t, sink.Messages()[0])
	if l, b := strings.Index(first, "LAGOS"), strings.Index(first, "BRUSSELS"); l < 0 || b < 0 || l > b {
		t.Fatalf("day one: Brussels before Lagos:\n%s", first)
	}
	link := preferencesLink.FindString(first)
	if link == "" {
		t.Fatalf("no preferences link in the digest:\n%s", first)
	}

	p := newPagesFixture(t, c, cfgPath)
	status, page := p.do(t, http.MethodGet, p.local(t, link), nil)
	if status != http.StatusOK {
		t.Fatalf("GET preferences: %d", status)
	}
	form := formOf(t, page)
	form["region"] = []string{"lagos", "bxl", "sg"}
	form.Set("order-bxl", "1")
	form.Set("order-sg", "2")
	form.Set("order-lagos", "3")
	form.Set("send_time", "09:00")
	form.Set("time_zone", "Europe/Brussels")
	if status, page = p.do(t, http.MethodPost, p.local(t, link), form); status != http.StatusOK || !strings.Contains(page, "Saved") {
		t.Fatalf("POST preferences: %d\n%s", status, page)
	}

	add("briefs", "add", brief("lagos-two", "lagos", "2026-11-26T12:00:00Z"), brief("bxl-two", "bxl", "2026-11-26T13:00:00Z"),
		brief("sg-two", "sg", "2026-11-26T14:00:00Z"))
	// Day two, 08:30 in Brussels: before the new send time.
	code, stdout, _ := c.run("--config", cfgPath, "send", "--now", "2026-11-27T07:30:00Z")
	if code != 0 || !strings.Contains(stdout, "not due yet 1") || len(sink.Messages()) != 1 {
		t.Fatalf("before the new send time: exit %d, %d messages\n%s", code, len(sink.Messages()), stdout)
	}
	// 09:05 in Brussels.
	code, stdout, _ = c.run("--config", cfgPath, "send", "--now", "2026-11-27T08:05:00Z")
	if code != 0 || !strings.Contains(stdout, "sent 1") || len(sink.Messages()) != 2 {
		t.Fatalf("after the new send time: exit %d, %d messages\n%s", code, len(sink.Messages()), stdout)
	}
	second := textOf(t, sink.Messages()[1])
	b, s, l := strings.Index(second, "BRUSSELS"), strings.Index(second, "SINGAPORE"), strings.Index(second, "LAGOS")
	if b < 0 || s < 0 || l < 0 || !(b < s && s < l) {
		t.Errorf("day two: sections at Brussels %d, Singapore %d, Lagos %d; want that order\n%s", b, s, l, second)
	}
	if !strings.Contains(second, "Friday, 27 November") {
		t.Errorf("day two digest is not dated in Brussels time:\n%s", fmt.Sprint(second[:min(300, len(second))]))
	}
}
