package mailer

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/newsroom/digest/internal/smtpclient"
)

// wire returns m as a Sender writes it into DATA, terminating dot
// included, as a server reads it: 8bit parts where they fit when eightBit,
// else quoted-printable.
// The multipart boundary, random per message, is fixed so that two
// messages can be compared byte for byte.
func wire(t *testing.T, m Message, eightBit bool) []byte {
	t.Helper()
	var r rendering
	var sp *splicer
	if eightBit {
		sp = &r.splicer
	}
	msg, _, err := build(m, nil, sp)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	msg.SetBoundary("fixed-boundary")
	if err := r.render(msg); err != nil {
		t.Fatalf("render: %v", err)
	}
	return startDataServer(t, true).send(t, eightBit, r.writeData)
}

// inParts returns m with its text and HTML given as the pieces and values
// of text and html, and the joined strings.
func inParts(m Message, text, html Body) (spliced, joined Message) {
	spliced, joined = m, m
	spliced.Text, spliced.HTML = text, html
	joined.Text, joined.HTML = StringBody(text.String()), StringBody(html.String())
	return spliced, joined
}

// parts returns a Body of alternating pieces and values: piece, value,
// piece, ... piece.
func parts(s ...string) Body {
	var pieces, values []string
	for i, x := range s {
		if i%2 == 0 {
			pieces = append(pieces, x)
		} else {
			values = append(values, x)
		}
	}
	return NewShared(pieces).Body(values)
}

// checkSameWire asserts that m in parts goes out byte for byte as m with
// the joined text does, on either transfer encoding.
func checkSameWire(t *testing.T, text, html Body) {
	t.Helper()
	spliced, joined := inParts(sampleMessage(), text, html)
	if joined.Text.Len() == 0 {
		return // refused either way; TestBuildRefuses
	}
	for _, eightBit := range []bool{true, false} {
		got, want := wire(t, spliced, eightBit), wire(t, joined, eightBit)
		if !bytes.Equal(got, want) {
			t.Errorf("8bit offered %v: in parts the message goes out as\n%q\nwant, as one string,\n%q", eightBit, got, want)
		}
	}
}

func TestSplicedGoesOutAsJoined(t *testing.T) {
	line := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name       string
		text, html Body
	}{
		{"a digest",
			parts("Good morning, ", "Zoë", ".\n\n"+longLine+"\n.dot line\nUnsubscribe: ", "https://example.org/u/1", "\n"),
			parts("<p>Hello <b>", "Zoë &amp; Co", "</b></p>\n.x{color:red}\n<a href=\"", "https://example.org/u/1?a=1&amp;b=2", "\">stop</a>\n")},
		{"no values", parts("just text\n"), parts("<p>html</p>")},
		{"text only", parts("a ", "b", " c"), Body{}},
		{"a value begins a line with a dot", parts("a\n", ".name", "\n"), parts("<p>\n", ".", "</p>")},
		{"a piece begins a line with a dot", parts("a\n", "", ".b\n", "", ".c"), parts(".", "", ".")},
		{"a value with line ends", parts("a", "b\nc\n.d\n\ne", "f\n"), parts("<p>", "x\ny", "</p>")},
		{"empty pieces and values", parts("", "", "", "v", ""), parts("", "x", "")},
		{"a line of 998 octets across pieces", parts(line(500), line(400), line(98)+"\n"), parts(line(998))},
		{"a line of 999 octets across pieces", parts(line(500), line(400), line(99)+"\n"), parts("<p>", "x", "</p>")},
		{"a long line in a value", parts("a\n", line(999), "\nb"), parts("<p>", "x", "</p>")},
		{"a long line inside a piece", parts("a\n"+line(999)+"\nb", "v", "c"), parts("<p>", "x", "</p>")},
		{"a CR in a value", parts("a", "b\rc", "d"), parts("<p>", "x\r\ny", "</p>")},
		{"a CRLF in a piece", parts("a\r\nb", "v", "\r\n"), parts("<p>\r", "", "\n</p>")},
		{"a CR before a value's LF", parts("a\r", "\nb", "c"), parts("<p>", "x", "</p>")},
		{"a NUL", parts("a", "\x00", "b"), parts("<p>\x00", "x", "</p>")},
		{"non-ASCII", parts("Zoë ", "Ødegård", " — ✓\n"), parts("<p>名前 ", "Núñez", "</p>")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkSameWire(t, tt.text, tt.html) })
	}
}

// FuzzSpliced checks that a message whose text and HTML come in parts goes
// out exactly as the same message with the joined text as strings, on the
// 8bit path and the quoted-printable one.
func FuzzSpliced(f *testing.F) {
	f.Add("Hello ", "Zoë", ",\n.dot\n", "https://example.org/u/1", "\n")
	f.Add("a\n", ".", "b\r\n", "\n.", ".")
	f.Add(strings.Repeat("x", 997), "yy", "\n", "\x00", "")
	f.Add("", "", "", "", "")
	f.Fuzz(func(t *testing.T, p0, v0, p1, v1, p2 string) {
		checkSameWire(t, parts(p0, v0, p1, v1, p2), parts(p2, v1, p0))
	})
}

// FuzzWriteDotted checks that DataWriter.WriteDotted, given the dots a
// dotTracker finds, writes what DataWriter.Write does for content with
// CRLF line ends.
func FuzzWriteDotted(f *testing.F) {
	f.Add([]byte("a\r\n.b\r\n..\r\n."))
	f.Add([]byte(".\r\n"))
	f.Add([]byte("no dots\r\nat all"))
	f.Fuzz(func(t *testing.T, b []byte) {
		b = []byte(strings.ReplaceAll(strings.ReplaceAll(string(b), "\r", ""), "\n", "\r\n"))
		var dots dotTracker
		dots.scan(b, 0)
		srv := startDataServer(t, true)
		got := srv.send(t, false, func(w *smtpclient.DataWriter) error { return w.WriteDotted(b, dots.at) })
		want := srv.send(t, false, func(w *smtpclient.DataWriter) error {
			_, err := w.Write(b)
			return err
		})
		if !bytes.Equal(got, want) {
			t.Errorf("WriteDotted(%q) = %q, want %q", b, got, want)
		}
	})
}

// TestSendSpliced sends the same digests in parts and as strings over
// SMTP, with and without 8BITMIME, and checks that the server gets the
// same messages but for the multipart boundary.
func TestSendSpliced(t *testing.T) {
	for _, no8bit := range []bool{false, true} {
		t.Run(fmt.Sprintf("no 8BITMIME %v", no8bit), func(t *testing.T) {
			srv := startEnvelopeServer(t, serverOptions{no8BitMIME: no8bit})
			s, err := NewSender(Config{Host: srv.Host(), Port: srv.Port(), TLS: TLSNone, HELO: "digest.test", Timeout: waitTimeout}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			text := parts("Good morning, ", "Zoë", ".\n\n"+longLine+"\n.dot line\nUnsubscribe: ", "https://example.org/u/1", "\n")
			html := parts("<p>Hello <b>", "Zoë", "</b></p>\n.x{color:red}\n<a href=\"", "https://example.org/u/1", "\">stop</a>\n")
			spliced, joined := inParts(messageTo(1, "zoe@example.com"), text, html)
			for _, m := range []Message{spliced, joined} {
				if err := s.Send(t.Context(), m); err != nil {
					t.Fatalf("send: %v", err)
				}
			}
			got := srv.wait(t, 2)
			if a, b := withoutBoundary(t, got[0].Data), withoutBoundary(t, got[1].Data); a != b {
				t.Errorf("in parts the server got\n%s\nwant, as strings,\n%s", a, b)
			}
			for _, p := range wireParts(t, got[0].Data) {
				if want := map[bool]string{false: "8bit", true: "quoted-printable"}[no8bit]; p.encoding != want {
					t.Errorf("%s part went %s, want %s", p.contentType, p.encoding, want)
				}
			}
		})
	}
}

// withoutBoundary returns data with its multipart boundary replaced by a
// fixed one.
func withoutBoundary(t *testing.T, data []byte) string {
	t.Helper()
	_, after, ok := strings.Cut(string(data), `boundary=`)
	if !ok {
		t.Fatalf("no boundary in\n%s", data)
	}
	b := strings.Trim(strings.Fields(after)[0], `";`)
	return strings.ReplaceAll(string(data), b, "BOUNDARY")
}

// TestSharedKeepsNoCopy checks that NewShared keeps a digest's pieces as
// they are rather than a CRLF copy: a pass holds one Shared per distinct
// digest for its whole length, so a copy would double that memory. What
// it may allocate is its line index, four octets a line.
func TestSharedKeepsNoCopy(t *testing.T) {
	const lines = 2000
	var sb strings.Builder
	for i := range lines {
		fmt.Fprintf(&sb, "<p style=\"margin:0 0 12px\">line %d of a digest, long enough to be typical</p>\n", i)
	}
	piece := sb.String()
	pieces := []string{piece, piece}
	// The results are kept (in a slice made before counting) so that
	// nothing can optimise the calls away.
	const runs = 20
	kept := make([]*Shared, runs)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range kept {
		kept[i] = NewShared(pieces)
	}
	runtime.ReadMemStats(&after)
	allocated := (after.TotalAlloc - before.TotalAlloc) / runs
	if limit := uint64(2*lines*4 + 4096); allocated > limit {
		t.Errorf("NewShared of two %d-octet pieces allocated %d octets, want at most %d (a line index, no copy)",
			len(piece), allocated, limit)
	}
	if got, want := kept[0].Body([]string{"Zoë"}).String(), piece+"Zoë"+piece; got != want {
		t.Errorf("the pieces read back differently")
	}
}
