package render

import (
	"fmt"
	"strings"
)

// Pieces is one part of a reader's digest, the HTML or the text, as the
// text shared by every reader of a group (see Split.Shared) with the
// reader's own values between: Fixed[0], Values[0], Fixed[1], and so on
// to the last of Fixed, which has one element more than Values.
type Pieces struct {
	Fixed  []string
	Values []string
}

// Len returns the length in bytes of the joined part.
func (p Pieces) Len() int {
	n := 0
	for _, s := range p.Fixed {
		n += len(s)
	}
	for _, s := range p.Values {
		n += len(s)
	}
	return n
}

// String returns the joined part.
func (p Pieces) String() string {
	var b strings.Builder
	b.Grow(p.Len())
	for i, s := range p.Fixed {
		if i > 0 {
			b.WriteString(p.Values[i-1])
		}
		b.WriteString(s)
	}
	return b.String()
}

// Split is a reader's digest as Personalize returns it, but with the HTML
// and text parts in pieces: a caller that copies the parts out (to an SMTP
// connection) need not have them joined first, and can work out what it
// needs of the shared text once per group rather than once per reader.
type Split struct {
	Subject   string
	Preheader string
	HTML      Pieces
	Text      Pieces
	// Shared says that HTML.Fixed and Text.Fixed are the Prepared's own:
	// the same slices, never to be modified, for every reader of the
	// group whose fields are empty in the same places. It is false when
	// the reader was rendered in full, each part then one piece of its own.
	Shared bool
}

// PersonalizeSplit puts rd's digest in dst: Personalize's result, with
// each part in pieces that join to Personalize's part byte for byte. It
// reuses dst's Values slices, so a caller that keeps one Split per worker
// allocates only for escaping the reader's values.
func (p *Prepared) PersonalizeSplit(rd Reader, dst *Split) error {
	vals := readerValues(rd)
	v := p.spliceable(rd, &vals)
	if v == nil {
		out, err := p.renderFull(rd)
		if err != nil {
			return err
		}
		*dst = Split{
			Subject: out.Subject, Preheader: out.Preheader,
			HTML:   Pieces{Fixed: []string{out.HTML}, Values: dst.HTML.Values[:0]},
			Text:   Pieces{Fixed: []string{out.Text}, Values: dst.Text.Values[:0]},
			Shared: false,
		}
		return nil
	}
	x := escaped{es: p.r.esc, raw: &vals}
	html, err := v.html.pieces(&x, dst.HTML.Values[:0])
	if err != nil {
		return fmt.Errorf("render digest for %s: %w", rd.Email, err)
	}
	text, _ := v.text.pieces(&x, dst.Text.Values[:0]) // raw: nothing to escape
	dst.Subject, dst.Preheader, dst.Shared = v.subjectOf(&vals), v.preheader, true
	dst.HTML, dst.Text = html, text
	return nil
}

// pieces returns the part for the reader whose fields are x in pieces,
// appending the values its slots print to values.
func (sp *spliced) pieces(x *escaped, values []string) (Pieces, error) {
	for _, s := range sp.slots {
		v, err := x.value(s.field, s.esc)
		if err != nil {
			return Pieces{}, err
		}
		values = append(values, v)
	}
	return Pieces{Fixed: sp.static, Values: values}, nil
}
