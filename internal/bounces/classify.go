package bounces

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/newsroom/digest/internal/verp"
)

// addrPattern matches an addr-spec as it appears in bounce text: a dot-atom
// local part and a domain with at least one dot.
const addrPattern = `[A-Za-z0-9!#$%&'*+/=?^_{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+`

var (
	addrRE     = regexp.MustCompile(addrPattern)
	fullAddrRE = regexp.MustCompile(`^` + addrPattern + `$`)
)

// normalizeAddr returns addr without brackets, with its domain lowercased, or
// "" when it is not an address.
func normalizeAddr(addr string) string {
	addr = strings.TrimSpace(addr)
	addr = strings.TrimPrefix(addr, "<")
	addr = strings.TrimSuffix(addr, ">")
	addr = strings.TrimSuffix(strings.TrimSpace(addr), ".")
	if len(addr) > 254 || !fullAddrRE.MatchString(addr) {
		return ""
	}
	at := strings.LastIndexByte(addr, '@')
	return addr[:at] + "@" + strings.ToLower(addr[at+1:])
}

// addressesIn returns the addresses of an address-list header value, falling
// back to every address-looking token when the list does not parse.
func addressesIn(v string) []string {
	var out []string
	if list, err := mail.ParseAddressList(v); err == nil {
		for _, a := range list {
			if n := normalizeAddr(a.Address); n != "" {
				out = append(out, n)
			}
		}
		return out
	}
	for _, a := range addrRE.FindAllString(v, 50) {
		if n := normalizeAddr(a); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// typedValue strips the "type;" prefix of a DSN or ARF field value
// ("rfc822; a@b", "smtp; 550 ...", "dns; mx.example.org").
func typedValue(v string) string {
	if t, rest, ok := strings.Cut(v, ";"); ok {
		t = strings.TrimSpace(t)
		if t != "" && len(t) <= 20 && !strings.ContainsAny(t, " \t<@") {
			return strings.TrimSpace(rest)
		}
	}
	return strings.TrimSpace(v)
}

// codeMatch is a status code found in text, with its offset.
type codeMatch struct {
	code string
	at   int
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isWordByte(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

// enhancedCodes returns the RFC 3463 codes of class 4 or 5 in s ("5.1.1",
// "4.7.650"), skipping digits that are part of IP addresses or versions.
func enhancedCodes(s string) []codeMatch {
	var out []codeMatch
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '4' && c != '5' {
			continue
		}
		if i > 0 && (isWordByte(s[i-1]) || s[i-1] == '.') {
			continue
		}
		j := i + 1
		ok := true
		for part := 0; part < 2 && ok; part++ {
			if j >= len(s) || s[j] != '.' {
				ok = false
				break
			}
			j++
			n := 0
			for j < len(s) && isDigit(s[j]) && n < 4 {
				j++
				n++
			}
			ok = n >= 1 && n <= 3
		}
		if !ok || j < len(s) && (isWordByte(s[j]) || s[j] == '.' && j+1 < len(s) && isDigit(s[j+1])) {
			continue
		}
		out = append(out, codeMatch{code: s[i:j], at: i})
		i = j - 1
	}
	return out
}

// replyCodes returns the SMTP reply codes 4xx or 5xx in s ("550", "421").
func replyCodes(s string) []codeMatch {
	var out []codeMatch
	for i := 0; i+3 <= len(s); i++ {
		c := s[i]
		if c != '4' && c != '5' || !isDigit(s[i+1]) || !isDigit(s[i+2]) || s[i+1] > '5' {
			continue
		}
		if i > 0 {
			p := s[i-1]
			okBefore := p == ' ' || p == '\t' || p == '\'' || p == '"' || p == '(' || p == '#' || p == '['
			if p == ':' && i > 1 && s[i-2] == ' ' {
				okBefore = true
			}
			if !okBefore {
				continue
			}
		}
		if i+3 < len(s) {
			n := s[i+3]
			if !(n == ' ' || n == '\t' || n == '-' || n == ':' || n == ',' || n == ')' || n == '\'' || n == ']' || n == ';' || n == '.' && (i+4 >= len(s) || !isDigit(s[i+4]))) {
				continue
			}
		}
		out = append(out, codeMatch{code: s[i : i+3], at: i})
		i += 2
	}
	return out
}

// statusIn returns the status code of a DSN Status value ("5.0.0 (permanent
// failure)" gives "5.0.0"), or "".
func statusIn(v string) string {
	v = strings.TrimSpace(v)
	for _, c := range enhancedCodes(v) {
		return c.code
	}
	// Status may name class 2 (success) too, which enhancedCodes skips.
	if len(v) >= 5 && v[0] == '2' && v[1] == '.' {
		if f := strings.Fields(v); len(f) > 0 {
			return f[0]
		}
	}
	return ""
}

// refineStatus replaces a generic "x.0.0" status with the most specific code
// of the same class in the remote server's words: several MTAs report 5.0.0
// while quoting "550 5.1.1 user unknown".
func refineStatus(status, diag string) string {
	if status != "" && !strings.HasSuffix(status, ".0.0") {
		return status
	}
	best := status
	for _, c := range enhancedCodes(diag) {
		if strings.HasSuffix(c.code, ".0.0") || status != "" && c.code[0] != status[0] {
			continue
		}
		best = c.code // the last one is the innermost quote, the remote's own
	}
	return best
}

var (
	// softPhrases are failures of the moment or of this message, not of the
	// address: the same address can take tomorrow's digest.
	softPhrases = []string{
		"mailbox full", "mailbox is full", "mail box full", "over quota", "quota exceeded",
		"exceeded storage", "out of storage", "insufficient storage", "exceeds the quota",
		"greylist", "graylist", "try again later", "temporarily", "temporary failure",
		"message too large", "message size exceeds", "exceeds the maximum message size",
		"envelope expired", "message expired", "retry timeout exceeded", "timed out",
	}
	// hardPhrases say the address itself is gone.
	hardPhrases = []string{
		"user unknown", "unknown user", "no such user", "no such mailbox", "does not exist",
		"unknown recipient", "recipient not found", "address not found", "invalid address",
		"invalid recipient", "mailbox unavailable", "mailbox not found", "account disabled",
		"account is disabled", "account has been disabled", "is inactive", "host not found",
		"domain not found", "illegal user", "failed permanently", "permanent error",
		"permanent failure",
	}
	// delayPhrases are in warnings about mail still being retried.
	delayPhrases = []string{
		"has been delayed", "have been delayed", "delivery delayed", "will be retried",
		"will retry", "warning message only", "not yet been delivered", "still being retried",
		"will continue trying", "delayed mail",
	}
)

func containsAny(lower string, phrases []string) bool {
	for _, p := range phrases {
		if strings.Contains(lower, p) {
			return true
		}
	}
	return false
}

// softDetail reports enhanced codes that are permanent in class yet not about
// the address: mailbox full (x.2.2) and message too big (x.2.3, x.3.4).
func softDetail(status string) bool {
	if len(status) < 5 {
		return false
	}
	d := status[1:]
	return d == ".2.2" || d == ".2.3" || d == ".3.4"
}

// kindOf classifies one failure from its status code and the server's words.
// Order matters: a delay is soft whatever it says; "mailbox full" is soft
// even under a 5.x.x (many servers use 552/5.2.2 for a full mailbox); then
// the class of the enhanced code, of the reply code, and the wording.
func kindOf(delayed bool, status, text string) Kind {
	lower := strings.ToLower(text)
	switch {
	case delayed:
		return Soft
	case softDetail(status) || containsAny(lower, softPhrases):
		return Soft
	case strings.HasPrefix(status, "4."):
		return Soft
	case strings.HasPrefix(status, "5."):
		return Hard
	}
	if codes := replyCodes(text); len(codes) > 0 {
		if codes[0].code[0] == '4' {
			return Soft
		}
		return Hard
	}
	switch {
	case containsAny(lower, hardPhrases):
		return Hard
	case containsAny(lower, delayPhrases):
		return Soft
	}
	return Hard
}

// maxDiagnostic is the longest Diagnostic kept, in characters.
const maxDiagnostic = 500

// cleanDiagnostic makes s one trimmed line of at most maxDiagnostic
// characters: every run of spaces and control characters becomes one space.
func cleanDiagnostic(s string) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			if r == utf8.RuneError {
				continue
			}
			space = b.Len() > 0
			continue
		}
		if space {
			if n+1 >= maxDiagnostic {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		if n >= maxDiagnostic {
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// fromCode returns s from its first status or reply code on, so that the
// Diagnostic starts with the remote server's words rather than the reporting
// MTA's preamble ("host mx.example.org [192.0.2.1]: 550 5.1.1 ..." gives
// "550 5.1.1 ...").
func fromCode(s string) (string, bool) {
	at := -1
	if c := replyCodes(s); len(c) > 0 {
		at = c[0].at
	}
	found := at >= 0
	for _, c := range enhancedCodes(s) {
		found = true
		// qmail closes its own words with "(#5.5.0)"; cutting there
		// would lose them.
		if c.at > 0 && s[c.at-1] == '#' {
			continue
		}
		if at < 0 || c.at < at {
			at = c.at
		}
		break
	}
	if at < 0 {
		return s, found
	}
	d := s[at:]
	// "returned '550 5.1.10 …'" : drop the closing quote of the opening one.
	if at > 0 && (s[at-1] == '\'' || s[at-1] == '"') {
		d = strings.TrimSuffix(strings.TrimRight(d, " \t"), s[at-1:at])
	}
	return d, true
}

var msgIDRE = regexp.MustCompile(`<[^<>\s]+>`)

// normalizeMessageID returns a Message-ID in angle brackets, or "".
func normalizeMessageID(v string) string {
	v = strings.TrimSpace(v)
	if m := msgIDRE.FindString(v); m != "" {
		return m
	}
	if v == "" || strings.ContainsAny(v, " \t<>") || len(v) > 998 {
		return ""
	}
	return "<" + v + ">"
}

// verpToken returns the token of addr when it is a VERP address as
// internal/verp builds them ("local+TOKEN@domain"), else "": a token in any
// other form cannot name a delivery, so looking goes on to the next address.
func verpToken(addr string) string {
	tok, _ := verp.Token(addr)
	return tok
}

// parseDate reads an RFC 5322 date, also the forms with a trailing zone
// comment that net/mail refuses; zero when it cannot.
func parseDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t
	}
	if i := strings.IndexByte(v, '('); i > 0 {
		if t, err := mail.ParseDate(strings.TrimSpace(v[:i])); err == nil {
			return t
		}
	}
	return time.Time{}
}
