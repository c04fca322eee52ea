package delivery_test

import (
	"bytes"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/demo"
	"github.com/newsroom/digest/internal/links"
	"github.com/newsroom/digest/internal/server"
	"github.com/newsroom/digest/internal/sqlite/sqlitetest"
)

// TestMessageHeadersAndMIME checks a digest as the SMTP server received it.
func TestMessageHeadersAndMIME(t *testing.T) {
	h := newHarness(t)
	sub := h.addSubscriber("zoe@example.com", "Zoë Ødegård", "bxl", "Europe/Brussels", "07:00")
	h.addBrief("bxl-one", "bxl", "2026-11-25T18:00:00Z", "Brussels agrees a budget — “at last”")
	h.run("2026-11-26T06:30:00Z") // 07:30 in Brussels

	msgs := h.inbox("zoe@example.com")
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	del, err := sqlitetest.DeliveryFor(h.ctx, h.db, sub.ID, "2026-11-26")
	if err != nil {
		t.Fatal(err)
	}

	from, err := mail.ParseAddress(m.header.Get("From"))
	if err != nil || from.Address != "digest@news.example.org" || from.Name != "The Regional Brief" {
		t.Errorf("From = %q (%v)", m.header.Get("From"), err)
	}
	to, err := (&mail.AddressParser{WordDecoder: &mime.WordDecoder{}}).Parse(m.header.Get("To"))
	if err != nil || to.Address != "zoe@example.com" || to.Name != "Zoë Ødegård" {
		t.Errorf("To = %q, decoded %+v (%v); want the reader's name, RFC 2047-encoded", m.header.Get("To"), to, err)
	}
	if raw := m.header.Get("To"); !isASCII(raw) {
		t.Errorf("To header carries raw non-ASCII bytes: %q", raw)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.header.Get("Subject"))
	if err != nil || subject == "" || strings.ContainsAny(subject, "\r\n") {
		t.Errorf("Subject = %q (%v)", subject, err)
	}
	if _, err := m.header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if got := m.header.Get("Message-Id"); got != del.MessageID || !strings.HasSuffix(got, "@news.example.org>") || !strings.HasPrefix(got, "<") {
		t.Errorf("Message-ID %q, want the delivery's %q on the sender's domain", got, del.MessageID)
	}
	if got := m.header.Get("List-Id"); !strings.Contains(got, "<digest.news.example.org>") {
		t.Errorf("List-Id = %q", got)
	}
	if got := m.header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}
	lu := m.header.Get("List-Unsubscribe")
	u := unsubscribeURL(t, lu)
	if !strings.HasPrefix(u.String(), baseURL+"/unsubscribe/") {
		t.Errorf("List-Unsubscribe = %q, want a link under %s/unsubscribe/", lu, baseURL)
	}
	id, err := h.signer.Verify(links.PurposeUnsubscribe, strings.TrimPrefix(u.Path, "/digest/unsubscribe/"))
	if err != nil || id != sub.ID {
		t.Errorf("List-Unsubscribe token verifies as subscriber %d (%v), want %d", id, err, sub.ID)
	}
	if strings.Contains(lu, "zoe") {
		t.Errorf("List-Unsubscribe leaks the address: %q", lu)
	}

	// MIME: multipart/alternative, text first, both UTF-8.
	mt, params, err := mime.ParseMediaType(m.header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" || params["boundary"] == "" {
		t.Fatalf("Content-Type = %q (%v)", m.header.Get("Content-Type"), err)
	}
	_, parts, err := demo.Parts(m.raw.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].ContentType != "text/plain" || parts[1].ContentType != "text/html" {
		t.Fatalf("parts = %+v, want text/plain then text/html", parts)
	}
	for _, p := range parts {
		if p.Charset != "utf-8" {
			t.Errorf("%s charset %q, want utf-8", p.ContentType, p.Charset)
		}
		if !bytes.Contains(p.Body, []byte("Brussels agrees a budget — “at last”")) {
			t.Errorf("%s part lacks the headline, decoded correctly", p.ContentType)
		}
	}
	if !strings.Contains(m.html, u.String()) && !strings.Contains(m.html, html.EscapeString(u.String())) {
		t.Errorf("HTML footer lacks the unsubscribe link %s", u)
	}
	if !strings.Contains(m.text, u.String()) {
		t.Errorf("text footer lacks the unsubscribe link %s", u)
	}
	if !strings.Contains(m.text, "1 Example Square") || !strings.Contains(m.html, "1 Example Square") {
		t.Errorf("postal address missing from a part")
	}
}

func unsubscribeURL(t *testing.T, header string) *url.URL {
	t.Helper()
	for _, f := range strings.Split(header, ",") {
		f = strings.Trim(strings.TrimSpace(f), "<>")
		if strings.HasPrefix(f, "https://") {
			u, err := url.Parse(f)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
	}
	t.Fatalf("no https URL in List-Unsubscribe %q", header)
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// TestUnsubscribeEndToEnd follows the List-Unsubscribe link of a received
// digest to the HTTP server, as a mail client and a link scanner would.
func TestUnsubscribeEndToEnd(t *testing.T) {
	h := newHarness(t)
	sub := h.addSubscriber("ana@example.com", "Ana", "lagos", "Africa/Lagos", "06:00")
	h.addSubscriber("ben@example.com", "Ben", "lagos", "Africa/Lagos", "06:00")
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	h.run("2026-11-26T05:05:00Z")
	msgs := h.inbox("ana@example.com")
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	u := unsubscribeURL(t, msgs[0].header.Get("List-Unsubscribe"))
	path := strings.TrimPrefix(u.Path, "/digest") // the test server is mounted at the root

	srv := httptest.NewServer(server.New(h.db, h.signer, server.Options{PublisherName: "The Regional Brief", Regions: h.regions},
		slog.New(slog.NewTextHandler(io.Discard, nil))).Handler())
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	oneClick := func(p string) *http.Response {
		t.Helper()
		resp, err := client.Post(srv.URL+p, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	status := func() digest.SubscriberStatus {
		t.Helper()
		s, err := h.db.Subscriber(h.ctx, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s.Status
	}

	// Forged and altered tokens are refused and change nothing.
	tok := strings.TrimPrefix(path, "/unsubscribe/")
	altered := []byte(tok)
	altered[len(altered)/2] ^= 1
	for _, p := range []string{"/unsubscribe/" + string(altered), "/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/unsubscribe/" + tok + "x"} {
		if resp := oneClick(p); resp.StatusCode < 400 {
			t.Errorf("POST %s = %d, want a 4xx", p, resp.StatusCode)
		}
	}
	if got := status(); got != digest.StatusActive {
		t.Fatalf("after forged tokens, status = %s", got)
	}

	// A GET (a link scanner, a preview pane) shows a page and unsubscribes nobody.
	resp, err := client.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(body)), "<form") {
		t.Errorf("GET = %d, want 200 with a confirmation form", resp.StatusCode)
	}
	if got := status(); got != digest.StatusActive {
		t.Fatalf("GET unsubscribed the reader (status %s)", got)
	}

	// RFC 8058 one-click POST: 200, no redirect, idempotent.
	for i := 0; i < 2; i++ {
		if resp := oneClick(path); resp.StatusCode != http.StatusOK {
			t.Errorf("one-click POST #%d = %d, want 200", i+1, resp.StatusCode)
		}
	}
	if got := status(); got != digest.StatusUnsubscribed {
		t.Fatalf("after one-click POST, status = %s", got)
	}

	// The next day's pass sends Ben his digest and Ana nothing.
	h.addBrief("two", "lagos", "2026-11-26T18:00:00Z", "Headline two")
	h.run("2026-11-27T05:05:00Z")
	if n := len(h.inbox("ana@example.com")); n != 1 {
		t.Errorf("unsubscribed reader has %d messages, want still 1", n)
	}
	if n := len(h.inbox("ben@example.com")); n != 2 {
		t.Errorf("ben has %d messages, want 2", n)
	}
}

// TestHostileContent stores what the parsers would refuse — CR/LF in a
// headline and a name, script in Markdown — to check that rendering and the
// mailer hold on their own.
func TestHostileContent(t *testing.T) {
	h := newHarness(t)
	sub := digest.Subscriber{Email: "ana@example.com", Name: "Ana\r\nBcc: victim@example.net", Regions: []string{"lagos"},
		TimeZone: "Africa/Lagos", SendTime: digest.TimeOfDay{Hour: 6}, Status: digest.StatusActive}
	if err := h.db.CreateSubscriber(h.ctx, &sub); err != nil {
		t.Fatal(err)
	}
	b := digest.Brief{
		Slug: "hostile", Region: "lagos", Author: "x",
		Headline:    "Markets rally\r\nBcc: victim@example.net\r\nX-Injected: yes <script>alert(1)</script>",
		Body:        "Hello <script>alert(1)</script> <img src=x onerror=alert(1)> [click](javascript:alert(1)) <a href=\"https://ok.example\" onclick=\"x()\">ok</a>",
		PublishedAt: mustTime(t, "2026-11-25T18:00:00Z"),
		Signals: []digest.Signal{{Title: "<b onmouseover=x()>t</b>", Body: "<iframe src=https://evil.example></iframe>",
			Sources: []digest.Source{{Name: "Evil", URL: "javascript:alert(2)"}}}},
	}
	if _, err := h.db.UpsertBrief(h.ctx, &b); err != nil {
		t.Fatal(err)
	}
	h.run("2026-11-26T05:05:00Z")

	all := h.sink.Messages()
	if len(all) != 1 || len(all[0].To) != 1 || all[0].To[0] != "ana@example.com" {
		t.Fatalf("received %+v, want exactly one message to ana@example.com", all)
	}
	m := h.inbox("ana@example.com")[0]
	for _, k := range []string{"Bcc", "X-Injected"} {
		if v, ok := m.header[k]; ok {
			t.Errorf("header %s injected: %q", k, v)
		}
	}
	if n := len(m.header["Subject"]); n != 1 {
		t.Errorf("%d Subject headers", n)
	}
	doc, err := html.Parse(strings.NewReader(m.html))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "iframe", "object", "embed":
				t.Errorf("<%s> element in the HTML", n.Data)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(strings.ToLower(a.Key), "on") {
					t.Errorf("<%s %s=%q> event handler in the HTML", n.Data, a.Key, a.Val)
				}
				if (a.Key == "href" || a.Key == "src") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
					t.Errorf("<%s %s=%q> javascript URL in the HTML", n.Data, a.Key, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if !strings.Contains(m.html, "Markets rally") {
		t.Errorf("the headline's text is gone altogether")
	}
}
