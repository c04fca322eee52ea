package preview_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/preview"
	"github.com/newsroom/digest/internal/render"
	"github.com/newsroom/digest/internal/sqlite"
)

// fakePreviewer is the narrow seam of the handler tests: it records what
// it was asked and answers a digest of the briefs of the reader's regions.
type fakePreviewer struct {
	mu     sync.Mutex
	asked  []digest.Subscriber
	at     []time.Time
	briefs []digest.Brief
	html   string
}

func (f *fakePreviewer) Preview(_ context.Context, sub digest.Subscriber, at time.Time) (delivery.Preview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, sub)
	f.at = append(f.at, at)
	pv := delivery.Preview{Subscriber: sub, At: at, Date: digest.DateOf(at), After: at.Add(-24 * time.Hour)}
	if !sub.Watermark.IsZero() {
		pv.After = sub.Watermark.Add(-6 * time.Hour)
	}
	for _, b := range f.briefs {
		for _, r := range sub.Regions {
			if b.Region == r {
				pv.Briefs = append(pv.Briefs, b)
			}
		}
	}
	if len(pv.Briefs) > 0 {
		html := f.html
		if html == "" {
			html = "<html><body><h1>" + pv.Briefs[0].Headline + "</h1></body></html>"
		}
		pv.Output = render.Output{Subject: "Today: " + pv.Briefs[0].Headline, Preheader: "pre", HTML: html, Text: "TEXT " + pv.Briefs[0].Headline}
	}
	return pv, nil
}

func (f *fakePreviewer) last() (digest.Subscriber, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked[len(f.asked)-1], f.at[len(f.at)-1]
}

// fakeSubscribers holds readers in memory.
type fakeSubscribers []digest.Subscriber

func (f fakeSubscribers) ListSubscribers(_ context.Context, flt sqlite.SubscriberFilter) ([]digest.Subscriber, error) {
	var out []digest.Subscriber
	for _, s := range f {
		if strings.Contains(s.Email, flt.Search) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f fakeSubscribers) SubscriberByEmail(_ context.Context, email string) (digest.Subscriber, error) {
	for _, s := range f {
		if strings.EqualFold(s.Email, email) {
			return s, nil
		}
	}
	return digest.Subscriber{}, fmt.Errorf("subscriber %s: %w", email, digest.ErrNotFound)
}

func regions(t *testing.T) digest.Regions {
	t.Helper()
	var rs digest.Regions
	for _, r := range [][3]string{{"bxl", "Brussels", "Europe/Brussels"}, {"lagos", "Lagos", "Africa/Lagos"}, {"sg", "Singapore", "Asia/Singapore"}} {
		loc, err := time.LoadLocation(r[2])
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, digest.Region{Code: r[0], Name: r[1], TimeZone: r[2], Location: loc})
	}
	return rs
}

var (
	now       = time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	watermark = time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)
)

func newTestServer(t *testing.T, lint preview.Linter, html string) (*preview.Server, *fakePreviewer) {
	t.Helper()
	fp := &fakePreviewer{html: html, briefs: []digest.Brief{
		{Slug: "bxl-one", Region: "bxl", Headline: "Brussels headline", PublishedAt: watermark.Add(time.Hour)},
		{Slug: "bxl-late", Region: "bxl", Headline: "Brussels late", PublishedAt: watermark.Add(-time.Hour)},
		{Slug: "lagos-one", Region: "lagos", Headline: "Lagos headline", PublishedAt: now.Add(-time.Hour)},
	}}
	subs := fakeSubscribers{
		{ID: 1, Email: "ada@example.com", Name: "Ada", Regions: []string{"bxl"}, TimeZone: "Europe/Brussels",
			SendTime: digest.TimeOfDay{Hour: 6}, Status: digest.StatusActive, Watermark: watermark},
		{ID: 2, Email: "bola@example.com", Name: "Bola", Regions: []string{"lagos"}, TimeZone: "Africa/Lagos",
			SendTime: digest.TimeOfDay{Hour: 7}, Status: digest.StatusActive},
	}
	s := preview.New(fp, subs, lint, preview.Options{
		Regions: regions(t), SendTime: digest.TimeOfDay{Hour: 6, Minute: 30}, Now: func() time.Time { return now },
	}, nil)
	return s, fp
}

// get runs one request against the handler, as from a browser on the same
// machine.
func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8081"+target, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAPIPreview(t *testing.T) {
	s, fp := newTestServer(t, func(pv delivery.Preview) []preview.Finding {
		return []preview.Finding{{Severity: "warning", Rule: "test-rule", Message: "seen " + pv.Subscriber.Email}}
	}, "")
	h := s.Handler()

	tests := []struct {
		name, query string
		status      int
		check       func(t *testing.T, body string, resp preview.Response)
	}{
		{"stored reader, briefs and why", "?email=ada@example.com", 200, func(t *testing.T, body string, r preview.Response) {
			if r.Subject != "Today: Brussels headline" || r.Text != "TEXT Brussels headline" || r.Preheader != "pre" {
				t.Errorf("subject/text/preheader = %q / %q / %q", r.Subject, r.Text, r.Preheader)
			}
			if len(r.Briefs) != 2 || r.Briefs[0].RegionName != "Brussels" {
				t.Fatalf("briefs = %+v", r.Briefs)
			}
			if !strings.Contains(r.Briefs[0].Why, "published after the reader's last digest (cut-off 2026-11-25T05:00:00Z)") {
				t.Errorf("why of a new brief = %q", r.Briefs[0].Why)
			}
			if !strings.Contains(r.Briefs[1].Why, "late-brief grace") {
				t.Errorf("why of a late brief = %q", r.Briefs[1].Why)
			}
			if r.Reader.MadeUp || r.Reader.Email != "ada@example.com" || r.FirstDigest {
				t.Errorf("reader = %+v, first digest %v", r.Reader, r.FirstDigest)
			}
			if len(r.Findings) != 1 || r.Findings[0].Message != "seen ada@example.com" {
				t.Errorf("findings = %+v", r.Findings)
			}
			if r.HTMLLimit != preview.HTMLLimit || r.OverLimit || r.HTMLBytes == 0 {
				t.Errorf("size = %d of %d, over %v", r.HTMLBytes, r.HTMLLimit, r.OverLimit)
			}
			if !strings.HasPrefix(r.RenderURL, "/render?") || !strings.Contains(r.RenderURL, "email=ada%40example.com") {
				t.Errorf("render_url = %q", r.RenderURL)
			}
			if _, at := fp.last(); !at.Equal(now) {
				t.Errorf("previewed at %v, want now %v", at, now)
			}
		}},
		{"first digest: look-back", "?email=bola@example.com", 200, func(t *testing.T, body string, r preview.Response) {
			if len(r.Briefs) != 1 || !strings.Contains(r.Briefs[0].Why, "in the first-digest look-back (since 2026-11-25T07:00:00Z)") {
				t.Errorf("briefs = %+v", r.Briefs)
			}
		}},
		{"region mix: made-up reader in the first region's zone", "?regions=lagos,bxl", 200, func(t *testing.T, body string, r preview.Response) {
			sub, _ := fp.last()
			if sub.ID != 0 || sub.Email != "preview@example.invalid" || sub.TimeZone != "Africa/Lagos" ||
				strings.Join(sub.Regions, ",") != "lagos,bxl" || sub.SendTime.String() != "06:30" || sub.Status != digest.StatusActive {
				t.Errorf("made-up reader = %+v", sub)
			}
			if !r.Reader.MadeUp || len(r.Briefs) != 3 {
				t.Errorf("reader %+v, %d briefs", r.Reader, len(r.Briefs))
			}
		}},
		{"region mix with a zone", "?regions=sg&tz=Europe/Brussels", 200, func(t *testing.T, body string, r preview.Response) {
			if !r.Empty || r.Subject != "" || len(r.Findings) != 0 || r.Reader.TimeZone != "Europe/Brussels" {
				t.Errorf("empty %v, subject %q, findings %v, zone %q", r.Empty, r.Subject, r.Findings, r.Reader.TimeZone)
			}
		}},
		{"local time in the reader's zone", "?email=ada@example.com&at=2026-11-26T06:00", 200, func(t *testing.T, body string, r preview.Response) {
			if want := time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC); !r.At.Equal(want) {
				t.Errorf("at = %v, want %v (06:00 in Brussels)", r.At, want)
			}
		}},
		{"RFC 3339 time", "?email=ada@example.com&at=2026-11-26T06:00:00Z", 200, func(t *testing.T, body string, r preview.Response) {
			if want := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC); !r.At.Equal(want) {
				t.Errorf("at = %v, want %v", r.At, want)
			}
		}},
		{"unknown reader", "?email=nobody@example.com", 404, func(t *testing.T, body string, _ preview.Response) {
			if !strings.Contains(body, "nobody@example.com") {
				t.Errorf("error does not name the address: %s", body)
			}
		}},
		{"nothing picked", "", 400, func(t *testing.T, body string, _ preview.Response) {
			if !strings.Contains(body, "pick a reader or at least one region") {
				t.Errorf("body = %s", body)
			}
		}},
		{"reader and mix", "?email=ada@example.com&regions=bxl", 400, nil},
		{"unknown region", "?regions=bxl,mars", 400, func(t *testing.T, body string, _ preview.Response) {
			if !strings.Contains(body, `unknown region \"mars\"`) || !strings.Contains(body, "bxl, lagos, sg") {
				t.Errorf("body = %s", body)
			}
		}},
		{"unknown zone", "?regions=bxl&tz=Mars/Olympus", 400, func(t *testing.T, body string, _ preview.Response) {
			if !strings.Contains(body, "tz") || !strings.Contains(body, "Mars/Olympus") {
				t.Errorf("body = %s", body)
			}
		}},
		{"bad time", "?email=ada@example.com&at=tomorrow", 400, func(t *testing.T, body string, _ preview.Response) {
			if !strings.Contains(body, "at") || !strings.Contains(body, `\"tomorrow\" is not a time`) {
				t.Errorf("body = %s", body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, h, "/api/preview"+tt.query)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			var resp preview.Response
			if tt.status == 200 {
				if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
					t.Fatal(err)
				}
			}
			if tt.check != nil {
				tt.check(t, w.Body.String(), resp)
			}
		})
	}
}

func TestOverLimit(t *testing.T) {
	s, _ := newTestServer(t, nil, strings.Repeat("x", preview.HTMLLimit+1))
	w := get(t, s.Handler(), "/api/preview?email=ada@example.com")
	var r preview.Response
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if !r.OverLimit || r.HTMLBytes != preview.HTMLLimit+1 {
		t.Errorf("over %v, %d bytes", r.OverLimit, r.HTMLBytes)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings without a linter: %v", r.Findings)
	}
}

func TestRender(t *testing.T) {
	s, _ := newTestServer(t, nil, "")
	h := s.Handler()
	tests := []struct {
		name, query string
		status      int
		want        string
	}{
		{"the email", "?email=ada@example.com", 200, "<h1>Brussels headline</h1>"},
		{"nothing new", "?regions=sg", 200, "a real pass sends no email"},
		{"escaped error", "?email=%3Cb%3E@example.com", 404, "&lt;b&gt;@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, h, "/render"+tt.query)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.want) {
				t.Fatalf("status %d, body %s; want %d with %q", w.Code, w.Body, tt.status, tt.want)
			}
			csp := w.Header().Get("Content-Security-Policy")
			if strings.Contains(csp, "script-src") || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") {
				t.Errorf("CSP of the email frame lets scripts run: %q", csp)
			}
			if !strings.Contains(csp, "frame-ancestors 'self'") || w.Header().Get("X-Frame-Options") != "SAMEORIGIN" {
				t.Errorf("the page cannot frame the email: CSP %q, XFO %q", csp, w.Header().Get("X-Frame-Options"))
			}
		})
	}
}

func TestEditorPage(t *testing.T) {
	s, _ := newTestServer(t, nil, "")
	h := s.Handler()
	w := get(t, h, "/")
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{`value="bxl"`, `value="lagos"`, `value="sg"`, `<option value="Africa/Lagos">`, "Send time: 06:30", `src="/static/app.js"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("page has an inline script or an external resource")
	}
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	for _, asset := range []string{"/static/app.js", "/static/style.css"} {
		if w := get(t, h, asset); w.Code != 200 || w.Body.Len() == 0 {
			t.Errorf("%s: status %d", asset, w.Code)
		}
	}
	if w := get(t, h, "/nowhere"); w.Code != 404 {
		t.Errorf("/nowhere: status %d", w.Code)
	}
}

func TestSubscriberSearch(t *testing.T) {
	s, _ := newTestServer(t, nil, "")
	w := get(t, s.Handler(), "/api/subscribers?q=bola")
	var got []preview.Reader
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Email != "bola@example.com" || got[0].Regions[0] != "lagos" {
		t.Errorf("search bola = %+v", got)
	}
}

func TestHostCheck(t *testing.T) {
	s, _ := newTestServer(t, nil, "")
	tests := []struct {
		host string
		want int
	}{
		{"127.0.0.1:8081", 200},
		{"localhost:8081", 200},
		{"[::1]:8081", 200},
		{"LOCALHOST", 200},
		{"evil.example:8081", http.StatusMisdirectedRequest},
		{"192.168.1.10:8081", http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/subscribers", nil)
			r.Host = tt.host
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("Host %s: status %d, want %d", tt.host, w.Code, tt.want)
			}
		})
	}
}

func TestIsLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8081": true, "[::1]:8081": true, "localhost:8081": true,
		":8081": false, "0.0.0.0:8081": false, "10.0.0.1:8081": false, "nonsense": false,
	} {
		if got := preview.IsLoopbackAddr(addr); got != want {
			t.Errorf("IsLoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestEventsReloadOnChange changes a watched file and expects the open
// event stream to say "reload", after the reload hook ran.
func TestEventsReloadOnChange(t *testing.T) {
	s, _ := newTestServer(t, nil, "")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reloaded := make(chan struct{}, 10)
	done, err := s.Watch(ctx, func(context.Context) error {
		reloaded <- struct{}{}
		return fmt.Errorf("digest.html.tmpl:3: unexpected EOF")
	}, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })

	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	if !lines.Scan() || lines.Text() != ": watching" {
		t.Fatalf("first line %q", lines.Text())
	}
	// The stream is subscribed once its first line arrived; a change in a
	// subdirectory counts too.
	if err := os.WriteFile(filepath.Join(dir, "sub", "brief.md"), []byte("---\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	found := false
	for !found && lines.Scan() {
		found = lines.Text() == "event: reload"
	}
	if !found {
		t.Fatalf("the stream ended without a reload: %v", lines.Err())
	}
	select {
	case <-reloaded:
	default:
		t.Error("the page was told to reload before the reload hook ran")
	}
	// The failed reload shows on the next preview.
	w := get(t, s.Handler(), "/api/preview?email=ada@example.com")
	if !strings.Contains(w.Body.String(), "digest.html.tmpl:3: unexpected EOF") {
		t.Errorf("reload error not shown: %s", w.Body)
	}
}

func TestWatchMissingDir(t *testing.T) {
	s, _ := newTestServer(t, nil, "")
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := s.Watch(context.Background(), nil, missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("err = %v, want one naming %s", err, missing)
	}
}
