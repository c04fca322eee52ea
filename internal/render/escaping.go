package render

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
)

// escaping is how a part of the digest prints a reader's field: as it is in
// the subject and text parts (text/template prints a string unchanged), or
// in the HTML part as html/template escapes it in one of the contexts
// below. html/template decides each action's context once, from the
// template's text, so every reader's value at one place in the HTML gets
// the same escaping; Prepare finds out which (see splitPart).
type escaping uint8

const (
	escRaw      escaping = iota // subject and text parts
	escText                     // HTML text, also <title> and <textarea>
	escAttr                     // a quoted attribute value
	escURL                      // a whole URL in a quoted URL attribute (href, src)
	escURLPath                  // inside such a URL, before its query
	escURLQuery                 // in such a URL's query or fragment
	numEscapings
)

// escapingSet is a set of escapings, one bit each.
type escapingSet uint8

func (s escapingSet) has(e escaping) bool { return s&(1<<e) != 0 }

// The escapings each part can print a reader's field with: Prepare tries
// them in the order of escaping.
const (
	rawEscapings  escapingSet = 1 << escRaw
	htmlEscapings escapingSet = 1<<escText | 1<<escAttr | 1<<escURL | 1<<escURLPath | 1<<escURLQuery
)

// String names the context, for an operator reading why a digest is
// rendered in full.
func (e escaping) String() string {
	switch e {
	case escRaw:
		return "plain text"
	case escText:
		return "HTML text"
	case escAttr:
		return "a quoted attribute"
	case escURL:
		return "a URL attribute"
	case escURLPath:
		return "the path of a URL attribute"
	case escURLQuery:
		return "the query of a URL attribute"
	}
	return fmt.Sprintf("escaping(%d)", e)
}

// source is the small html/template template that prints its data in
// context e, and nothing else but fixed text.
func (e escaping) source() string {
	switch e {
	case escText:
		return `{{.}}`
	case escAttr:
		return `<p title="{{.}}">`
	case escURL:
		return `<a href="{{.}}">`
	case escURLPath:
		return `<a href="/{{.}}">`
	case escURLQuery:
		return `<a href="?{{.}}">`
	}
	return ""
}

// escaper prints a value in one HTML context through html/template itself,
// so that a spliced digest escapes each reader's value exactly as executing
// the whole template would, without knowing how html/template escapes.
type escaper struct {
	t              *htmltemplate.Template
	prefix, suffix string // the template's fixed output around the value
}

// escapers holds one escaper per HTML context; each is parsed once per
// Renderer and, like any html/template template, safe for concurrent use.
type escapers [numEscapings]escaper

func newEscapers() (*escapers, error) {
	var es escapers
	for e := escText; e < numEscapings; e++ {
		src := e.source()
		t, err := htmltemplate.New(e.String()).Parse(src)
		if err != nil {
			return nil, fmt.Errorf("parse the template for %s: %w", e, err)
		}
		prefix, suffix, _ := strings.Cut(src, "{{.}}")
		es[e] = escaper{t: t, prefix: prefix, suffix: suffix}
	}
	return &es, nil
}

// escape returns s as escaping e prints it.
func (es *escapers) escape(e escaping, s string) (string, error) {
	if e == escRaw {
		return s, nil
	}
	x := &es[e]
	var b strings.Builder
	b.Grow(len(x.prefix) + len(s) + len(s)/4 + len(x.suffix))
	if err := x.t.Execute(&b, s); err != nil {
		return "", fmt.Errorf("escape for %s: %w", e, err)
	}
	out, ok := strings.CutPrefix(b.String(), x.prefix)
	if ok {
		out, ok = strings.CutSuffix(out, x.suffix)
	}
	if !ok {
		return "", fmt.Errorf("escape for %s: html/template printed %q around the value, not %q and %q", e, b.String(), x.prefix, x.suffix)
	}
	return out, nil
}
