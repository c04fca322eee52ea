// Package verp builds and reads VERP envelope senders (variable envelope
// return paths): "bounces+TOKEN@bounces.example.org", one per delivery, so
// that a bounce, which comes back to the envelope sender, says by its
// recipient address alone which delivery failed, whatever the reporting
// server put (or failed to put) in the bounce's body.
//
// The token is opaque here; digest uses a signed delivery id from package
// token, so a forged bounce cannot name a delivery. The mail server that
// receives the bounces must deliver "local+anything@domain" to "local"
// (Postfix: recipient_delimiter = +).
package verp

import (
	"fmt"
	"strings"

	"github.com/newsroom/digest/internal/mailsyntax"
)

// Delimiter separates the bounce address's local part from the token.
const Delimiter = '+'

// MaxLocalPart is the longest local part SMTP allows (RFC 5321 4.5.3.1.1);
// a longer VERP address would be refused by some servers.
const MaxLocalPart = 64

// Address returns the VERP form of bounceAddress for token:
// Address("bounces@example.org", "abc") is "bounces+abc@example.org".
// bounceAddress must be a bare address whose local part is dot-atom text
// without the delimiter; token must be 1 or more of [A-Za-z0-9_-].
func Address(bounceAddress, token string) (string, error) {
	local, domain, err := SplitBounceAddress(bounceAddress)
	if err != nil {
		return "", fmt.Errorf("verp: bounce address %w", err)
	}
	if !validToken(token) {
		return "", fmt.Errorf("verp: token %q: want 1 or more letters, digits, _ or -", token)
	}
	if n := len(local) + 1 + len(token); n > MaxLocalPart {
		return "", fmt.Errorf("verp: address for %q: local part would be %d characters, over SMTP's %d", bounceAddress, n, MaxLocalPart)
	}
	return local + string(Delimiter) + token + "@" + domain, nil
}

// Token returns the token of a VERP address made by Address, as it was
// given (tokens are case-sensitive); ok is false when addr is not
// "local+TOKEN@domain" with a valid token.
func Token(addr string) (token string, ok bool) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", false
	}
	local, domain := addr[:at], addr[at+1:]
	if !isHostname(domain) {
		return "", false
	}
	plus := strings.IndexByte(local, Delimiter)
	if plus <= 0 || !mailsyntax.IsDotAtom(local[:plus]) {
		return "", false
	}
	token = local[plus+1:]
	if !validToken(token) {
		return "", false
	}
	return token, true
}

// SplitBounceAddress checks that addr can carry VERP tokens and splits it
// into local part and domain: a bare ASCII address, local part dot-atom
// text without the delimiter, domain a host name with at least one dot.
// The error quotes addr and says what is wrong with it.
func SplitBounceAddress(addr string) (local, domain string, err error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || strings.ContainsAny(addr, " \t<>\"(),:;[]\\") || !isASCIIPrintable(addr) {
		return "", "", fmt.Errorf("%q is not a bare address like bounces@bounces.example.org", addr)
	}
	local, domain = addr[:at], addr[at+1:]
	switch {
	case !mailsyntax.IsDotAtom(local):
		return "", "", fmt.Errorf("%q: the part before @ must be letters, digits and ._- without leading, trailing or double dots", addr)
	case strings.IndexByte(local, Delimiter) >= 0:
		return "", "", fmt.Errorf("%q: the part before @ must not contain %q, which starts the per-message token", addr, Delimiter)
	case len(local) >= MaxLocalPart:
		return "", "", fmt.Errorf("%q: the part before @ leaves no room for a token within SMTP's %d characters", addr, MaxLocalPart)
	case !isHostname(domain):
		return "", "", fmt.Errorf("%q: %q is not a domain name", addr, domain)
	}
	return local, domain, nil
}

func isASCIIPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isHostname reports whether s is an ASCII DNS name of at least two
// labels, without a final dot: the domain of an address.
func isHostname(s string) bool {
	return strings.Contains(s, ".") && !strings.HasSuffix(s, ".") && mailsyntax.IsHostname(s)
}
