package render

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	digest "github.com/newsroom/digest"
)

// Reader holds what differs between readers who get the same digest (the
// same GroupKey): the four personal fields of the view. Name and Email are
// as stored on the subscriber (Personalize normalises them as the view does),
// the links as Input carries them.
type Reader struct {
	Name           string
	Email          string
	UnsubscribeURL string
	PreferencesURL string
}

// ReaderOf returns the personal fields of in.
func ReaderOf(in Input) Reader {
	return Reader{
		Name:           in.Subscriber.Name,
		Email:          in.Subscriber.Email,
		UnsubscribeURL: in.UnsubscribeURL,
		PreferencesURL: in.PreferencesURL,
	}
}

// Prepared is a digest rendered once for every reader of a group (see
// GroupKey): Personalize splices each reader's fields into it, escaped for
// the HTML part by html/template itself (see escaper), with the same bytes
// executing the templates with that reader's fields would produce. It is
// the only way a digest is rendered: Render prepares a group of one.
//
// A template can depend on whether a field is empty ({{with .Name}}), so
// a Prepared keeps one rendering per emptiness shape (Name, Email,
// PreferencesURL empty or not), made when a reader of that shape first
// comes.
//
// Splicing needs templates, the operator's own included, that only print
// a reader's field as it is ({{.Name}}, or {{.}} inside {{with .Name}}) or
// test whether it is empty, and that print it in the HTML part in text
// (<title> and <textarea> too), in a quoted attribute, or in a quoted URL
// attribute (whole, path, query or fragment). A field passed to a function
// or printed in a script, a style or an unquoted attribute cannot be
// spliced: Personalize then renders the readers of that shape in full —
// correct, much slower — and Exact and Reason say so, naming the template.
//
// A Prepared is safe for concurrent use. It keeps the Input it was
// prepared from, briefs included: do not modify them while it is in use.
type Prepared struct {
	r      *Renderer
	base   Input
	shape  shape
	shapes [numShapes]lazyVariant
}

// shape is the emptiness of a reader's optional fields, one bit each.
type shape uint8

const (
	shapeName shape = 1 << iota
	shapeEmail
	shapePreferences
	numShapes = 1 << iota
)

func shapeOf(vals *values) shape {
	var s shape
	if vals[fieldName] != "" {
		s |= shapeName
	}
	if vals[fieldEmail] != "" {
		s |= shapeEmail
	}
	if vals[fieldPreferences] != "" {
		s |= shapePreferences
	}
	return s
}

// has reports whether field f is non-empty in shape s. The unsubscribe
// link is required, so it always is.
func (s shape) has(f field) bool {
	switch f {
	case fieldName:
		return s&shapeName != 0
	case fieldEmail:
		return s&shapeEmail != 0
	case fieldPreferences:
		return s&shapePreferences != 0
	}
	return true
}

type lazyVariant struct {
	once sync.Once
	v    *variant
	err  error
}

// variant is a Prepared digest for readers of one shape.
type variant struct {
	slow      string // why readers of this shape are rendered in full; "" when spliced
	subject   spliced
	html      spliced
	text      spliced
	preheader string
}

// Prepare renders the digest of in for splicing readers into it. Only the
// emptiness of in's personal fields matters; their values need not be
// valid (Personalize checks each reader's). Errors are those of the digest
// itself — an unknown time zone, a brief whose Markdown fails — which
// every reader of the group would get. Prepare costs about two renders.
func (r *Renderer) Prepare(in Input) (*Prepared, error) {
	p, err := r.prepare(in)
	if err != nil {
		return nil, fmt.Errorf("prepare digest: %w", err)
	}
	return p, nil
}

func (r *Renderer) prepare(in Input) (*Prepared, error) {
	vals := readerValues(ReaderOf(in))
	p := &Prepared{r: r, base: in, shape: shapeOf(&vals)}
	if _, err := p.variant(p.shape); err != nil {
		return nil, err
	}
	return p, nil
}

// Exact reports whether readers of the shape Prepare was given are spliced
// (true) or rendered in full (false; Reason says why).
func (p *Prepared) Exact() bool { return p.Reason() == "" }

// Reason says why readers of the shape Prepare was given are rendered in
// full — for an operator: it names the template, and the line or the
// output near where it uses a reader's field in a way splicing cannot
// reproduce — or is empty when they are spliced. It is the same for
// every group of a Renderer but for that excerpt (the stand-ins splicing
// looks for carry a nonce of the Renderer's; see newStandIns).
func (p *Prepared) Reason() string {
	v, err := p.variant(p.shape)
	if err != nil {
		return err.Error()
	}
	return v.slow
}

// Personalize returns the digest for reader rd, byte for byte what
// executing the templates over the group's Input with rd's fields returns
// (FuzzPersonalize holds it to that). rd must belong to the group: the
// caller keys Prepared digests by GroupKey. Invalid links are refused
// with a field error naming the reader.
func (p *Prepared) Personalize(rd Reader) (Output, error) {
	vals := readerValues(rd)
	v := p.spliceable(rd, &vals)
	if v == nil {
		return p.renderFull(rd)
	}
	x := escaped{es: p.r.esc, raw: &vals}
	html, err := v.html.build(&x)
	if err != nil {
		return Output{}, fmt.Errorf("render digest for %s: %w", rd.Email, err)
	}
	text, _ := v.text.build(&x) // raw: nothing to escape
	return Output{
		Subject:   v.subjectOf(&vals),
		Preheader: v.preheader,
		HTML:      html,
		Text:      text,
	}, nil
}

// spliceable returns the variant rd's digest is spliced from, whose
// fields as the view holds them are vals, or nil when rd must be rendered
// in full: a link the view refuses or oneLine would change (the full
// render's error is the one to give), or a shape that splicing cannot
// reproduce.
func (p *Prepared) spliceable(rd Reader, vals *values) *variant {
	if !spliceableLink(rd.UnsubscribeURL) || rd.PreferencesURL != "" && !spliceableLink(rd.PreferencesURL) {
		return nil
	}
	v, err := p.variant(shapeOf(vals))
	if err != nil || v.slow != "" {
		return nil
	}
	return v
}

// subjectOf returns the subject for the reader with fields vals.
func (v *variant) subjectOf(vals *values) string {
	x := escaped{raw: vals}
	s, _ := v.subject.build(&x) // raw: nothing to escape
	if len(v.subject.slots) > 0 && v.subject.buildRunes(vals) > subjectMax {
		s = truncate(s, subjectMax)
	}
	return s
}

// spliceableLink reports whether u is a link the view accepts and prints as
// it is in every part (the text part's clean-up and the subject's oneLine
// leave it alone). Links as the pass makes them pass the quick grammar
// check without the allocations of url.Parse.
func spliceableLink(u string) bool {
	return plainWebURL(u) || webURL(u) && isOneLine(u)
}

// plainWebURL reports whether u is "http://" or "https://", a host name
// of ASCII letters, digits, dots and hyphens, and optionally a path or query
// of URL characters with valid percent escapes: a subset of what webURL
// accepts (FuzzPlainWebURL checks that), without spaces or control
// characters.
func plainWebURL(u string) bool {
	rest, ok := strings.CutPrefix(u, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(u, "http://"); !ok {
			return false
		}
	}
	host := 0
	for host < len(rest) {
		c := rest[host]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			break
		}
		host++
	}
	if host == 0 {
		return false
	}
	rest = rest[host:]
	if rest != "" && rest[0] != '/' && rest[0] != '?' {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9':
		case strings.IndexByte("-._~/?=&+,;:@!$*()'", c) >= 0:
		case c == '%' && i+2 < len(rest) && isHex(rest[i+1]) && isHex(rest[i+2]):
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// readerValues returns rd's fields as the view holds them.
func readerValues(rd Reader) values {
	return values{
		fieldName:        oneLineFast(rd.Name),
		fieldEmail:       oneLineFast(rd.Email),
		fieldUnsubscribe: rd.UnsubscribeURL,
		fieldPreferences: rd.PreferencesURL,
	}
}

// renderFull renders rd's digest by executing the templates with rd's
// fields.
func (p *Prepared) renderFull(rd Reader) (Output, error) {
	return p.r.renderFull(withReader(p.base, rd))
}

// withReader returns in with rd's personal fields.
func withReader(in Input, rd Reader) Input {
	in.Subscriber.Name, in.Subscriber.Email = rd.Name, rd.Email
	in.UnsubscribeURL, in.PreferencesURL = rd.UnsubscribeURL, rd.PreferencesURL
	return in
}

// variant returns the rendering for shape s, making it on first use.
func (p *Prepared) variant(s shape) (*variant, error) {
	lv := &p.shapes[s]
	lv.once.Do(func() { lv.v, lv.err = p.prepare(s) })
	return lv.v, lv.err
}

// prepare renders the digest for readers of shape s twice, with the
// Renderer's two sets of stand-ins for the reader's fields, and splits
// each part of the first rendering at the stand-ins (see splitPart).
func (p *Prepared) prepare(s shape) (*variant, error) {
	r := p.r
	first, second := r.standIns.first[escRaw].only(s), r.standIns.second[escRaw].only(s)
	v, err := r.view(withReader(p.base, readerOfValues(&first)), r.opts.Regions)
	if err != nil {
		return nil, err
	}
	a, err := r.execute(v)
	if err != nil {
		return nil, err
	}
	out := &variant{preheader: v.Preheader}
	if r.slow != "" {
		out.slow = r.slow
		return out, nil
	}
	w := *v
	w.Name, w.Email = second[fieldName], second[fieldEmail]
	w.UnsubscribeURL, w.PreferencesURL = second[fieldUnsubscribe], second[fieldPreferences]
	b, err := r.execute(&w)
	if err != nil {
		out.slow = fmt.Sprintf("the templates fail when the reader's fields change: %v", err)
		return out, nil
	}
	parts := []struct {
		file string
		dst  *spliced
		a, b string
		escs escapingSet
	}{
		{subjectFile, &out.subject, a.subject, b.subject, rawEscapings},
		{htmlFile, &out.html, a.html, b.html, htmlEscapings},
		{textFile, &out.text, a.text, b.text, rawEscapings},
	}
	for _, part := range parts {
		if *part.dst, err = splitPart(part.a, part.b, part.escs, r.standIns, s); err != nil {
			out.slow = fmt.Sprintf("%s: %v", part.file, err)
			return out, nil
		}
	}
	if len(out.subject.slots) == 0 {
		out.subject.static[0] = truncate(out.subject.static[0], subjectMax)
	}
	return out, nil
}

// readerOfValues is the Reader whose fields are vals.
func readerOfValues(vals *values) Reader {
	return Reader{
		Name:           vals[fieldName],
		Email:          vals[fieldEmail],
		UnsubscribeURL: vals[fieldUnsubscribe],
		PreferencesURL: vals[fieldPreferences],
	}
}

// GroupKey returns the key under which readers share one Prepared digest:
// two inputs with the same key render the same digest but for the
// reader's fields (Reader). It is made of the digest date in the reader's
// zone, the reader's configured region codes in their order, and the
// briefs shown, in display order, by ID and update time — so a brief
// edited between two loads must carry a new UpdatedAt. The emptiness of the
// reader's fields is not part of it: a Prepared handles every shape.
// Errors are those of the whole digest: no pass time, an unknown time zone.
func (r *Renderer) GroupKey(in Input) (string, error) {
	if in.Now.IsZero() {
		return "", fmt.Errorf("group key for %s: %w", in.Subscriber.Email, digest.Invalid("", "now", "the pass time is not set"))
	}
	loc, err := r.readerZone(in.Subscriber, r.opts.Regions)
	if err != nil {
		return "", fmt.Errorf("group key for %s: %w", in.Subscriber.Email, err)
	}
	key := make([]byte, 0, 64+24*len(in.Briefs))
	key = in.Now.In(loc).AppendFormat(key, dateLayout)
	key = append(key, '|')
	for _, code := range in.Subscriber.Regions {
		if _, ok := r.opts.Regions.Lookup(code); ok {
			key = append(key, code...)
			key = append(key, ',')
		}
	}
	key = append(key, '|')
	// The briefs in sections' order, by index: sections copies every brief
	// into its sections, which a key needing only ids and versions should
	// not pay for on every reader.
	arrange(r.opts.Regions, in.Subscriber.Regions, in.Briefs, func(_ digest.Region, idx []int) {
		for _, j := range idx {
			b := &in.Briefs[j]
			key = strconv.AppendInt(key, b.ID, 10)
			key = append(key, '@')
			key = strconv.AppendInt(key, b.UpdatedAt.Unix(), 10)
			key = append(key, '.')
			key = strconv.AppendInt(key, int64(b.UpdatedAt.Nanosecond()), 10)
			key = append(key, ',')
		}
	})
	return string(key), nil
}

// dateLayout is the view's Date; ShortDate follows from it.
const dateLayout = "Monday, 2 January 2006"
