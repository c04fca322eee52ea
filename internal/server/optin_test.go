package server

import (
	"bytes"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/token"
)

// TestConfirmFlow: the link shows a button and activates nothing; the
// button activates and records the consent; pressing it again is harmless.
func TestConfirmFlow(t *testing.T) {
	f := newDBFixture(t, Options{ConsentTextVersion: "signup-v4"})
	sub := f.add(t, "ada@example.com", digest.StatusPending)
	path := "/confirm/" + f.signer.Sign("confirm", sub.ID)

	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodGet} {
		r := f.do(t, method, path, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d", method, r.status)
		}
		if got := f.load(t, sub.ID); got.Status != digest.StatusPending {
			t.Fatalf("%s activated the reader (link scanners do that)", method)
		}
	}
	page := f.do(t, http.MethodGet, path, nil, nil)
	for _, want := range []string{`<form method="post">`, "Yes, send me the digest", "a***@example.com", "Lagos, Brussels"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("confirmation page lacks %q:\n%s", want, page.body)
		}
	}

	browser := map[string]string{"User-Agent": "TestBrowser/1.0 (X11)", "Sec-Fetch-Site": "same-origin", "Origin": "null"}
	r := f.do(t, http.MethodPost, path, formValues(t, page.body), browser)
	if r.status != http.StatusOK || !strings.Contains(r.body, "You are subscribed") || !strings.Contains(r.body, "06:30 (Africa/Lagos)") {
		t.Fatalf("POST: status %d\n%s", r.status, r.body)
	}
	got := f.load(t, sub.ID)
	c := got.Consent
	if got.Status != digest.StatusActive || c.ConfirmedAt.IsZero() || !c.At.Equal(c.ConfirmedAt) || c.IP != "127.0.0.1" ||
		c.UserAgent != "TestBrowser/1.0 (X11)" || c.TextVersion != "signup-v4" || c.Source != "cli" {
		t.Fatalf("after confirming: status %s, consent %+v", got.Status, c)
	}

	// The page links to the preferences page, relative to itself.
	m := regexpHref.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no preferences link:\n%s", r.body)
	}
	base, _ := url.Parse(f.srv.URL + path)
	pref, _ := base.Parse(m[1])
	if pr := f.do(t, http.MethodGet, pref.RequestURI(), nil, nil); pr.status != http.StatusOK || !strings.Contains(pr.body, "Your digest") {
		t.Errorf("preferences link %s: status %d", pref, pr.status)
	}

	again := f.do(t, http.MethodPost, path, url.Values{"confirm": {"yes"}}, map[string]string{"User-Agent": "Other"})
	if again.status != http.StatusOK || !strings.Contains(again.body, "You are subscribed") {
		t.Errorf("second POST: status %d", again.status)
	}
	if after := f.load(t, sub.ID); !reflect.DeepEqual(after, got) {
		t.Errorf("second POST changed the record\n got %+v\nwant %+v", after, got)
	}
}

func TestConfirmRefusesForgedTokens(t *testing.T) {
	f := newDBFixture(t, Options{})
	sub := f.add(t, "ada@example.com", digest.StatusPending)
	good := f.signer.Sign("confirm", sub.ID)
	altered := []byte(good)
	altered[3] ^= 'A' ^ 'B'
	other, err := token.NewSigner(bytes.Repeat([]byte{8}, token.MinSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		status     int
	}{
		{"altered", "/confirm/" + string(altered), 400},
		{"truncated", "/confirm/" + good[:len(good)-1], 400},
		{"unsubscribe token", "/confirm/" + f.signer.Sign("unsubscribe", sub.ID), 400},
		{"preferences token", "/confirm/" + f.signer.Sign("preferences", sub.ID), 400},
		{"other secret", "/confirm/" + other.Sign("confirm", sub.ID), 400},
		{"unknown subscriber", "/confirm/" + f.signer.Sign("confirm", 999), 404},
		{"confirm token on preferences", "/preferences/" + good, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				r := f.do(t, method, tt.path, url.Values{"confirm": {"yes"}}, nil)
				if r.status != tt.status || !strings.Contains(r.body, "This link is not valid") {
					t.Errorf("%s: status %d, want %d and the invalid-link page", method, r.status, tt.status)
				}
			}
			if got := f.load(t, sub.ID); got.Status != digest.StatusPending {
				t.Fatalf("status %s, want still pending", got.Status)
			}
		})
	}
}

// A reader past confirming is told why, and the link activates nothing.
func TestConfirmLinkOfLapsedReaders(t *testing.T) {
	tests := []struct {
		status digest.SubscriberStatus
		code   int
		want   string
	}{
		{digest.StatusExpired, http.StatusGone, "This confirmation link has expired"},
		{digest.StatusUnsubscribed, http.StatusConflict, "cannot be confirmed"},
		{digest.StatusBounced, http.StatusConflict, "cannot be confirmed"},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			f := newDBFixture(t, Options{})
			sub := f.add(t, "ada@example.com", tt.status)
			path := "/confirm/" + f.signer.Sign("confirm", sub.ID)
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				r := f.do(t, method, path, url.Values{"confirm": {"yes"}}, nil)
				if r.status != tt.code || !strings.Contains(r.body, tt.want) || strings.Contains(r.body, "<form") {
					t.Errorf("%s: status %d, want %d saying %q and no form\n%s", method, r.status, tt.code, tt.want, r.body)
				}
			}
			if got := f.load(t, sub.ID); !reflect.DeepEqual(got, sub) {
				t.Errorf("the record changed: %+v", got)
			}
		})
	}
}

func TestConfirmRecordsClientIP(t *testing.T) {
	xff := map[string]string{"X-Forwarded-For": "203.0.113.5, 198.51.100.7"}
	tests := []struct {
		name        string
		behindProxy bool
		header      map[string]string
		want        string
	}{
		{"direct: the header is not trusted", false, xff, "127.0.0.1"},
		{"behind a proxy: its address for the client", true, xff, "198.51.100.7"},
		{"behind a proxy, no header", true, nil, "127.0.0.1"},
		{"behind a proxy, garbage", true, map[string]string{"X-Forwarded-For": "<script>"}, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDBFixture(t, Options{BehindProxy: tt.behindProxy})
			sub := f.add(t, "ada@example.com", digest.StatusPending)
			r := f.do(t, http.MethodPost, "/confirm/"+f.signer.Sign("confirm", sub.ID), url.Values{"confirm": {"yes"}}, tt.header)
			if got := f.load(t, sub.ID); r.status != 200 || got.Consent.IP != tt.want {
				t.Errorf("status %d, IP %q; want %q", r.status, got.Consent.IP, tt.want)
			}
		})
	}
}

func TestConfirmRefusesCrossSite(t *testing.T) {
	f := newDBFixture(t, Options{})
	sub := f.add(t, "ada@example.com", digest.StatusPending)
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		r := f.do(t, http.MethodPost, "/confirm/"+f.signer.Sign("confirm", sub.ID), url.Values{"confirm": {"yes"}}, h)
		if r.status != http.StatusForbidden {
			t.Errorf("%v: status %d, want 403", h, r.status)
		}
	}
	if got := f.load(t, sub.ID); got.Status != digest.StatusPending {
		t.Errorf("a cross-site POST confirmed the reader")
	}
}

func TestUserAgentIsTidied(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Mozilla/5.0", "Mozilla/5.0"},
		{"  evil\x00agent\u2028x ", "evil agent x"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{strings.Repeat("é", 400), strings.Repeat("é", maxUserAgent/2)},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("User-Agent", tt.in)
		if got := userAgent(r); got != tt.want {
			t.Errorf("userAgent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
