package mailer

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

const (
	longLine = "Lagos: the state assembly passed the budget after a night session, " +
		"with 31 votes to 9 — the opposition walked out = protest."
	textBody = "Good morning, Zoë.\n\n" + longLine + "\n.a line that starts with a dot\nFrom here on\n"
	htmlBody = "<!doctype html><html><body><p>Good morning, Zoë.</p><p>" + longLine + "</p></body></html>"
)

func sampleMessage() Message {
	return Message{
		MessageID:      "<20260318.42.lagos@digest.example.org>",
		From:           "Morning Digest <digest@example.org>",
		ToName:         "Zoë Ødegård",
		ToEmail:        "zoe@example.com",
		Subject:        "Lagos & Nairobi — Wednesday’s briefs",
		Text:           StringBody(textBody),
		HTML:           StringBody(htmlBody),
		Date:           time.Date(2026, 3, 18, 6, 30, 0, 0, time.UTC),
		ListID:         "Morning Digest <digest.example.org>",
		UnsubscribeURL: "https://news.example.org/digest/unsubscribe/AQAAAAAAAAAqx-_y",
	}
}

// parsed is a message read back the way a mail client would.
type parsed struct {
	header    mail.Header
	rawHeader string
	parts     []part
}

type part struct {
	contentType string
	params      map[string]string
	body        string // transfer-decoded, line ends normalised to \n
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	p := parsed{header: msg.Header}
	p.rawHeader, _, _ = strings.Cut(string(data), "\r\n\r\n")
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		body, err := io.ReadAll(msg.Body)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body = qpDecode(t, body)
		}
		p.parts = append(p.parts, part{mt, params, normalise(body)})
		return p
	}
	if mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative", mt)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		mp, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		// multipart.Reader decodes quoted-printable itself.
		body, err := io.ReadAll(mp)
		if err != nil {
			t.Fatal(err)
		}
		pmt, pparams, err := mime.ParseMediaType(mp.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		p.parts = append(p.parts, part{pmt, pparams, normalise(body)})
	}
	return p
}

func qpDecode(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func normalise(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }

func decodeHeader(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatalf("decode header %q: %v", v, err)
	}
	return s
}

func headerNames(h mail.Header) []string {
	var names []string
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// wantHeaders is the complete header set of sampleMessage: nothing more
// (no X-Mailer, no User-Agent, no Precedence) and nothing less.
var wantHeaders = []string{
	"Content-Type", "Date", "From", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
	"Message-Id", "Mime-Version", "Subject", "To",
}

// checkMessage asserts what a reader's mail client would see of m.
func checkMessage(t *testing.T, data []byte, m Message) {
	t.Helper()
	p := parse(t, data)
	h := p.header
	if got := headerNames(h); !slices.Equal(got, wantHeaders) {
		t.Errorf("headers = %v, want %v", got, wantHeaders)
	}
	for _, c := range p.rawHeader {
		if c > '~' {
			t.Errorf("raw non-ASCII %q in the header section; want RFC 2047 encoding", c)
			break
		}
	}
	if got := h.Get("Message-Id"); got != m.MessageID {
		t.Errorf("Message-ID = %q, want %q", got, m.MessageID)
	}
	if got := decodeHeader(t, h.Get("Subject")); got != headerText(m.Subject) {
		t.Errorf("Subject = %q, want %q", got, headerText(m.Subject))
	}
	if got, err := h.Date(); err != nil || !got.Equal(m.Date) {
		t.Errorf("Date = %v, %v; want %v", got, err, m.Date)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].String() != mustAddr(t, m.From).String() {
		t.Errorf("From = %v, %v; want %s", from, err, m.From)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != headerText(m.ToName) || to[0].Address != m.ToEmail {
		t.Errorf("To = %v, %v; want %q <%s>", to, err, m.ToName, m.ToEmail)
	}
	if got, want := h.Get("List-Unsubscribe"), "<"+m.UnsubscribeURL+">"; got != want {
		t.Errorf("List-Unsubscribe = %q, want %q", got, want)
	}
	if got := h.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}
	if got := decodeHeader(t, h.Get("List-Id")); got != m.ListID {
		t.Errorf("List-Id = %q, want %q", got, m.ListID)
	}
	if len(p.parts) != 2 {
		t.Fatalf("%d parts, want text/plain and text/html", len(p.parts))
	}
	for i, want := range []struct{ mt, body string }{{"text/plain", m.Text.String()}, {"text/html", m.HTML.String()}} {
		got := p.parts[i]
		if got.contentType != want.mt || !strings.EqualFold(got.params["charset"], "utf-8") {
			t.Errorf("part %d is %s charset %q, want %s charset utf-8", i, got.contentType, got.params["charset"], want.mt)
		}
		if got.body != want.body {
			t.Errorf("part %d body = %q, want %q", i, got.body, want.body)
		}
	}
}

func mustAddr(t *testing.T, s string) *mail.Address {
	t.Helper()
	a, err := mail.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestWriteTo(t *testing.T) {
	m := sampleMessage()
	var buf bytes.Buffer
	if err := WriteSignedTo(&buf, m, nil); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	checkMessage(t, buf.Bytes(), m)
	if bytes.Contains(buf.Bytes(), []byte("go-mail")) {
		t.Error("message names go-mail")
	}
	for i, line := range strings.Split(buf.String(), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d octets, over RFC 5322's 998", i, len(line))
		}
	}
}

func TestTextOnly(t *testing.T) {
	m := sampleMessage()
	m.HTML = Body{}
	var buf bytes.Buffer
	if err := WriteSignedTo(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	p := parse(t, buf.Bytes())
	if len(p.parts) != 1 || p.parts[0].contentType != "text/plain" || p.parts[0].body != m.Text.String() {
		t.Errorf("parts = %+v, want the text alone", p.parts)
	}
}

// TestHeaderInjection feeds CR, LF and other control characters to every
// free-text header field: they must not start a header of their own.
func TestHeaderInjection(t *testing.T) {
	m := sampleMessage()
	m.Subject = "Briefs\r\nBcc: victim@example.net\r\n\r\nfake body"
	m.ToName = "Eve\nX-Injected: yes\x00\x1b"
	m.ListID = "Digest\r\nX-List: no <digest.example.org>"
	var buf bytes.Buffer
	if err := WriteSignedTo(&buf, m, nil); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	p := parse(t, buf.Bytes())
	if got := headerNames(p.header); !slices.Equal(got, wantHeaders) {
		t.Errorf("headers = %v, want exactly %v", got, wantHeaders)
	}
	if got := decodeHeader(t, p.header.Get("Subject")); got != "Briefs Bcc: victim@example.net fake body" {
		t.Errorf("Subject = %q", got)
	}
	to, err := p.header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Eve X-Injected: yes" {
		t.Errorf("To = %v, %v", to, err)
	}
	if got := p.header.Get("List-Id"); got != `"Digest X-List: no" <digest.example.org>` {
		t.Errorf("List-Id = %q", got)
	}
}

func TestUnsubscribeURLs(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://news.example.org/unsubscribe/abc", true},
		{"https://news.example.org:8443/digest/unsubscribe/abc?x=1", true},
		{"http://127.0.0.1:8080/unsubscribe/abc", true},
		{"http://localhost:8080/unsubscribe/abc", true},
		{"http://[::1]:8080/unsubscribe/abc", true},
		{"http://news.example.org/unsubscribe/abc", false},
		{"mailto:unsubscribe@example.org", false},
		{"javascript:alert(1)", false},
		{"/unsubscribe/abc", false},
		{"https://news.example.org/unsubscribe/abc>, <https://evil.example", false},
		{"https://news.example.org/unsubscribe/abc\r\nBcc: x@example.net", false},
		{"https://news.example.org/a b", false},
		{"https://user:pw@news.example.org/a", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			m := sampleMessage()
			m.UnsubscribeURL = tt.url
			var buf bytes.Buffer
			err := WriteSignedTo(&buf, m, nil)
			if tt.ok {
				if err != nil {
					t.Fatalf("WriteTo: %v", err)
				}
				checkMessage(t, buf.Bytes(), m)
				return
			}
			var fe *digest.FieldError
			if !errors.As(err, &fe) || fe.Field != "unsubscribe-url" {
				t.Errorf("WriteTo = %v, want a field error for unsubscribe-url", err)
			}
		})
	}
}

func TestListID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<digest.example.org>", "<digest.example.org>"},
		{"Morning Digest <digest.example.org>", "Morning Digest <digest.example.org>"},
		{"Digest, Lagos edition <lagos.digest.example.org>", `"Digest, Lagos edition" <lagos.digest.example.org>`},
		{"Zoë's Digest <digest.example.org>", "=?utf-8?q?Zo=C3=AB's_Digest?= <digest.example.org>"},
	}
	for _, tt := range tests {
		got, err := formatListID(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("formatListID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	tests := []struct {
		field string
		edit  func(*Message)
	}{
		{"message-id", func(m *Message) { m.MessageID = "" }},
		{"message-id", func(m *Message) { m.MessageID = "id@example.org" }},
		{"message-id", func(m *Message) { m.MessageID = "<id with space@example.org>" }},
		{"message-id", func(m *Message) { m.MessageID = "<id@example.org>\r\nBcc: x@example.net" }},
		{"from", func(m *Message) { m.From = "not an address" }},
		{"to", func(m *Message) { m.ToEmail = "" }},
		{"to", func(m *Message) { m.ToEmail = "Zoë <zoe@example.com>" }},
		{"to", func(m *Message) { m.ToEmail = "zoe@example.com, eve@example.net" }},
		{"envelope-from", func(m *Message) { m.EnvelopeFrom = "bounces" }},
		{"date", func(m *Message) { m.Date = time.Time{} }},
		{"text", func(m *Message) { m.Text = Body{} }},
		{"text", func(m *Message) { m.Text = StringBody("") }},
		{"text", func(m *Message) { m.Text = NewShared([]string{"a", "b"}).Body(nil) }},
		{"text", func(m *Message) { m.Text = NewShared(nil).Body(nil) }},
		{"html", func(m *Message) { m.HTML = NewShared([]string{"a", "b"}).Body([]string{"x", "y"}) }},
		{"list-id", func(m *Message) { m.ListID = "digest.example.org" }},
		{"list-id", func(m *Message) { m.ListID = "<not a list id>" }},
	}
	for _, tt := range tests {
		m := sampleMessage()
		tt.edit(&m)
		_, err := Build(m)
		var fe *digest.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("Build(%s edited) = %v, want a field error for %s", tt.field, err, tt.field)
		}
	}
}

func TestEnvelopeFrom(t *testing.T) {
	m := sampleMessage()
	for _, tt := range []struct{ envelope, want string }{
		{"", "<digest@example.org>"},
		{"bounces+42@example.org", "<bounces+42@example.org>"},
	} {
		m.EnvelopeFrom = tt.envelope
		msg, err := Build(m)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := msg.GetSender(false); err != nil || got != tt.want {
			t.Errorf("envelope sender with EnvelopeFrom %q = %q, %v; want %q", tt.envelope, got, err, tt.want)
		}
	}
}
