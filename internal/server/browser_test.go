package server

import (
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/token"
)

// dbFixture is the server over a real SQLite file, as `digest serve` runs it.
type dbFixture struct {
	db     *sqlite.DB
	signer *token.Signer
	srv    *httptest.Server
	client *http.Client

	mu  sync.Mutex
	now time.Time // the server's clock, for form tokens
}

var testRegions = func() digest.Regions {
	var rs digest.Regions
	for _, r := range []struct{ code, name, tz string }{
		{"lagos", "Lagos", "Africa/Lagos"}, {"bxl", "Brussels", "Europe/Brussels"}, {"sg", "Singapore", "Asia/Singapore"},
	} {
		loc, _ := time.LoadLocation(r.tz)
		rs = append(rs, digest.Region{Code: r.code, Name: r.name, TimeZone: r.tz, Location: loc})
	}
	return rs
}()

func newDBFixture(t *testing.T, opts Options) *dbFixture {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	signer, err := token.NewSigner(bytes.Repeat([]byte{9}, token.MinSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	f := &dbFixture{db: db, signer: signer, now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	opts.PublisherName = "The Courier"
	opts.Regions = testRegions
	opts.Now = f.clock
	f.srv = httptest.NewServer(New(db, signer, opts, nil).Handler())
	t.Cleanup(f.srv.Close)
	f.client = f.srv.Client()
	f.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return f
}

func (f *dbFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *dbFixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// add stores a subscriber of lagos then bxl, 06:30 in Lagos.
func (f *dbFixture) add(t *testing.T, email string, status digest.SubscriberStatus) digest.Subscriber {
	t.Helper()
	s := digest.Subscriber{Email: email, Name: "Ada", Regions: []string{"lagos", "bxl"}, TimeZone: "Africa/Lagos",
		SendTime: digest.TimeOfDay{Hour: 6, Minute: 30}, Status: status, Consent: digest.Consent{Source: "cli"}}
	if err := f.db.CreateSubscriber(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *dbFixture) load(t *testing.T, id int64) digest.Subscriber {
	t.Helper()
	s, err := f.db.Subscriber(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// do sends a request; header holds extra headers ("User-Agent", ...).
func (f *dbFixture) do(t *testing.T, method, path string, form url.Values, header map[string]string) response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", formType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

var (
	firstForm = regexp.MustCompile(`(?s)<form method="post">(.*?)</form>`)
	inputTag  = regexp.MustCompile(`<input ([^>]*)>`)
	attrPair  = regexp.MustCompile(`([a-z_-]+)(?:="([^"]*)")?`)
)

// formValues reads the first form without an action on a page and
// returns what a browser would submit from it unchanged: every named
// input, checkboxes only when ticked.
func formValues(t *testing.T, page string) url.Values {
	t.Helper()
	m := firstForm.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form on the page:\n%s", page)
	}
	values := url.Values{}
	for _, in := range inputTag.FindAllStringSubmatch(m[1], -1) {
		attrs := map[string]string{}
		checked := false
		for _, a := range attrPair.FindAllStringSubmatch(in[1], -1) {
			attrs[a[1]] = html.UnescapeString(a[2])
			if a[1] == "checked" {
				checked = true
			}
		}
		if attrs["name"] == "" || (attrs["type"] == "checkbox" && !checked) {
			continue
		}
		values.Add(attrs["name"], attrs["value"])
	}
	return values
}

// regexpHref finds the first link of a page.
var regexpHref = regexp.MustCompile(`<a href="([^"]*)">`)
