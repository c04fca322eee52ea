package subscribers

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"

	digest "github.com/newsroom/digest"
	"golang.org/x/net/idna"
)

// Limits of RFC 5321 (section 4.5.3.1): longer addresses cannot be used in
// an SMTP transaction.
const (
	maxLocalPart = 64
	maxAddress   = 254
	maxDomain    = 253
	maxLabel     = 63
)

// ValidateEmail checks that s, trimmed, is a plain email address, as a
// reader would type it into a sign-up form, and returns it normalised.
//
// Only a bare addr-spec is accepted: no display name, comment, quoted or
// bracketed part, space or control character, exactly one "@", at most 64
// bytes before it and 254 in all. The domain needs a dot and valid labels;
// Unicode domains are accepted (checked with the IDNA lookup profile) and
// stored in their canonical Unicode form, lowercase, even when typed in
// Punycode, so one mailbox has one spelling. The local part keeps its case:
// some servers tell "Bob" from "bob", and uniqueness is compared
// case-insensitively where addresses are stored.
//
// The error is a *digest.FieldError with Field "email" and Record the
// address as typed.
func ValidateEmail(s string) (string, error) {
	email, reason := normaliseEmail(s)
	if reason != "" {
		return "", &digest.FieldError{Record: recordOf(s), Field: "email", Reason: reason}
	}
	return email, nil
}

// normaliseEmail returns the normalised address, or why s is not one.
func normaliseEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "is required"
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0 {
		return "", "must not contain spaces or control characters"
	}
	local, domain, found := strings.Cut(s, "@")
	switch {
	case !found:
		return "", `has no "@"; an address looks like name@example.org`
	case strings.Contains(domain, "@"):
		return "", `has more than one "@"`
	case local == "":
		return "", `has nothing before the "@"`
	case domain == "":
		return "", `has nothing after the "@"`
	}
	// net/mail decides what an address is; anything it reads differently
	// from what was typed (a display name, comment, quotes, brackets) is
	// refused rather than guessed at.
	if a, err := mail.ParseAddress(s); err != nil || a.Name != "" || a.Address != s {
		return "", "is not a plain address like name@example.org (no display name, comment, quotes or brackets)"
	}
	if len(local) > maxLocalPart {
		return "", fmt.Sprintf(`has more than %d bytes before the "@"`, maxLocalPart)
	}
	domain, ascii, reason := normaliseDomain(domain)
	if reason != "" {
		return "", reason
	}
	email := local + "@" + domain
	// The limit holds for the form on the wire, which is the Punycode one
	// when the server does not speak SMTPUTF8.
	if len(email) > maxAddress || len(local)+1+len(ascii) > maxAddress {
		return "", fmt.Sprintf("is longer than %d bytes", maxAddress)
	}
	// The normalised form must itself be an address net/mail reads back
	// unchanged, since that is what gets stored and mailed.
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return "", "is not a plain address like name@example.org (no display name, comment, quotes or brackets)"
	}
	return email, ""
}

// normaliseDomain checks the part after the "@" and returns its canonical
// Unicode and ASCII (Punycode) forms. The IDNA mapping lowercases it.
func normaliseDomain(domain string) (unicodeForm, ascii, reason string) {
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", "", fmt.Sprintf("domain %q is not a valid domain name", domain)
	}
	if len(ascii) > maxDomain {
		return "", "", fmt.Sprintf("domain %q is longer than %d bytes", domain, maxDomain)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", "", fmt.Sprintf("domain %q has no dot; an address looks like name@example.org", domain)
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabel {
			return "", "", fmt.Sprintf("domain %q is not a valid domain name", domain)
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return "", "", fmt.Sprintf("domain %q is an IP address or ends in a number; a domain name is needed", domain)
	}
	unicodeForm, err = idna.Lookup.ToUnicode(ascii)
	if err != nil {
		return "", "", fmt.Sprintf("domain %q is not a valid domain name", domain)
	}
	return unicodeForm, ascii, ""
}
