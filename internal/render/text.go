package render

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// oneLine returns s as a single line: control characters (CR, LF, tab, NUL,
// escape sequences…) and Unicode line and paragraph separators become
// spaces, runs of space collapse to one, and the ends are trimmed. Every
// field that data puts on one line (subject, headline, names) goes through
// it, so a stray newline in a brief file cannot split a header or a heading.
func oneLine(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// truncate shortens s to at most max runes, cutting at a word boundary when
// one is near and marking the cut with an ellipsis.
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	runes := []rune(s)[:max-1]
	cut := string(runes)
	if i := strings.LastIndexByte(cut, ' '); i > len(cut)/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,;:·-") + "…"
}

// englishList joins names as prose: "A", "A and B", "A, B and C".
func englishList(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// regionSummary lists names comma-separated within budget runes and counts
// the rest: "Lagos, Brussels +3 more". The first name is always shown.
func regionSummary(names []string, budget int) string {
	if len(names) == 0 {
		return ""
	}
	s := names[0]
	for i := 1; i < len(names); i++ {
		next := s + ", " + names[i]
		if left := len(names) - i - 1; left > 0 {
			next += fmt.Sprintf(" +%d more", left)
		}
		if utf8.RuneCountInString(next) > budget {
			return fmt.Sprintf("%s +%d more", s, len(names)-i)
		}
		s += ", " + names[i]
	}
	return s
}

// webURL reports whether u is an absolute http or https URL with a plain
// ASCII host name (IDNs in punycode) and no user info: the only links the
// digest shows for data-supplied URLs (source links, image sources, the
// unsubscribe and preferences pages). User info is refused because
// "https://bank.example@evil.example/" reads as the wrong host.
func webURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Opaque != "" || p.User != nil || (p.Scheme != "http" && p.Scheme != "https") {
		return false
	}
	host := p.Hostname()
	if host == "" {
		return false
	}
	for _, r := range host {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == ':'
		if !ok {
			return false
		}
	}
	return true
}

// wrap breaks s into lines of at most width runes at spaces. Newlines in s
// are kept as line breaks; a word longer than width (a URL) gets a line of
// its own rather than being split. Only ASCII space and tab separate words,
// so a no-break space keeps "26 November" together.
func wrap(width int, s string) string {
	return strings.Join(wrapLines(s, width), "\n")
}

func wrapLines(s string, width int) []string {
	width = max(width, 20)
	var lines []string
	var line strings.Builder
	for para := range strings.SplitSeq(s, "\n") {
		n := 0
		for _, w := range strings.FieldsFunc(para, func(r rune) bool { return r == ' ' || r == '\t' }) {
			wn := utf8.RuneCountInString(w)
			if n > 0 && n+1+wn > width {
				lines = append(lines, line.String())
				line.Reset()
				n = 0
			}
			if n > 0 {
				line.WriteByte(' ')
				n++
			}
			line.WriteString(w)
			n += wn
		}
		lines = append(lines, line.String())
		line.Reset()
	}
	return lines
}

// hang wraps s so that with prefix before its first line it fits width,
// and aligns later lines under the text after prefix: a hanging indent for
// list items, "  * Title" or "    Sources: A, B".
func hang(prefix string, width int, s string) string {
	n := utf8.RuneCountInString(prefix)
	lines := wrapLines(s, width-n)
	pad := strings.Repeat(" ", n)
	for i := range lines {
		if i == 0 {
			lines[i] = prefix + lines[i]
		} else {
			lines[i] = pad + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

// indent prefixes every non-empty line of s with n spaces.
func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

// underline returns s followed by a line of c as long as s, the plain-text
// section heading: "LAGOS\n=====".
func underline(c string, s string) string {
	return s + "\n" + strings.Repeat(c, utf8.RuneCountInString(s))
}

// tidyText normalises the plain-text part whatever the template did with
// whitespace: no control characters but newline and tab, no trailing
// spaces, at most one blank line in a row, no leading blank lines, one
// final newline.
func tidyText(s string) string {
	if !cleanText(s) {
		s = strings.Map(func(r rune) rune {
			if r == '\n' || r == '\t' {
				return r
			}
			if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) {
				return ' '
			}
			return r
		}, s)
	}
	var out []string
	blank := true // drop leading blank lines
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n") + "\n"
}

// cleanText reports whether tidyText's strings.Map would leave s as it is:
// valid UTF-8 without control characters but newline and tab, nor line or
// paragraph separators. It spares the mapping's per-rune calls on the
// usual text part, which is mostly ASCII.
func cleanText(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < ' ' && c != '\n' && c != '\t' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			return false
		}
		i += n
	}
	return true
}
