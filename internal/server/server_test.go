package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/links"
	"github.com/newsroom/digest/internal/token"
)

// fakeStore is an in-memory Store: the server's only seam to the database.
type fakeStore struct {
	mu      sync.Mutex
	subs    map[int64]digest.Subscriber
	calls   int   // Unsubscribe calls
	failure error // returned by every call when set
	pingErr error
}

func (f *fakeStore) Subscriber(_ context.Context, id int64) (digest.Subscriber, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failure != nil {
		return digest.Subscriber{}, f.failure
	}
	s, ok := f.subs[id]
	if !ok {
		return digest.Subscriber{}, fmt.Errorf("subscriber %d: %w", id, digest.ErrNotFound)
	}
	return s, nil
}

func (f *fakeStore) Unsubscribe(_ context.Context, id int64) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failure != nil {
		return false, f.failure
	}
	s, ok := f.subs[id]
	if !ok {
		return false, fmt.Errorf("subscriber %d: %w", id, digest.ErrNotFound)
	}
	if s.Status == digest.StatusUnsubscribed {
		return false, nil
	}
	s.Status = digest.StatusUnsubscribed
	f.subs[id] = s
	return true, nil
}

func (f *fakeStore) UpdateSubscriber(_ context.Context, s *digest.Subscriber) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failure != nil {
		return f.failure
	}
	if _, ok := f.subs[s.ID]; !ok {
		return fmt.Errorf("subscriber %d: %w", s.ID, digest.ErrNotFound)
	}
	f.subs[s.ID] = *s
	return nil
}

func (f *fakeStore) ConfirmSubscriber(_ context.Context, id int64, c digest.Consent) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failure != nil {
		return false, f.failure
	}
	s, ok := f.subs[id]
	switch {
	case !ok:
		return false, fmt.Errorf("subscriber %d: %w", id, digest.ErrNotFound)
	case s.Status == digest.StatusActive:
		return false, nil
	case s.Status != digest.StatusPending:
		return false, digest.Invalid("subscriber", "status", "%s", s.Status)
	}
	s.Status, s.Consent = digest.StatusActive, c
	f.subs[id] = s
	return true, nil
}

func (f *fakeStore) Ping(context.Context) error { return f.pingErr }

func (f *fakeStore) status(id int64) digest.SubscriberStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs[id].Status
}

type fixture struct {
	store  *fakeStore
	signer *token.Signer
	srv    *httptest.Server
	client *http.Client
}

const zoeID = 42

func newFixture(t *testing.T) *fixture {
	t.Helper()
	signer, err := token.NewSigner(bytes.Repeat([]byte{9}, token.MinSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	store := &fakeStore{subs: map[int64]digest.Subscriber{
		zoeID: {
			ID: zoeID, Email: "zoe@example.com", Name: "Zoë",
			Regions: []string{"nairobi", "lagos", "atlantis"}, TimeZone: "Africa/Nairobi",
			SendTime: digest.TimeOfDay{Hour: 6, Minute: 30}, Status: digest.StatusActive,
		},
	}}
	regions := digest.Regions{{Code: "lagos", Name: "Lagos"}, {Code: "nairobi", Name: "Nairobi"}}
	s := New(store, signer, Options{PublisherName: "The Courier", Regions: regions}, nil)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	client := srv.Client()
	// A redirect would be a bug: see it instead of following it.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &fixture{store: store, signer: signer, srv: srv, client: client}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (f *fixture) do(t *testing.T, method, path, contentType string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
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

const formType = "application/x-www-form-urlencoded"

func oneClick() io.Reader { return strings.NewReader("List-Unsubscribe=One-Click") }

func multipartOneClick(t *testing.T) (string, io.Reader) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("List-Unsubscribe", "One-Click"); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), &buf
}

func TestOneClickUnsubscribe(t *testing.T) {
	tests := []struct {
		name string
		body func(t *testing.T) (string, io.Reader)
	}{
		{"urlencoded", func(*testing.T) (string, io.Reader) { return formType, oneClick() }},
		{"urlencoded with charset", func(*testing.T) (string, io.Reader) { return formType + "; charset=utf-8", oneClick() }},
		{"multipart", multipartOneClick},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			path := "/unsubscribe/" + f.signer.Sign("unsubscribe", zoeID)
			for i := range 2 { // the second POST finds Zoë unsubscribed already
				ct, body := tt.body(t)
				r := f.do(t, http.MethodPost, path, ct, body)
				if r.status != http.StatusOK || r.header.Get("Location") != "" {
					t.Fatalf("POST %d: status %d, Location %q; want 200 and no redirect", i+1, r.status, r.header.Get("Location"))
				}
				if !strings.Contains(r.body, "You are unsubscribed") || r.header.Get("Set-Cookie") != "" {
					t.Errorf("POST %d: page %q, cookie %q", i+1, r.body, r.header.Get("Set-Cookie"))
				}
				if got := f.store.status(zoeID); got != digest.StatusUnsubscribed {
					t.Errorf("after POST %d status = %s, want unsubscribed", i+1, got)
				}
			}
		})
	}
}

func TestUnsubscribeRefuses(t *testing.T) {
	f := newFixture(t)
	good := f.signer.Sign("unsubscribe", zoeID)
	other, err := token.NewSigner(bytes.Repeat([]byte{8}, token.MinSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	altered := []byte(good)
	altered[5] ^= 'A' ^ 'B'
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		status      int
	}{
		{"altered token", "/unsubscribe/" + string(altered), formType, "List-Unsubscribe=One-Click", 400},
		{"truncated token", "/unsubscribe/" + good[:len(good)-2], formType, "List-Unsubscribe=One-Click", 400},
		{"preferences token", "/unsubscribe/" + f.signer.Sign("preferences", zoeID), formType, "List-Unsubscribe=One-Click", 400},
		{"other secret", "/unsubscribe/" + other.Sign("unsubscribe", zoeID), formType, "List-Unsubscribe=One-Click", 400},
		{"unsubscribe token on preferences", "/preferences/" + good + "/unsubscribe", formType, "List-Unsubscribe=One-Click", 400},
		{"unknown subscriber", "/unsubscribe/" + f.signer.Sign("unsubscribe", 7), formType, "List-Unsubscribe=One-Click", 404},
		{"empty body", "/unsubscribe/" + good, formType, "", 400},
		{"other value", "/unsubscribe/" + good, formType, "List-Unsubscribe=Maybe", 400},
		{"one-click in the query only", "/unsubscribe/" + good + "?List-Unsubscribe=One-Click", formType, "", 400},
		{"json", "/unsubscribe/" + good, "application/json", `{"List-Unsubscribe":"One-Click"}`, 400},
		{"oversize body", "/unsubscribe/" + good, formType, "List-Unsubscribe=One-Click&pad=" + strings.Repeat("x", maxBodyBytes), 413},
		{"oversize multipart body", "/unsubscribe/" + good, "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n" +
				"--b\r\nContent-Disposition: form-data; name=\"pad\"\r\n\r\n" + strings.Repeat("x", maxBodyBytes) + "\r\n--b--\r\n", 413},
		{"malformed multipart body", "/unsubscribe/" + good, "multipart/form-data; boundary=b", "List-Unsubscribe=One-Click", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, http.MethodPost, tt.path, tt.contentType, strings.NewReader(tt.body))
			if r.status != tt.status {
				t.Errorf("status %d, want %d", r.status, tt.status)
			}
			if strings.Contains(r.body, "zoe@") || strings.Contains(r.body, "z***") {
				t.Errorf("refusal page shows the address: %s", r.body)
			}
			if got := f.store.status(zoeID); got != digest.StatusActive {
				t.Fatalf("status = %s, want still active", got)
			}
		})
	}
	if f.store.calls != 1 { // only the unknown subscriber reached the store
		t.Errorf("store.Unsubscribe called %d times, want 1", f.store.calls)
	}
}

func TestInvalidLinksLookAlike(t *testing.T) {
	f := newFixture(t)
	forged := f.do(t, http.MethodGet, "/unsubscribe/AAAA", "", nil)
	unknown := f.do(t, http.MethodGet, "/unsubscribe/"+f.signer.Sign("unsubscribe", 7), "", nil)
	if forged.body != unknown.body {
		t.Errorf("a forged token and an unknown subscriber get different pages:\n%s\n%s", forged.body, unknown.body)
	}
}

func TestConfirmPageChangesNothing(t *testing.T) {
	f := newFixture(t)
	path := "/unsubscribe/" + f.signer.Sign("unsubscribe", zoeID)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r := f.do(t, method, path, "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d", method, r.status)
		}
		if got := f.store.status(zoeID); got != digest.StatusActive {
			t.Fatalf("%s unsubscribed the reader", method)
		}
	}
	r := f.do(t, http.MethodGet, path, "", nil)
	for _, want := range []string{
		`<form method="post">`,
		`<input type="hidden" name="List-Unsubscribe" value="One-Click">`,
		"z***@example.com",
		"The Courier",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("confirm page lacks %q:\n%s", want, r.body)
		}
	}
	if strings.Contains(r.body, "zoe@example.com") {
		t.Error("confirm page shows the full address")
	}
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
}

// TestConfirmFormWorks submits the confirm page's form as a browser would.
func TestConfirmFormWorks(t *testing.T) {
	f := newFixture(t)
	path := "/unsubscribe/" + f.signer.Sign("unsubscribe", zoeID)
	form := submitForm(t, f, path)
	if got := f.store.status(zoeID); got != digest.StatusUnsubscribed || !strings.Contains(form.body, "You are unsubscribed") {
		t.Fatalf("after the form: status %s, page %s", got, form.body)
	}
	again := f.do(t, http.MethodGet, path, "", nil)
	if strings.Contains(again.body, "<form") || !strings.Contains(again.body, "not subscribed") {
		t.Errorf("confirm page for an unsubscribed reader:\n%s", again.body)
	}
}

var formPattern = regexp.MustCompile(`<form method="post"(?: action="([^"]*)")?>((?s).*?)</form>`)
var inputPattern = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// submitForm loads the page at path and posts its only form the way a
// browser would: to the action resolved against the page URL.
func submitForm(t *testing.T, f *fixture, path string) response {
	t.Helper()
	return submitFormAt(t, f, path, 0)
}

// submitFormAt is submitForm for the page's form number n (from 0),
// posting only its hidden fields.
func submitFormAt(t *testing.T, f *fixture, path string, n int) response {
	t.Helper()
	page := f.do(t, http.MethodGet, path, "", nil)
	all := formPattern.FindAllStringSubmatch(page.body, -1)
	if len(all) <= n {
		t.Fatalf("no form %d on %s:\n%s", n, path, page.body)
	}
	m := all[n]
	base, err := url.Parse(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	target, err := base.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	values := url.Values{}
	for _, in := range inputPattern.FindAllStringSubmatch(m[2], -1) {
		values.Add(in[1], in[2])
	}
	return f.do(t, http.MethodPost, target.RequestURI(), formType, strings.NewReader(values.Encode()))
}

func TestPreferencesPage(t *testing.T) {
	f := newFixture(t)
	path := "/preferences/" + f.signer.Sign("preferences", zoeID)
	r := f.do(t, http.MethodGet, path, "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	for _, want := range []string{"Nairobi, Lagos, atlantis", "06:30", "Africa/Nairobi", "z***@example.com"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("preferences page lacks %q:\n%s", want, r.body)
		}
	}
	if f.store.status(zoeID) != digest.StatusActive {
		t.Fatal("viewing preferences unsubscribed the reader")
	}
	// The second form is the unsubscribe button; the first, the settings.
	if got := submitFormAt(t, f, path, 1); got.status != http.StatusOK || f.store.status(zoeID) != digest.StatusUnsubscribed {
		t.Errorf("preferences form: status %d, reader %s", got.status, f.store.status(zoeID))
	}
	if r := f.do(t, http.MethodGet, "/preferences/"+f.signer.Sign("unsubscribe", zoeID), "", nil); r.status != http.StatusBadRequest {
		t.Errorf("unsubscribe token on the preferences page: status %d, want 400", r.status)
	}
}

// TestLinksContract follows the URLs internal/links puts in a digest.
func TestLinksContract(t *testing.T) {
	f := newFixture(t)
	b := links.New(f.srv.URL+"/", f.signer)
	pref, err := url.Parse(b.Preferences(zoeID))
	if err != nil {
		t.Fatal(err)
	}
	if r := f.do(t, http.MethodGet, pref.RequestURI(), "", nil); r.status != http.StatusOK {
		t.Errorf("GET %s: %d", pref, r.status)
	}
	unsub, err := url.Parse(b.Unsubscribe(zoeID))
	if err != nil {
		t.Fatal(err)
	}
	if r := f.do(t, http.MethodPost, unsub.RequestURI(), formType, oneClick()); r.status != http.StatusOK {
		t.Errorf("POST %s: %d", unsub, r.status)
	}
	if f.store.status(zoeID) != digest.StatusUnsubscribed {
		t.Error("one-click POST to the links URL did not unsubscribe")
	}
}

func TestStoreFailure(t *testing.T) {
	f := newFixture(t)
	f.store.failure = errors.New("disk I/O error")
	tests := []struct{ method, path string }{
		{http.MethodGet, "/unsubscribe/" + f.signer.Sign("unsubscribe", zoeID)},
		{http.MethodPost, "/unsubscribe/" + f.signer.Sign("unsubscribe", zoeID)},
		{http.MethodGet, "/preferences/" + f.signer.Sign("preferences", zoeID)},
	}
	for _, tt := range tests {
		r := f.do(t, tt.method, tt.path, formType, oneClick())
		if r.status != http.StatusInternalServerError || strings.Contains(r.body, "disk") {
			t.Errorf("%s %s: status %d, body %q; want a generic 500", tt.method, tt.path, r.status, r.body)
		}
	}
}

func TestMethodsAndHeaders(t *testing.T) {
	f := newFixture(t)
	tok := f.signer.Sign("unsubscribe", zoeID)
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/healthz", 200},
		{http.MethodGet, "/unsubscribe/" + tok, 200},
		{http.MethodPut, "/unsubscribe/" + tok, 405},
		{http.MethodDelete, "/unsubscribe/" + tok, 405},
		{http.MethodGet, "/preferences/x/unsubscribe", 405},
		{http.MethodPost, "/healthz", 405},
		{http.MethodGet, "/nowhere", 404},
		{http.MethodGet, "/unsubscribe/", 404},
	}
	for _, tt := range tests {
		r := f.do(t, tt.method, tt.path, "", nil)
		if r.status != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, r.status, tt.status)
		}
		for name, want := range map[string]string{
			"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-store",
		} {
			if got := r.header.Get(name); got != want {
				t.Errorf("%s %s: %s = %q, want %q", tt.method, tt.path, name, got, want)
			}
		}
	}
	if f.store.status(zoeID) != digest.StatusActive {
		t.Error("a refused method unsubscribed the reader")
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	if r := f.do(t, http.MethodGet, "/healthz", "", nil); r.status != 200 || r.body != "ok\n" {
		t.Errorf("healthz = %d %q", r.status, r.body)
	}
	f.store.pingErr = errors.New("database is locked")
	if r := f.do(t, http.MethodGet, "/healthz", "", nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("healthz with a failing store = %d, want 503", r.status)
	}
}

func TestMaskEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"zoe@example.com", "z***@example.com"},
		{"a@example.com", "a***@example.com"},
		{"ødegård@example.no", "ø***@example.no"},
		{"no-at-sign", "***"},
		{"@example.com", "***"},
		{"", "***"},
	}
	for _, tt := range tests {
		if got := maskEmail(tt.in); got != tt.want {
			t.Errorf("maskEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
