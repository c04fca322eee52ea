package smtpclient

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"testing"
)

// writeData writes the DATA content that content produces to w, with the
// terminating "." — a message exactly as Client.Send puts it on the wire
// after the server's 354, without a session.
func writeData(w io.Writer, content func(*DataWriter) error) error {
	bw := bufio.NewWriter(w)
	var d DataWriter
	d.reset(bw)
	if err := content(&d); err != nil {
		return fmt.Errorf("write content: %w", err)
	}
	return d.end()
}

// writeChunks writes chunks as Send does without a ready gate: the content
// of DATA, each chunk in its own Write, then the terminating ".\r\n".
func writeChunks(w io.Writer, chunks ...string) error {
	return writeData(w, func(d *DataWriter) error {
		for _, c := range chunks {
			if _, err := d.Write([]byte(c)); err != nil {
				return err
			}
		}
		return nil
	})
}

func normalise(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }

func TestDataWriter(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"plain", []string{"a\r\nb\r\n"}, "a\r\nb\r\n.\r\n"},
		{"no final CRLF", []string{"a\r\nb"}, "a\r\nb\r\n.\r\n"},
		{"leading dot", []string{".a\r\n"}, "..a\r\n.\r\n"},
		{"dot lines", []string{"a\r\n.\r\n..b\r\n"}, "a\r\n..\r\n...b\r\n.\r\n"},
		{"bare LF", []string{"a\nb\n.c\n"}, "a\r\nb\r\n..c\r\n.\r\n"},
		{"signature chunk", []string{"DKIM-Signature: x\r\n", ".a\r\n"}, "DKIM-Signature: x\r\n..a\r\n.\r\n"},
		{"empty chunk", []string{"", "a\r\n"}, "a\r\n.\r\n"},
		{"dot at the end", []string{"a\r\n."}, "a\r\n..\r\n.\r\n"},
		{"nothing", nil, ".\r\n"},
		// A chunk may start and end anywhere in a line.
		{"chunk in the middle of a line", []string{"a", "b\r\n"}, "ab\r\n.\r\n"},
		{"dot after a line split across chunks", []string{"a\r", "\n.b\r\n"}, "a\r\n..b\r\n.\r\n"},
		{"CR ends one chunk, LF starts the next", []string{"a\r", "\nb"}, "a\r\nb\r\n.\r\n"},
		{"LF alone starts a chunk", []string{"a", "\n.b"}, "a\r\n..b\r\n.\r\n"},
		{"dot in the middle of a line", []string{"a", ".b\r\n"}, "a.b\r\n.\r\n"},
		{"a lone dot line", []string{".", "\r\n"}, "..\r\n.\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := writeChunks(&out, tt.chunks...); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("wrote %q, want %q", out.String(), tt.want)
			}
			// What a server reads back is the chunks, CRLF line ends.
			back, err := io.ReadAll(textproto.NewReader(bufio.NewReader(&out)).DotReader())
			if err != nil {
				t.Fatal(err)
			}
			want := normalise([]byte(strings.Join(tt.chunks, "")))
			if want != "" {
				want = strings.TrimSuffix(want, "\n") + "\n"
			}
			if normalise(back) != want {
				t.Errorf("read back %q, want %q", back, want)
			}
		})
	}
}

// lineDots returns the offsets of the dots that begin a line in b.
func lineDots(b []byte) []int {
	var dots []int
	for i, c := range b {
		if c == '.' && (i == 0 || b[i-1] == '\n') {
			dots = append(dots, i)
		}
	}
	return dots
}

// FuzzWriteDotted checks that WriteDotted, given the line-starting dots,
// writes what Write does for content with CRLF line ends, after any
// chunk that ends a line.
func FuzzWriteDotted(f *testing.F) {
	f.Add("", []byte("a\r\n.b\r\n..\r\n."))
	f.Add("DKIM-Signature: x\r\n", []byte(".\r\n"))
	f.Add("", []byte("no dots\r\nat all"))
	f.Fuzz(func(t *testing.T, before string, b []byte) {
		before = strings.ReplaceAll(strings.ReplaceAll(before, "\r", ""), "\n", "\r\n")
		if before != "" && !strings.HasSuffix(before, "\n") {
			before += "\r\n"
		}
		b = []byte(strings.ReplaceAll(strings.ReplaceAll(string(b), "\r", ""), "\n", "\r\n"))
		var got, want bytes.Buffer
		err := writeData(&got, func(d *DataWriter) error {
			if _, err := d.Write([]byte(before)); err != nil {
				return err
			}
			return d.WriteDotted(b, lineDots(b))
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := writeChunks(&want, before, string(b)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("WriteDotted(%q) = %q, want %q", b, got.Bytes(), want.Bytes())
		}
	})
}

func TestWriteDottedMidLine(t *testing.T) {
	err := writeData(io.Discard, func(d *DataWriter) error {
		if _, err := d.Write([]byte("a")); err != nil {
			return err
		}
		return d.WriteDotted([]byte("b\r\n"), nil)
	})
	if !errors.Is(err, errMidLine) {
		t.Errorf("WriteDotted in the middle of a line = %v, want %v", err, errMidLine)
	}
}

// stuffed is DATA content the plain way: bare LFs made CRLF, a dot before
// every line that begins with one, a CRLF at the end and the final dot.
func stuffed(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	lines := strings.Split(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for _, line := range lines {
		if strings.HasPrefix(line, ".") {
			b.WriteByte('.')
		}
		b.WriteString(line + "\r\n")
	}
	return b.String() + ".\r\n"
}

// FuzzWrite checks Write against stuffed, with the content cut in two
// anywhere: a line that spans chunks is stuffed as one.
func FuzzWrite(f *testing.F) {
	f.Add("a\n.b\r\n..\n.", 3)
	f.Add(".\r\n", 1)
	f.Add("x\r\n.y", 2)
	f.Fuzz(func(t *testing.T, s string, cut int) {
		// Bare CRs are passed on as they are, so leave them out here.
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "")
		if cut < 0 || cut > len(s) {
			cut = len(s) / 2
		}
		var got bytes.Buffer
		if err := writeChunks(&got, s[:cut], s[cut:]); err != nil {
			t.Fatal(err)
		}
		if want := stuffed(s); got.String() != want {
			t.Errorf("Write(%q | %q) = %q, want %q", s[:cut], s[cut:], got.String(), want)
		}
	})
}
