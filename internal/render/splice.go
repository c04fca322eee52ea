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

// escaped is one reader's fields as the slots of a digest print them, each
// escaped once however often the digest prints it.
type escaped struct {
	es   *escapers
	raw  *values
	memo [numFields][numEscapings]string
	done [numFields][numEscapings]bool
}

// value returns field f as escaping e prints it.
func (x *escaped) value(f field, e escaping) (string, error) {
	if e == escRaw {
		return x.raw[f], nil
	}
	if !x.done[f][e] {
		v, err := x.es.escape(e, x.raw[f])
		if err != nil {
			return "", fmt.Errorf("the reader's %s: %w", f, err)
		}
		x.memo[f][e], x.done[f][e] = v, true
	}
	return x.memo[f][e], nil
}

// build returns the part for the reader whose fields are x: one allocation
// for the part, none when it prints no field, besides the escaping.
func (sp *spliced) build(x *escaped) (string, error) {
	if len(sp.slots) == 0 {
		return sp.static[0], nil
	}
	n := sp.size
	for _, s := range sp.slots {
		v, err := x.value(s.field, s.esc)
		if err != nil {
			return "", err
		}
		n += len(v)
	}
	var b strings.Builder
	b.Grow(n)
	for i, s := range sp.slots {
		b.WriteString(sp.static[i])
		v, _ := x.value(s.field, s.esc) // escaped above
		b.WriteString(v)
	}
	b.WriteString(sp.static[len(sp.slots)])
	return b.String(), nil
}

// buildRunes is the rune count of build for a part whose slots are all raw
// (the subject), with the reader's fields vals.
func (sp *spliced) buildRunes(vals *values) int {
	n := sp.runes
	for _, s := range sp.slots {
		n += utf8.RuneCountInString(vals[s.field])
	}
	return n
}

// standIns are the values Prepare renders a digest with in place of a
// reader's fields, twice (see splitPart), as each escaping prints them:
// first[e][f] is field f's first stand-in printed with escaping e.
type standIns struct {
	first, second [numEscapings]values
}

// newStandIns makes the stand-ins of a Renderer around nonce, which no
// digest's own text can contain by design.
//
// The first stand-ins, which Prepare splits at, are letters and digits
// around the nonce (a URL needs its scheme and host), which no wrapping can
// break and which occur nowhere else. The second, which Prepare proves the
// split with, are longer, so any wrapping, cutting or measuring shows, and
// hold every character some HTML context escapes in its own way (& + < > "
// ' space, non-ASCII, a ':' that makes a URL scheme other than http), so
// that contexts which escape differently print them differently
// (TestStandInsTellContextsApart). Name and Email are already one line, as
// the view holds them.
func newStandIns(es *escapers, nonce string) (*standIns, error) {
	first := values{
		fieldName:        "Xn" + nonce,
		fieldEmail:       "Xe" + nonce,
		fieldUnsubscribe: "https://" + nonce + ".invalid/Xu",
		fieldPreferences: "https://" + nonce + ".invalid/Xp",
	}
	second := values{
		fieldName:        `Zoë: O'Brien-Núñez & "Co" <b>+1</b> 名前/` + nonce + " with a tail long enough to move every line break",
		fieldEmail:       `b:o'brien+"x"&<y>/` + nonce + " ü@exämple.com",
		fieldUnsubscribe: "x-u" + nonce + `:/u b/'q"<t>+&é~%41?x=1&y=a b+'"<>é#f`,
		fieldPreferences: "x-p" + nonce + `:/p b/'q"<t>+&é~%41?x=2&y=a b+'"<>é#g`,
	}
	var si standIns
	for e := range numEscapings {
		for f := range numFields {
			var err error
			if si.first[e][f], err = es.escape(e, first[f]); err != nil {
				return nil, err
			}
			if si.second[e][f], err = es.escape(e, second[f]); err != nil {
				return nil, err
			}
		}
	}
	return &si, nil
}

// only returns the raw stand-ins vs with the fields that are empty in
// shape s blanked.
func (vs *values) only(s shape) values {
	v := *vs
	for f := range numFields {
		if !s.has(f) {
			v[f] = ""
		}
	}
	return v
}

// candidate is one way a field's first stand-in can appear in a part.
type candidate struct {
	field field
	escs  escapingSet // the escapings that print the stand-in as text
	text  string
	next  int // index of its next occurrence at or after the scan position; -1 for none
}

// splitPart splits a, a part rendered with the first stand-ins of the
// fields shape s has, at every place it prints one of them with one of the
// escapings escs, then proves the split by rebuilding b, the same part
// rendered with the second stand-ins, from the pieces of a: each slot must
// hold its field's second stand-in printed with an escaping that also
// printed the first there, and the shared text must come out byte for
// byte. That escaping is the slot's: html/template escapes every value at
// one place in a template alike, and contexts that print both stand-ins
// alike escape every value alike. A collision of a stand-in with the
// digest's own text, a context no escaping reproduces (a script, a style,
// an unquoted attribute), or any treatment of a field that depends on its
// value makes the rebuild fail; the error says where.
func splitPart(a, b string, escs escapingSet, si *standIns, s shape) (spliced, error) {
	var cands []candidate
	for f := range numFields {
		if !s.has(f) {
			continue // empty in this shape: the part cannot print it
		}
	next:
		for e := range numEscapings {
			if !escs.has(e) {
				continue
			}
			text := si.first[e][f]
			if text == "" {
				continue // printed as nothing: no place to find
			}
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
	var slotEscs []escapingSet // per slot, the escapings that fit a
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
		slotEscs = append(slotEscs, c.escs)
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
		found := false
		for e := range numEscapings {
			text := si.second[e][f]
			if slotEscs[i].has(e) && strings.HasPrefix(b[pos:], text) && strings.HasPrefix(b[pos+len(text):], sp.static[i+1]) {
				sp.slots[i].esc = e
				pos += len(text)
				found = true
				break
			}
		}
		if !found {
			return spliced{}, fmt.Errorf("the reader's %s is printed where no context Prepare knows escapes it alike (%s) near %q", f, knownContexts(escs), excerpt(b, pos))
		}
	}
	if last := sp.static[len(sp.slots)]; b[pos:] != last {
		return spliced{}, mismatch(b, pos, last)
	}
	return sp, nil
}

// knownContexts lists the escapings of escs for an error.
func knownContexts(escs escapingSet) string {
	var names []string
	for e := range numEscapings {
		if escs.has(e) {
			names = append(names, e.String())
		}
	}
	return strings.Join(names, ", ")
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
