package render

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// spliced is one part of a digest (subject, HTML or text) rendered once:
// the text every reader of the digest shares, with the places between its
// pieces where a reader's field goes.
type spliced struct {
	static []string // len(slots)+1 pieces of shared text
	slots  []slot
	size   int // bytes of shared text
	runes  int // runes of shared text
}

// slot is where a part prints a reader's field, and how it escapes it.
type slot struct {
	field field
	esc   escaping
}

// values are the personal fields of one reader, as the view holds them.
type values [numFields]string

// build returns the part for the reader with fields vals: one allocation,
// none when the part prints no field.
func (sp *spliced) build(vals *values) string {
	if len(sp.slots) == 0 {
		return sp.static[0]
	}
	n := sp.size
	for _, s := range sp.slots {
		n += escapedLen(s.esc, vals[s.field])
	}
	var b strings.Builder
	b.Grow(n)
	for i, s := range sp.slots {
		b.WriteString(sp.static[i])
		writeEscaped(&b, s.esc, vals[s.field])
	}
	b.WriteString(sp.static[len(sp.slots)])
	return b.String()
}

// buildRunes is the rune count of build(vals) for a part whose slots are
// all raw (the subject).
func (sp *spliced) buildRunes(vals *values) int {
	n := sp.runes
	for _, s := range sp.slots {
		n += utf8.RuneCountInString(vals[s.field])
	}
	return n
}

// candidate is one way a field's first sentinel can appear in a part.
type candidate struct {
	field field
	escs  escapingSet // the escapings that print the sentinel as text
	text  string
	next  int // index of its next occurrence at or after the scan position; -1 for none
}

// splitPart splits a, a part rendered with the first sentinels, at every
// place it prints one of them, then proves the split by rebuilding b, the
// same part rendered with the second sentinels, from the pieces of a: it
// must come out byte for byte, with each slot escaped in one of the ways
// uses allows for its field. A collision of a sentinel with the digest's
// own text, or any treatment of a field that depends on its value, makes
// the rebuild differ; the error says where.
func splitPart(a, b string, uses *fieldUses, first, second *values) (spliced, error) {
	var cands []candidate
	for f := range numFields {
		if first[f] == "" {
			continue // empty in this shape: the part cannot print it
		}
	next:
		for e := range numEscapings {
			if !uses[f].has(e) {
				continue
			}
			text := escape(e, first[f])
			for i := range cands {
				if cands[i].field == f && cands[i].text == text {
					cands[i].escs |= 1 << e
					continue next
				}
			}
			cands = append(cands, candidate{field: f, escs: 1 << e, text: text, next: strings.Index(a, text)})
		}
	}
	var sp spliced
	var escs []escapingSet // per slot, the escapings that fit a
	pos := 0
	for {
		best := -1
		for i := range cands {
			c := &cands[i]
			if c.next >= 0 && c.next < pos {
				if j := strings.Index(a[pos:], c.text); j >= 0 {
					c.next = pos + j
				} else {
					c.next = -1
				}
			}
			if c.next < 0 {
				continue
			}
			if best < 0 || c.next < cands[best].next || c.next == cands[best].next && len(c.text) > len(cands[best].text) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		c := cands[best]
		sp.static = append(sp.static, a[pos:c.next])
		sp.slots = append(sp.slots, slot{field: c.field})
		escs = append(escs, c.escs)
		pos = c.next + len(c.text)
	}
	sp.static = append(sp.static, a[pos:])
	for _, s := range sp.static {
		sp.size += len(s)
		sp.runes += utf8.RuneCountInString(s)
	}

	pos = 0
	for i := range sp.slots {
		if !strings.HasPrefix(b[pos:], sp.static[i]) {
			return spliced{}, mismatch(b, pos, sp.static[i])
		}
		pos += len(sp.static[i])
		f := sp.slots[i].field
		var matched escapingSet
		var text string
		for e := range numEscapings {
			if escs[i].has(e) {
				if t := escape(e, second[f]); strings.HasPrefix(b[pos:], t) {
					matched |= 1 << e
					text = t
				}
			}
		}
		e, ok := resolveEscaping(f, matched)
		if !ok {
			return spliced{}, fmt.Errorf("the reader's %s is not printed as is near %q", f, excerpt(b, pos))
		}
		sp.slots[i].esc = e
		pos += len(text)
	}
	if last := sp.static[len(sp.slots)]; b[pos:] != last {
		return spliced{}, mismatch(b, pos, last)
	}
	return sp, nil
}

// resolveEscaping picks the escaping of a slot from those that reproduced
// the second sentinel there. The second sentinels are built so that
// different escapings print them differently, except that a whole URL and
// a URL part escape alike any URL that passes webURL, which is every URL
// Personalize splices; so that pair is no ambiguity.
func resolveEscaping(f field, matched escapingSet) (escaping, bool) {
	if matched == 1<<escURL|1<<escURLPart && (f == fieldUnsubscribe || f == fieldPreferences) {
		return escURLPart, true
	}
	for e := range numEscapings {
		if matched == 1<<e {
			return e, true
		}
	}
	return 0, false
}

// mismatch describes where b stops following the shared text want.
func mismatch(b string, pos int, want string) error {
	i := 0
	for i < len(want) && pos+i < len(b) && b[pos+i] == want[i] {
		i++
	}
	return fmt.Errorf("the text around the reader's fields changes with them near %q", excerpt(b, pos+i))
}

// excerpt is a few dozen bytes of s around i, for an error.
func excerpt(s string, i int) string {
	from, to := max(0, i-30), min(len(s), i+30)
	for from > 0 && !utf8.RuneStart(s[from]) {
		from--
	}
	for to < len(s) && !utf8.RuneStart(s[to]) {
		to++
	}
	return s[from:to]
}

// isOneLine reports whether oneLine(s) == s: no control characters, no
// space but single ASCII spaces between other characters, valid UTF-8.
// Values with that property splice into the subject and the text part
// exactly as oneLine and tidyText would leave them there.
func isOneLine(s string) bool {
	space := true // at the start, a space would be leading
	for _, r := range s {
		var sp bool
		if r < utf8.RuneSelf {
			sp = r <= ' ' || r == 0x7f
		} else {
			sp = r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) || unicode.In(r, unicode.Zl, unicode.Zp)
		}
		if sp {
			if r != ' ' || space {
				return false
			}
		}
		space = sp
	}
	return !space || s == ""
}

// oneLineFast is oneLine without the copy when s is already one line.
func oneLineFast(s string) string {
	if isOneLine(s) {
		return s
	}
	return oneLine(s)
}
