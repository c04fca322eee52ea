package mailer

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Shared is body text that many messages have in common but for a few
// short values of each message's own between its pieces: a digest that
// every reader of a group gets, with the reader's name and links spliced
// in (see Shared.Body). NewShared scans the pieces once for what the transfer
// encoding and the SMTP data format depend on — NUL and CR, line ends,
// line lengths, dots — so that a Sender building a message on them scans
// only its values and copies the rest, writing CRLF at the line ends it
// noted. The bytes sent are those of the same text given as one string.
//
// A Shared keeps the pieces themselves, not a CRLF copy of them: a pass
// holds one per distinct digest for its whole length, and a copy would
// double that memory.
//
// A Shared is read-only once made and safe for concurrent use.
type Shared struct {
	pieces []sharedPiece
	// flat is set when a piece has a NUL or a CR, or is too long to
	// index: messages built on it are joined first (see Body.joinFirst).
	flat bool
}

// sharedPiece is one piece of a Shared, with what NewShared learnt of it.
type sharedPiece struct {
	text string
	lfs  []int32 // offsets in text of its LFs; nil when flat
	dots []int   // offsets in text with CRLF line ends of the dots that begin a line after its first
	span lineSpan
}

// lineSpan is the shape of a text's lines: how it extends the line it
// starts on, what it leaves of the line it ends on, and whether a whole
// line inside it is too long for 8bit.
type lineSpan struct {
	first int  // octets before the first LF; the whole length when none
	last  int  // octets after the last LF
	lf    int  // number of LFs
	long  bool // a line between two LFs is longer than maxLineOctets
}

// spanOf returns the lineSpan of s.
func spanOf(s string) lineSpan {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return lineSpan{first: len(s)}
	}
	sp := lineSpan{first: i, lf: 1}
	for rest := s[i+1:]; ; {
		j := strings.IndexByte(rest, '\n')
		if j < 0 {
			sp.last = len(rest)
			return sp
		}
		sp.lf++
		if j > maxLineOctets {
			sp.long = true
		}
		rest = rest[j+1:]
	}
}

// extend returns the length of the current line after s, which has no CR,
// is appended to a line of cur octets, and whether every line so far is
// short enough for 8bit.
func (sp lineSpan) extend(cur int) (int, bool) {
	if sp.lf == 0 {
		cur += sp.first
		return cur, cur <= maxLineOctets
	}
	return sp.last, cur+sp.first <= maxLineOctets && !sp.long && sp.last <= maxLineOctets
}

// NewShared scans pieces for sending as the shared text of bodies
// (Shared.Body).
// Splicing the values in costs a copy per message; the scan is not
// repeated.
func NewShared(pieces []string) *Shared {
	s := &Shared{pieces: make([]sharedPiece, len(pieces))}
	for i, p := range pieces {
		s.pieces[i].text = p
		if strings.ContainsAny(p, "\x00\r") || len(p) > math.MaxInt32 {
			s.flat = true
		}
	}
	if s.flat {
		return s
	}
	for i := range s.pieces {
		p := &s.pieces[i]
		p.span = spanOf(p.text)
		p.lfs = make([]int32, 0, p.span.lf)
		for j := 0; ; {
			k := strings.IndexByte(p.text[j:], '\n')
			if k < 0 {
				break
			}
			j += k
			p.lfs = append(p.lfs, int32(j))
			j++
			// With CRLF line ends, this line starts len(p.lfs) octets later.
			if j < len(p.text) && p.text[j] == '.' {
				p.dots = append(p.dots, j+len(p.lfs))
			}
		}
	}
	return s
}

// Body is the text of one part of a message: one string (StringBody), or
// text shared with other messages with this message's own values between
// its pieces (Shared.Body). Either way the part goes out the same; from
// shared text a Sender builds it with less work. The zero Body is empty.
type Body struct {
	s      string
	shared *Shared
	values []string
}

// StringBody returns s as a Body.
func StringBody(s string) Body { return Body{s: s} }

// Body returns the text of s with values between its pieces: the first
// piece, values[0], the second piece, and so on to the last piece, so
// there is one value fewer than pieces (a message with more or fewer is
// refused when it is built). A nil s makes an empty Body.
func (s *Shared) Body(values []string) Body {
	if s == nil {
		return Body{}
	}
	return Body{shared: s, values: values}
}

// spliced reports whether b is shared text with values.
func (b Body) spliced() bool { return b.shared != nil }

// Len returns the length of the text in bytes.
func (b Body) Len() int {
	if !b.spliced() {
		return len(b.s)
	}
	n := 0
	for i := range b.shared.pieces {
		n += len(b.shared.pieces[i].text)
	}
	for _, v := range b.values {
		n += len(v)
	}
	return n
}

// String returns the text as one string, without a copy when it is one.
func (b Body) String() string {
	if !b.spliced() {
		return b.s
	}
	var sb strings.Builder
	sb.Grow(b.Len())
	for i := range b.shared.pieces {
		if i > 0 {
			sb.WriteString(b.values[i-1])
		}
		sb.WriteString(b.shared.pieces[i].text)
	}
	return sb.String()
}

// check reports a spliced body whose values do not fit between its
// pieces.
func (b Body) check() error {
	if b.spliced() && (len(b.shared.pieces) == 0 || len(b.values) != len(b.shared.pieces)-1) {
		return fmt.Errorf("%d values for %d pieces of shared text; want one fewer", len(b.values), len(b.shared.pieces))
	}
	return nil
}

// joinFirst reports whether b is spliced and has a NUL or a CR. Whether
// such text can go as 8bit, and how its line ends are written, depends on
// what is next to them, so it is joined into one string and sent as a
// StringBody would.
func (b Body) joinFirst() bool {
	if !b.spliced() {
		return false
	}
	if b.shared.flat {
		return true
	}
	for _, v := range b.values {
		if strings.ContainsAny(v, "\x00\r") {
			return true
		}
	}
	return false
}

// fits8bit is fits8bit of the text; for a spliced body, from the scan
// NewShared made and a scan of the values. A spliced body with a NUL or
// CR must be joined first (joinFirst); partBody does so.
func (b Body) fits8bit() bool {
	if !b.spliced() {
		return fits8bit(b.s)
	}
	cur, ok := 0, true
	for i := range b.shared.pieces {
		if i > 0 {
			if cur, ok = spanOf(b.values[i-1]).extend(cur); !ok {
				return false
			}
		}
		if cur, ok = b.shared.pieces[i].span.extend(cur); !ok {
			return false
		}
	}
	return true
}

// appendCRLF appends the text to dst with every LF as CRLF, and the
// offsets in dst of the dots that begin a line to dots. The text fits
// 8bit, so it has no bare CR, and a spliced one no CR at all.
func (b Body) appendCRLF(dst []byte, dots *dotTracker) []byte {
	if !b.spliced() {
		return appendCRLF(dst, b.s, dots)
	}
	for i := range b.shared.pieces {
		if i > 0 {
			dst = appendCRLF(dst, b.values[i-1], dots)
		}
		p := &b.shared.pieces[i]
		if p.text == "" {
			continue
		}
		dots.first(dst, p.text[0])
		for _, d := range p.dots {
			dots.at = append(dots.at, len(dst)+d)
		}
		dst = p.appendCRLF(dst)
	}
	return dst
}

// appendCRLF appends p's text to dst with each LF as CRLF, at the LFs
// NewShared found.
func (p *sharedPiece) appendCRLF(dst []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, len(p.text)+len(p.lfs))[:n+len(p.text)+len(p.lfs)]
	w, from := n, 0
	for _, lf := range p.lfs {
		w += copy(dst[w:], p.text[from:lf])
		dst[w], dst[w+1] = '\r', '\n'
		w += 2
		from = int(lf) + 1
	}
	copy(dst[w:], p.text[from:])
	return dst
}

// appendCRLF appends s to dst with every bare LF as CRLF, and the offsets
// in dst of the dots that begin a line to dots: an 8bit part goes out as
// it is written, and SMTP (RFC 5321 2.3.8) and the DKIM signature computed
// over the rendering both want CRLF. s has no bare CR (fits8bit).
func appendCRLF(dst []byte, s string, dots *dotTracker) []byte {
	if s == "" {
		return dst
	}
	dots.first(dst, s[0])
	for {
		j := strings.IndexByte(s, '\n')
		if j < 0 {
			return append(dst, s...)
		}
		if j > 0 && s[j-1] == '\r' {
			dst = append(dst, s[:j+1]...)
		} else {
			dst = append(dst, s[:j]...)
			dst = append(dst, '\r', '\n')
		}
		s = s[j+1:]
		if s != "" && s[0] == '.' {
			dots.at = append(dots.at, len(dst))
		}
	}
}

// dotTracker collects the offsets of the dots that begin a line in a
// message as it is put together, which writeDotted doubles on the way to
// the server (RFC 5321 4.5.2) without searching the message for them.
type dotTracker struct {
	at []int
}

// first notes a dot as the next byte c of dst, about to be appended,
// when it begins a line: at the start, or after an LF.
func (d *dotTracker) first(dst []byte, c byte) {
	if c == '.' && (len(dst) == 0 || dst[len(dst)-1] == '\n') {
		d.at = append(d.at, len(dst))
	}
}

// scan notes the line-starting dots of dst[from:], just appended.
func (d *dotTracker) scan(dst []byte, from int) {
	if from >= len(dst) {
		return
	}
	d.first(dst[:from], dst[from])
	for i := from; ; {
		j := bytes.IndexByte(dst[i:], '\n')
		if j < 0 {
			return
		}
		i += j + 1
		if i < len(dst) && dst[i] == '.' {
			d.at = append(d.at, i)
		}
	}
}
