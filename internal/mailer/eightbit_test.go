package mailer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// wirePart is one text part as it travelled: its transfer encoding and its
// content decoded, line ends normalised to \n.
type wirePart struct {
	contentType string
	encoding    string // Content-Transfer-Encoding as sent
	body        string
}

// wireParts reads the text parts of data without letting the multipart
// reader decode quoted-printable (it would also delete the header that
// says which encoding was used).
func wireParts(t *testing.T, data []byte) []wirePart {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		body, err := io.ReadAll(msg.Body)
		if err != nil {
			t.Fatal(err)
		}
		return []wirePart{decodePart(t, mt, msg.Header.Get("Content-Transfer-Encoding"), body)}
	}
	var parts []wirePart
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			return parts
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		pmt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, decodePart(t, pmt, p.Header.Get("Content-Transfer-Encoding"), body))
	}
}

func decodePart(t *testing.T, contentType, encoding string, body []byte) wirePart {
	t.Helper()
	switch encoding {
	case "quoted-printable":
		body = qpDecode(t, body)
	case "8bit":
	default:
		t.Fatalf("%s part has Content-Transfer-Encoding %q", contentType, encoding)
	}
	return wirePart{contentType, encoding, normalise(body)}
}

// checkWireLines asserts every line of data ends in CRLF, with no bare CR
// or LF anywhere, and is at most 998 octets long (RFC 5322 2.1.1).
func checkWireLines(t *testing.T, data []byte) {
	t.Helper()
	lines := bytes.Split(data, []byte("\r\n"))
	for i, line := range lines {
		if i == len(lines)-1 && len(line) > 0 {
			t.Errorf("the message does not end with CRLF: %.40q", line)
		}
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("line %d has a bare CR or LF: %.60q", i+1, line)
		}
		if len(line) > maxLineOctets {
			t.Errorf("line %d is %d octets, over 998", i+1, len(line))
		}
	}
}

const longHTMLLine = "<p>" // grown to 1,200 octets by longLineHTML

// longLineHTML is an HTML body with one line of 1,200 octets, as a template
// that puts a whole brief list on one line might produce.
func longLineHTML() string {
	line := longHTMLLine + strings.Repeat("Zoë’s brief, ", 100)
	line = line[:1200-len("</p>")] + "</p>"
	return "<!doctype html>\n<html><body>\n" + line + "\n</body></html>\n"
}

func TestSendEightBit(t *testing.T) {
	crlf := sampleMessage()
	crlf.Text = StringBody(strings.ReplaceAll(crlf.Text.String(), "\n", "\r\n"))
	long := sampleMessage()
	long.HTML = StringBody(longLineHTML())
	if n := len(strings.Split(long.HTML.String(), "\n")[2]); n != 1200 {
		t.Fatalf("long line is %d octets, want 1200", n)
	}
	bareCR := sampleMessage()
	bareCR.Text = StringBody("Good morning.\rSecond line after a bare CR\n")
	nul := sampleMessage()
	nul.HTML = StringBody("<p>a NUL \x00 here</p>")
	textOnly := sampleMessage()
	textOnly.HTML = Body{}

	tests := []struct {
		name       string
		no8BitMIME bool
		qpConfig   bool
		m          Message
		wantBody   smtp.BodyType
		wantEnc    []string // per part: text, then HTML
	}{
		{"8BITMIME", false, false, sampleMessage(), smtp.Body8BitMIME, []string{"8bit", "8bit"}},
		{"8BITMIME, CRLF text", false, false, crlf, smtp.Body8BitMIME, []string{"8bit", "8bit"}},
		{"8BITMIME, 1200-octet HTML line", false, false, long, smtp.Body8BitMIME, []string{"8bit", "quoted-printable"}},
		{"8BITMIME, bare CR in text", false, false, bareCR, smtp.Body8BitMIME, []string{"quoted-printable", "8bit"}},
		{"8BITMIME, NUL in HTML", false, false, nul, smtp.Body8BitMIME, []string{"8bit", "quoted-printable"}},
		{"8BITMIME, text only", false, false, textOnly, smtp.Body8BitMIME, []string{"8bit"}},
		{"8BITMIME, QuotedPrintable set", false, true, sampleMessage(), smtp.Body8BitMIME, []string{"quoted-printable", "quoted-printable"}},
		{"no 8BITMIME", true, false, sampleMessage(), "", []string{"quoted-printable", "quoted-printable"}},
		{"no 8BITMIME, text only", true, false, textOnly, "", []string{"quoted-printable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startEnvelopeServer(t, serverOptions{no8BitMIME: tt.no8BitMIME})
			s, err := NewSender(Config{Host: srv.Host(), Port: srv.Port(), TLS: TLSNone, HELO: "digest.test",
				Timeout: waitTimeout, QuotedPrintable: tt.qpConfig}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			// Twice: the first message is rendered before the Sender knows
			// the server, the second after.
			for range 2 {
				if err := s.Send(t.Context(), tt.m); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			for i, got := range srv.wait(t, 2) {
				if got.Body != tt.wantBody {
					t.Errorf("message %d: MAIL FROM BODY=%q, want %q", i+1, got.Body, tt.wantBody)
				}
				checkWireLines(t, got.Data)
				parts := wireParts(t, got.Data)
				if len(parts) != len(tt.wantEnc) {
					t.Fatalf("message %d: %d parts, want %d", i+1, len(parts), len(tt.wantEnc))
				}
				for j, want := range []string{tt.m.Text.String(), tt.m.HTML.String()}[:len(parts)] {
					p := parts[j]
					if p.encoding != tt.wantEnc[j] {
						t.Errorf("message %d: %s part sent %s, want %s", i+1, p.contentType, p.encoding, tt.wantEnc[j])
					}
					want = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(want)
					if len(parts) == 1 {
						// A lone part is the end of DATA, which ends in CRLF.
						p.body = strings.TrimSuffix(p.body, "\n")
						want = strings.TrimSuffix(want, "\n")
					}
					if p.body != want {
						t.Errorf("message %d: %s part decodes to %q, want %q", i+1, p.contentType, p.body, want)
					}
				}
				// Headers stay 7-bit: the non-ASCII subject and names are
				// RFC 2047-encoded whatever the body's encoding.
				head, _, _ := bytes.Cut(got.Data, []byte("\r\n\r\n"))
				for _, c := range head {
					if c > '~' {
						t.Errorf("message %d: raw non-ASCII in the header section", i+1)
						break
					}
				}
				if tt.m.HTML.Len() > 0 && tt.m.Text.String() == textBody {
					checkMessage(t, got.Data, tt.m)
				}
			}
		})
	}
}

// TestUseEightBit checks the switch the benchmark's raw limit applies to a
// Build result: the same choice per part as a Sender makes.
func TestUseEightBit(t *testing.T) {
	m := sampleMessage()
	m.HTML = StringBody(longLineHTML())
	msg, err := Build(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := UseEightBit(msg); err != nil {
		t.Fatalf("UseEightBit: %v", err)
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	checkWireLines(t, buf.Bytes())
	parts := wireParts(t, buf.Bytes())
	if len(parts) != 2 || parts[0].encoding != "8bit" || parts[1].encoding != "quoted-printable" {
		t.Fatalf("parts %+v, want 8bit text and quoted-printable HTML", parts)
	}
	if parts[0].body != m.Text.String() || parts[1].body != m.HTML.String() {
		t.Errorf("parts decode to %q and %q, want the text and HTML given", parts[0].body, parts[1].body)
	}
}

// TestWriteToStaysQuotedPrintable: an .eml is for tools and mail clients,
// not for a server that offers 8BITMIME, so its parts stay 7-bit.
func TestWriteToStaysQuotedPrintable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSignedTo(&buf, sampleMessage(), nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range wireParts(t, buf.Bytes()) {
		if p.encoding != "quoted-printable" {
			t.Errorf("%s part written as %s, want quoted-printable", p.contentType, p.encoding)
		}
	}
	for _, c := range buf.Bytes() {
		if c > '~' {
			t.Fatalf("raw 8-bit octet %#x in the .eml", c)
		}
	}
}

func TestFits8bit(t *testing.T) {
	line := func(n int) string { return strings.Repeat("é", n/2) + strings.Repeat("a", n%2) }
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"empty", "", true},
		{"short lines", "a\nb\n", true},
		{"998 octets", line(998) + "\n", true},
		{"998 octets and CRLF", line(998) + "\r\n", true},
		{"998 octets, no final newline", "x\n" + line(998), true},
		{"999 octets", line(999) + "\n", false},
		{"999 octets, last line", "x\n" + line(999), false},
		{"bare CR", "a\rb\n", false},
		{"CR at the end", "a\r", false},
		{"NUL", "a\x00b\n", false},
		{"other controls", "a\x1b[0m\tb\f\n", true},
	}
	for _, tt := range tests {
		if got := fits8bit(tt.s); got != tt.want {
			t.Errorf("fits8bit(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// FuzzBuild8bit builds messages with arbitrary text and HTML on the 8bit
// path, writes them as they go into DATA and reads them back as a server
// and then a mail client would: every part decodes to the text given, and
// no line is over 998 octets or ends in anything but CRLF.
func FuzzBuild8bit(f *testing.F) {
	f.Add(textBody, htmlBody)
	f.Add("a\r\nb\r\n", "")
	f.Add(".\n..\n.", "<p>\r\n.</p>")
	f.Add("bare\rCR", "NUL\x00")
	f.Add(strings.Repeat("x", 998)+"\n"+strings.Repeat("y", 999), longLineHTML())
	f.Add("Zoë\n\n\n", "\xff\xfe invalid UTF-8\n")
	f.Add("trailing space \nand tab\t\n", "From the top\nFrom \n")
	f.Fuzz(func(t *testing.T, text, html string) {
		m := sampleMessage()
		m.Text, m.HTML = StringBody(text), StringBody(html)
		var r rendering
		msg, _, err := build(m, nil, &r.splicer)
		if text == "" {
			if err == nil {
				t.Fatal("an empty text was accepted")
			}
			return
		}
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		if err := r.render(msg); err != nil {
			t.Fatal(err)
		}
		// The way a Sender writes it (the dots found while building), as a
		// server reads it.
		wire := startDataServer(t, true).send(t, true, r.writeData)
		checkWireLines(t, wire)
		// DotReader undoes the dot-stuffing, and turns CRLF into LF, which
		// the readers below take as well.
		data, err := io.ReadAll(textproto.NewReader(bufio.NewReader(bytes.NewReader(wire))).DotReader())
		if err != nil {
			t.Fatalf("read DATA back: %v", err)
		}
		parts := wireParts(t, data)
		wants := []string{text, html}
		if html == "" {
			wants = wants[:1]
		}
		if len(parts) != len(wants) {
			t.Fatalf("%d parts, want %d", len(parts), len(wants))
		}
		for i, want := range wants {
			want = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(want)
			got := parts[i].body
			if len(parts) == 1 && !strings.HasSuffix(want, "\n") {
				// A lone part is the end of DATA, which ends in CRLF.
				got = strings.TrimSuffix(got, "\n")
			}
			if got != want {
				t.Errorf("%s part (%s) decodes to %q, want %q", parts[i].contentType, parts[i].encoding, got, want)
			}
			if wantEnc := map[bool]string{true: "8bit", false: "quoted-printable"}[fits8bit(wants[i])]; parts[i].encoding != wantEnc {
				t.Errorf("%s part sent %s, want %s", parts[i].contentType, parts[i].encoding, wantEnc)
			}
		}
	})
}
