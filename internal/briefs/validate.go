package briefs

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Length limits, in characters. They keep a digest scannable and catch
// text pasted into the wrong field.
const (
	maxHeadline = 200  // headline, signal title
	maxLede     = 600  // lede
	maxName     = 200  // author, source name, image credit
	maxAlt      = 500  // image alt text
	maxCaption  = 1000 // image caption
)

// slugPattern is the form of a slug: it appears in URLs and file names.
var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,127}$`)

func checkSlug(s string) string {
	if !slugPattern.MatchString(s) {
		return fmt.Sprintf("%q is not a slug: 1 to 128 lowercase letters, digits and hyphens, starting with a letter or digit", s)
	}
	return ""
}

// line returns a check for one line of plain text of at most max
// characters.
func line(max int) func(string) string {
	return func(s string) string {
		switch {
		case strings.ContainsAny(s, "\r\n"):
			return "must be one line"
		case hasControl(s, ""):
			return "must not contain control characters"
		case utf8.RuneCountInString(s) > max:
			return fmt.Sprintf("is %d characters long; the limit is %d", utf8.RuneCountInString(s), max)
		}
		return ""
	}
}

// paragraph returns a check for one paragraph of plain text of at most max
// characters: line breaks are allowed, blank lines are not.
func paragraph(max int) func(string) string {
	return func(s string) string {
		switch {
		case hasBlankLine(s):
			return "must be one paragraph (no blank lines)"
		case hasControl(s, "\n"):
			return "must not contain control characters"
		case utf8.RuneCountInString(s) > max:
			return fmt.Sprintf("is %d characters long; the limit is %d", utf8.RuneCountInString(s), max)
		}
		return ""
	}
}

// markdown checks Markdown text: anything but control characters other
// than tab and newline, which Markdown gives no meaning and which only end
// up in a file by accident (a lone CR from an old editor, a NUL).
func markdown(s string) string {
	if hasControl(s, "\n\t") {
		return "must not contain control characters other than tab and newline"
	}
	return ""
}

// checkURL returns a check for an absolute http(s) URL with a host, or
// https only. Other schemes (javascript:, data:, file:) would put an unsafe
// link into every reader's mailbox; user info ("https://bank.example@evil.example")
// is a phishing trick.
func checkURL(httpsOnly bool) func(string) string {
	return func(s string) string {
		u, err := url.Parse(s)
		if err != nil || strings.ContainsAny(s, " \t\\") || hasControl(s, "") ||
			(u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "" {
			if httpsOnly {
				return fmt.Sprintf("%q is not an https URL", s)
			}
			return fmt.Sprintf("%q is not an http(s) URL", s)
		}
		if u.User != nil {
			return fmt.Sprintf("%q must not contain a user name or password", s)
		}
		if httpsOnly && u.Scheme != "https" {
			return fmt.Sprintf("%q is not an https URL", s)
		}
		return ""
	}
}

// hasControl reports whether s has a control character (including the
// Unicode line and paragraph separators) other than those in allowed.
func hasControl(s, allowed string) bool {
	for _, r := range s {
		if (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') && !strings.ContainsRune(allowed, r) {
			return true
		}
	}
	return false
}

func hasBlankLine(s string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == "" {
			return true
		}
	}
	return false
}

// trimMarkdown drops blank lines before the text and whitespace after it,
// but keeps the first line's indentation, which Markdown gives a meaning.
func trimMarkdown(s string) string {
	s = strings.TrimRight(s, " \t\n")
	for {
		l, rest, found := strings.Cut(s, "\n")
		if !found || strings.TrimSpace(l) != "" {
			return s
		}
		s = rest
	}
}
