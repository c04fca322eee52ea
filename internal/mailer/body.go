package mailer

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// maxLineOctets is the longest line RFC 5322 (2.1.1) allows, CRLF not
// counted. A part with a longer line cannot travel as 8bit and stays
// quoted-printable, which wraps lines at 76.
const maxLineOctets = 998

// fits8bit reports whether s can be sent with Content-Transfer-Encoding
// 8bit (RFC 2045 2.8, RFC 6152): no NUL, no CR except before LF, and no
// line longer than maxLineOctets. It is a few passes of IndexByte, cheap
// next to quoted-printable encoding, which is what it saves.
func fits8bit(s string) bool {
	if strings.IndexByte(s, 0) >= 0 {
		return false
	}
	for rest := s; ; {
		i := strings.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = strings.TrimSuffix(rest[:i], "\r")
		}
		if len(line) > maxLineOctets || strings.IndexByte(line, '\r') >= 0 {
			return false
		}
		if i < 0 {
			return true
		}
		rest = rest[i+1:]
	}
}

// partBody returns the transfer encoding and the body writer go-mail uses
// for c: with sp (the server offers 8BITMIME), 8bit where the content
// fits, where the writer writes only a mark for sp to splice the content
// in at; else quoted-printable, where it writes the string itself, without
// the copy go-mail's SetBodyString makes.
func partBody(c Body, sp *splicer) (gomail.Encoding, func(io.Writer) (int64, error)) {
	if c.joinFirst() {
		c = StringBody(c.String())
	}
	if sp != nil && c.fits8bit() {
		return gomail.NoEncoding, sp.stand(c)
	}
	// Quoted-printable encodes one string.
	s := c.String()
	if strings.IndexByte(s, '\r') >= 0 {
		// Go's quoted-printable writer, after a bare CR, takes the next
		// LF however far on for the CR's partner and drops it ("\r\x13\n"
		// loses its last line break). Every CR ends a line either way, so
		// the line ends are given as LF alone, which it encodes alike.
		s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	}
	return gomail.EncodingQP, func(w io.Writer) (int64, error) {
		n, err := io.WriteString(w, s)
		return int64(n), err
	}
}

// setBodies sets msg's text/plain body and, when html is not empty, its
// text/html alternative, replacing any set before, each in the encoding
// partBody chooses.
func setBodies(msg *gomail.Msg, text, html Body, sp *splicer) {
	enc, write := partBody(text, sp)
	msg.SetBodyWriter(gomail.TypeTextPlain, write, gomail.WithPartEncoding(enc))
	if html.Len() > 0 {
		enc, write := partBody(html, sp)
		msg.AddAlternativeWriter(gomail.TypeTextHTML, write, gomail.WithPartEncoding(enc))
	}
}

// UseEightBit switches each part of msg, a message from Build, to
// Content-Transfer-Encoding 8bit where its content allows (lines of at
// most 998 octets, no NUL, no bare CR), exactly as a Sender does for a
// server that advertises 8BITMIME (RFC 6152); the other parts stay
// quoted-printable. Only send the result to such a server: go-mail's SMTP
// client then adds BODY=8BITMIME to MAIL FROM by itself. It is for callers
// that send a Build result with go-mail directly (the benchmark's raw
// limit); Sender does this on its own.
func UseEightBit(msg *gomail.Msg) error {
	for i, p := range msg.GetParts() {
		content, err := p.GetContent()
		if err != nil {
			return fmt.Errorf("read part %d: %w", i+1, err)
		}
		s := string(content)
		if !fits8bit(s) {
			continue
		}
		normalised := appendCRLF(make([]byte, 0, len(s)+len(s)/32), s, &dotTracker{})
		p.SetWriteFunc(func(w io.Writer) (int64, error) {
			n, err := w.Write(normalised)
			return int64(n), err
		})
		p.SetEncoding(gomail.NoEncoding)
	}
	return nil
}

// splicer keeps the 8bit parts of a message out of go-mail's rendering and
// splices them in afterwards. go-mail copies an 8bit part through a buffer
// of its own on the way out, which cost an allocation the size of the
// message and a copy of it for every message sent. A part rendered through
// a splicer is written as one NUL byte instead, which nothing else in
// go-mail's output can contain (headers are encoded, and a part with a NUL
// never goes as 8bit), and its content is kept to be written in its place.
type splicer struct {
	parts []Body // contents of the marks written so far, in order
}

// spliceMark stands for a part in go-mail's rendering.
const spliceMark = '\x00'

// stand returns a body writer for c that writes its mark.
func (sp *splicer) stand(c Body) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		sp.parts = append(sp.parts, c)
		n, err := w.Write([]byte{spliceMark})
		return int64(n), err
	}
}

// splice appends skeleton to dst with each mark replaced by its part,
// line ends made CRLF, and forgets the parts. It reports whether every line
// of what it appended ends in CRLF — the parts' do, and so do go-mail's,
// but the skeleton is checked rather than trusted — and if so, the offsets
// of the dots that begin a line in dots (see writeDotted).
func (sp *splicer) splice(dst, skeleton []byte, dots *dotTracker) (_ []byte, crlf bool, _ error) {
	if n := bytes.Count(skeleton, []byte{spliceMark}); n != len(sp.parts) {
		return dst, false, fmt.Errorf("splice message: %d marks for %d parts", n, len(sp.parts))
	}
	size := len(dst) + len(skeleton)
	for _, p := range sp.parts {
		n := p.Len()
		size += n + n/32
	}
	dst = slices.Grow(dst, size-len(dst))
	crlf = true
	for _, p := range sp.parts {
		i := bytes.IndexByte(skeleton, spliceMark)
		crlf = crlf && crlfOnly(skeleton[:i])
		from := len(dst)
		dst = append(dst, skeleton[:i]...)
		dots.scan(dst, from)
		dst = p.appendCRLF(dst, dots)
		skeleton = skeleton[i+1:]
	}
	crlf = crlf && crlfOnly(skeleton)
	from := len(dst)
	dst = append(dst, skeleton...)
	dots.scan(dst, from)
	sp.parts = sp.parts[:0]
	return dst, crlf, nil
}

// crlfOnly reports whether every LF in b follows a CR.
func crlfOnly(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return true
		}
		i += j
		if i == 0 || b[i-1] != '\r' {
			return false
		}
		i++
	}
}
