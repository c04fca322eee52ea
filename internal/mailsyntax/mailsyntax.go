// Package mailsyntax checks the small pieces of Internet mail syntax that
// the configuration and the VERP addresses share: RFC 5322 dot-atoms and
// DNS host names. Both are ASCII-only on purpose: they end up in SMTP
// commands and headers.
package mailsyntax

import "strings"

// IsDotAtom reports whether s is RFC 5322 dot-atom text.
func IsDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// IsHostname reports whether s is a DNS host name in ASCII: dot-separated
// labels of letters, digits and inner hyphens, each at most 63 long, at
// most 253 in all. One final dot (a fully qualified name) is allowed.
func IsHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
