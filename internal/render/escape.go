package render

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
)

// escaping is how a template prints a reader's field: raw in the text and
// subject parts, and in the HTML part through one of the escaper chains
// html/template inserts, depending on where the field stands. Personalize
// reproduces these chains byte for byte (see checkEscapers) so that it can
// splice a reader's values into a digest rendered once.
type escaping uint8

const (
	escRaw      escaping = iota // text/template: printed as is
	escHTML                     // htmlescaper, attrescaper or rcdataescaper: text, quoted attribute, <title>
	escURL                      // urlfilter | urlnormalizer | attrescaper: a whole URL in a quoted attribute
	escURLPart                  // urlnormalizer | attrescaper: within a URL, before its query
	escURLQuery                 // urlescaper | attrescaper: in a URL's query or fragment
	numEscapings
)

// escapingSet is a set of escapings, one bit each.
type escapingSet uint8

func (s escapingSet) has(e escaping) bool { return s&(1<<e) != 0 }

// escapingOf maps the escaper chain html/template appended to an action
// (the names of its trailing commands) to the escaping Personalize
// reproduces; ok is false for contexts it does not (JavaScript, CSS,
// unquoted attributes, comments, srcset), which keep the slow path.
func escapingOf(chain []string) (escaping, bool) {
	switch strings.Join(chain, "|") {
	case "":
		return escRaw, true
	case "_html_template_htmlescaper", "_html_template_attrescaper", "_html_template_rcdataescaper":
		return escHTML, true
	case "_html_template_urlfilter|_html_template_urlnormalizer|_html_template_attrescaper":
		return escURL, true
	case "_html_template_urlnormalizer|_html_template_attrescaper":
		return escURLPart, true
	case "_html_template_urlescaper|_html_template_attrescaper":
		return escURLQuery, true
	}
	return 0, false
}

// filterFailsafe is what html/template's urlfilter puts in place of a URL
// with an unsafe scheme.
const filterFailsafe = "#ZgotmplZ"

// htmlReplacement is html/template's htmlReplacementTable: the only runes
// its HTML, attribute and RCDATA escapers change in a plain string. All are
// ASCII, so a byte loop sees them exactly where a rune loop would.
func htmlReplacement(c byte) string {
	switch c {
	case 0:
		return "\uFFFD"
	case '"':
		return "&#34;"
	case '&':
		return "&amp;"
	case '\'':
		return "&#39;"
	case '+':
		return "&#43;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	}
	return ""
}

// urlKeeps reports whether html/template's URL normalizer (norm) or URL
// escaper (!norm) leaves byte i of s as it is rather than percent-encoding it.
func urlKeeps(s string, i int, norm bool) bool {
	c := s[i]
	switch c {
	case '!', '#', '$', '&', '*', '+', ',', '/', ':', ';', '=', '?', '@', '[', ']':
		return norm
	case '-', '.', '_', '~':
		return true
	case '%':
		return norm && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])
	}
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// safeURL is html/template's isSafeURL: relative, or http, https or mailto.
func safeURL(s string) bool {
	if protocol, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(protocol, "/") {
		return strings.EqualFold(protocol, "http") || strings.EqualFold(protocol, "https") || strings.EqualFold(protocol, "mailto")
	}
	return true
}

// escapedLen is len(escape(e, s)), without building it.
func escapedLen(e escaping, s string) int {
	switch e {
	case escRaw:
		return len(s)
	case escHTML:
		n := len(s)
		for i := 0; i < len(s); i++ {
			if r := htmlReplacement(s[i]); r != "" {
				n += len(r) - 1
			}
		}
		return n
	}
	if e == escURL && !safeURL(s) {
		s = filterFailsafe
	}
	norm := e != escURLQuery
	n := len(s)
	for i := 0; i < len(s); i++ {
		if !urlKeeps(s, i, norm) {
			n += 2 // "%xx"
		} else if r := htmlReplacement(s[i]); r != "" {
			n += len(r) - 1
		}
	}
	return n
}

// writeEscaped appends escape(e, s) to b. A URL escaping runs
// html/template's two steps in one pass: the URL step percent-encodes every
// byte the attribute step would change except '&' and '+', which it keeps
// and the attribute step then turns into entities.
func writeEscaped(b *strings.Builder, e escaping, s string) {
	if e == escRaw {
		b.WriteString(s)
		return
	}
	if e == escHTML {
		written := 0
		for i := 0; i < len(s); i++ {
			if r := htmlReplacement(s[i]); r != "" {
				b.WriteString(s[written:i])
				b.WriteString(r)
				written = i + 1
			}
		}
		b.WriteString(s[written:])
		return
	}
	if e == escURL && !safeURL(s) {
		s = filterFailsafe
	}
	norm := e != escURLQuery
	const hex = "0123456789abcdef" // html/template writes %xx in lower case
	written := 0
	for i := 0; i < len(s); i++ {
		if urlKeeps(s, i, norm) {
			if r := htmlReplacement(s[i]); r != "" {
				b.WriteString(s[written:i])
				b.WriteString(r)
				written = i + 1
			}
			continue
		}
		b.WriteString(s[written:i])
		b.WriteByte('%')
		b.WriteByte(hex[s[i]>>4])
		b.WriteByte(hex[s[i]&15])
		written = i + 1
	}
	b.WriteString(s[written:])
}

// escape returns s as escaping e prints it.
func escape(e escaping, s string) string {
	var b strings.Builder
	b.Grow(escapedLen(e, s))
	writeEscaped(&b, e, s)
	return b.String()
}

// checkEscapers proves that writeEscaped matches html/template on this Go
// version: it runs each supported escaper chain, as html/template itself
// inserts it, over every single byte and over the multi-byte, percent and
// scheme cases where the escapers look beyond one byte. Both sides map
// each byte (a rune, for the HTML escapers, whose table is ASCII only)
// independently, apart from the '%' look-ahead and the scheme filter, which
// the extra samples cover; so agreement here is agreement on any string.
func checkEscapers() error {
	probes := []struct {
		src          string
		prefix, tail string
		want         escaping
	}{
		{`<p>{{.}}</p>`, "<p>", "</p>", escHTML},
		{`<p title="{{.}}">`, `<p title="`, `">`, escHTML},
		{`<title>{{.}}</title>`, "<title>", "</title>", escHTML},
		{`<a href="{{.}}">`, `<a href="`, `">`, escURL},
		{`<a href="/p/{{.}}">`, `<a href="/p/`, `">`, escURLPart},
		{`<a href="/p?q={{.}}">`, `<a href="/p?q=`, `">`, escURLQuery},
	}
	samples := []string{
		"", "é", "名前", "\uFFFD", "\xff\xfe", "a b", "%41", "%4", "%", "%%41", "%zz", "a%4g", "%C3%A9",
		"javascript:alert(1)", "JavaScript:x", "mailto:a@example.com", "HTTPS://example.com/a?b=c&d=e+f#g",
		"http://x/y", "/a:b", "a/b:c", "x:y", ":", "Zoë O'Brien & \"Co\" <b>+1</b>",
	}
	for c := 0; c < 256; c++ {
		samples = append(samples, string([]byte{byte(c)}))
	}
	var buf bytes.Buffer
	for _, p := range probes {
		t, err := htmltemplate.New("probe").Parse(p.src)
		if err != nil {
			return fmt.Errorf("escaper probe %s: %w", p.src, err)
		}
		for _, s := range samples {
			buf.Reset()
			if err := t.Execute(&buf, s); err != nil {
				return fmt.Errorf("escaper probe %s: %w", p.src, err)
			}
			got, okPrefix := strings.CutPrefix(buf.String(), p.prefix)
			got, okTail := strings.CutSuffix(got, p.tail)
			if !okPrefix || !okTail {
				return fmt.Errorf("escaper probe %s: unexpected output %q", p.src, buf.String())
			}
			if mine := escape(p.want, s); mine != got {
				return fmt.Errorf("html/template prints %q in %s as %q, Personalize would write %q", s, p.src, got, mine)
			}
		}
		// The chain html/template chose is the one escapingOf maps to
		// p.want, so a template with the same chain gets the same bytes.
		chain, ok := actionChain(t.Tree.Root)
		if e, known := escapingOf(chain); !ok || !known || e != p.want {
			return fmt.Errorf("html/template escapes %s with %v, expected the %v chain", p.src, chain, p.want)
		}
	}
	return nil
}
