package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/dkim"
	"github.com/newsroom/digest/internal/mailsyntax"
	"github.com/newsroom/digest/internal/verp"
)

// minSecretLen is the shortest link-signing key accepted: 32 bytes, the
// size of an HMAC-SHA256 key.
const minSecretLen = 32

// regionCode is the form of a region code: short, lowercase, usable in
// URLs, flags and file front matter without quoting.
var regionCode = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Validate reports every problem of the configuration at once: an
// errors.Join of *digest.FieldError whose Field is the dotted YAML key
// ("smtp.port"). It reads nothing but the templates directory and the DKIM
// key file, and never puts a secret's value (nor any of the key) in a
// message.
func (c *Config) Validate() error {
	probs := c.problems()
	errs := make([]error, len(probs))
	for i, e := range probs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// problems lists the configuration's problems in key order.
func (c *Config) problems() []*digest.FieldError {
	var v problems
	if c.Database == "" {
		v.add("database", "is required, e.g. digest.db")
	}
	baseURL := checkBaseURL(c.BaseURL)
	v.check("base_url", baseURL)
	v.check("from", checkFrom(c.From))
	// An empty list_id derives from base_url: when that is what is
	// wrong, one message about base_url says it all.
	if c.ListID != "" || baseURL == "" {
		v.check("list_id", checkListID(c.ListID))
	}
	v.check("postal_address", checkPostalAddress(c.PostalAddress))
	switch {
	case c.Secret == "":
		v.add("secret", "is required: at least %d random bytes from the environment, e.g. ${DIGEST_SECRET}", minSecretLen)
	case len(c.Secret) < minSecretLen:
		v.add("secret", "must be at least %d bytes long", minSecretLen)
	}
	v.check("schedule", checkSchedule(c.Schedule))
	if c.SendTime.Hour < 0 || c.SendTime.Hour > 23 || c.SendTime.Minute < 0 || c.SendTime.Minute > 59 {
		v.add("send_time", "%s is not a time of day between 00:00 and 23:59", c.SendTime)
	}
	if c.FirstDigestLookback <= 0 {
		v.add("first_digest_lookback", "must be positive, e.g. 24h")
	}
	if c.LateBriefGrace < 0 {
		v.add("late_brief_grace", "must not be negative, e.g. 6h (0 turns it off)")
	}
	v.check("templates_dir", checkDir(c.TemplatesDir))
	v.check("http.listen", checkListen(c.HTTP.Listen))
	c.SMTP.problems(&v)
	if c.BounceAddress != "" {
		if _, _, err := verp.SplitBounceAddress(c.BounceAddress); err != nil {
			v.add("bounce_address", "%v", err)
		}
	}
	c.dkimProblems(&v)
	c.Delivery.problems(&v)
	if c.Bounces.SoftThreshold < 0 {
		v.add("bounces.soft_threshold", "must not be negative (0 never marks a reader bounced for soft bounces)")
	}
	c.OptIn.problems(&v)
	c.regionProblems(&v)
	for _, e := range v {
		e.Reason = c.redactSecrets(e.Reason)
	}
	return v
}

// redactSecrets hides the secrets in a message that quotes a value. Only a
// mistake puts them there, such as from: ${DIGEST_SECRET}, but a message
// is logged and pasted into tickets, so it must not carry them even then.
func (c *Config) redactSecrets(s string) string {
	for _, secret := range []string{c.Secret, c.SMTP.Password} {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

func (s *SMTP) problems(v *problems) {
	switch {
	case s.Host == "":
		v.add("smtp.host", "is required, e.g. smtp.example.org")
	case !isHostOrIP(s.Host):
		v.add("smtp.host", "%q is not a host name or IP address (give the port as smtp.port)", s.Host)
	}
	// Port 0 derives from TLS; if TLS is unknown, its own message says so.
	knownTLS := s.TLS == TLSStartTLS || s.TLS == TLSImplicit || s.TLS == TLSNone
	if (s.Port != 0 || knownTLS) && (s.Port < 1 || s.Port > 65535) {
		v.add("smtp.port", "%d is not a port number between 1 and 65535", s.Port)
	}
	switch s.TLS {
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if s.Host != "" && !isLoopback(s.Host) {
			v.add("smtp.tls", "%q is only allowed when smtp.host is a loopback address (localhost, 127.0.0.1, ::1): mail and passwords would cross the network unencrypted", TLSNone)
		}
	default:
		v.add("smtp.tls", "%q is not one of %s, %s, %s", s.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}
	switch {
	case s.Username != "" && s.Password == "":
		v.add("smtp.password", "is required when smtp.username is set, e.g. ${DIGEST_SMTP_PASSWORD}")
	case s.Username == "" && s.Password != "":
		v.add("smtp.username", "is required when smtp.password is set")
	}
	if hasControl(s.Username, "") {
		v.add("smtp.username", "must not contain control characters")
	}
	if s.Timeout <= 0 {
		v.add("smtp.timeout", "must be positive, e.g. 30s")
	}
	if s.HELO != "" && !mailsyntax.IsHostname(s.HELO) {
		v.add("smtp.helo", "%q is not a host name", s.HELO)
	}
}

// dkimProblems checks the dkim block: all keys or none, a signing domain
// DMARC will count for from, and a key file that LoadKey accepts.
func (c *Config) dkimProblems(v *problems) {
	d := c.DKIM
	if !d.Enabled() {
		return
	}
	switch {
	case d.Domain == "":
		v.add("dkim.domain", "is required to sign with DKIM, e.g. example.org (the domain of from or a parent of it)")
	case !mailsyntax.IsHostname(d.Domain) || !strings.Contains(strings.TrimSuffix(d.Domain, "."), "."):
		v.add("dkim.domain", "%q is not a domain name like example.org", d.Domain)
	default:
		v.check("dkim.domain", checkAlignment(d.Domain, c.From))
	}
	switch {
	case d.Selector == "":
		v.add("dkim.selector", "is required to sign with DKIM, e.g. digest2026 (the public key is published at SELECTOR._domainkey.DOMAIN)")
	case !mailsyntax.IsHostname(d.Selector) || strings.HasSuffix(d.Selector, "."):
		v.add("dkim.selector", "%q is not a selector: letters, digits and hyphens, with dots between labels", d.Selector)
	}
	if d.PrivateKeyFile == "" {
		v.add("dkim.private_key_file", "is required to sign with DKIM: the path of a PEM private key (RSA of at least %d bits, or Ed25519)", dkim.MinRSABits)
		return
	}
	if _, err := dkim.LoadKey(d.PrivateKeyFile); err != nil {
		var ke *dkim.KeyError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			v.add("dkim.private_key_file", "%q does not exist", d.PrivateKeyFile)
		case errors.As(err, &ke):
			v.add("dkim.private_key_file", "%q: %v", d.PrivateKeyFile, ke.Err)
		default:
			v.add("dkim.private_key_file", "%q: %v", d.PrivateKeyFile, err)
		}
	}
}

// checkAlignment checks that a DKIM signature by domain aligns with the
// From address (DMARC relaxed alignment, RFC 7489 3.1.1): domain must be
// from's domain or a parent of it, and not a public suffix such as "org"
// or "co.uk", which nobody can publish keys for. An unreadable from is
// reported under its own key.
func checkAlignment(domain, from string) string {
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return ""
	}
	fromDomain := strings.ToLower(addr.Address[strings.LastIndexByte(addr.Address, '@')+1:])
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if suffix, _ := publicsuffix.PublicSuffix(domain); suffix == domain {
		return fmt.Sprintf("%q is a public suffix, not a domain of your own; sign with %q or a parent of it", domain, fromDomain)
	}
	if domain != fromDomain && !strings.HasSuffix(fromDomain, "."+domain) {
		return fmt.Sprintf("%q is neither the domain of from (%q) nor a parent of it: DMARC would not count the signature", domain, fromDomain)
	}
	return ""
}

func (c *Config) regionProblems(v *problems) {
	if len(c.Regions) == 0 {
		v.add("regions", "at least one region is required")
		return
	}
	first := map[string]int{}
	for i, r := range c.Regions {
		f := fmt.Sprintf("regions[%d]", i)
		switch j, dup := first[r.Code]; {
		case r.Code == "":
			v.add(f+".code", "is required")
		case !regionCode.MatchString(r.Code):
			v.add(f+".code", "%q must be 1 to 32 lowercase letters, digits or hyphens, starting with a letter", r.Code)
		case dup:
			v.add(f+".code", "%q is already the code of regions[%d]", r.Code, j)
		default:
			first[r.Code] = i
		}
		switch {
		case r.Name == "":
			v.add(f+".name", "is required")
		case hasControl(r.Name, ""):
			v.add(f+".name", "must be one line without control characters")
		}
		v.check(f+".timezone", checkZone(r))
	}
}

// problems collects field errors in the order they are found.
type problems []*digest.FieldError

func (v *problems) add(field, format string, args ...any) {
	*v = append(*v, &digest.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// check adds reason, if any, as a problem of field.
func (v *problems) check(field, reason string) {
	if reason != "" {
		*v = append(*v, &digest.FieldError{Field: field, Reason: reason})
	}
}

func (d *Delivery) problems(v *problems) {
	if d.Concurrency < 1 || d.Concurrency > 64 {
		v.add("delivery.concurrency", "must be between 1 and 64, e.g. 4")
	}
	if d.Rate < 0 {
		v.add("delivery.rate", "must not be negative (0 means no limit)")
	}
	if d.MaxAttempts < 1 || d.MaxAttempts > 100 {
		v.add("delivery.max_attempts", "must be between 1 and 100, e.g. 8")
	}
	if d.RetryWindow <= 0 {
		v.add("delivery.retry_window", "must be positive, e.g. 4h")
	}
	if d.MaxLateness <= 0 {
		v.add("delivery.max_lateness", "must be positive, e.g. 6h")
	}
	if d.ShutdownGrace <= 0 || d.ShutdownGrace > 10*time.Minute {
		v.add("delivery.shutdown_grace", "must be between 1s and 10m, e.g. 30s")
	}
}

// maxConsentTextVersion is the longest optin.consent_text_version, in
// characters: a label such as "2026-03" or "signup-form-v4", not the text.
const maxConsentTextVersion = 100

func (o *OptIn) problems(v *problems) {
	if o.ExpireAfter <= 0 {
		v.add("optin.expire_after", "must be positive, e.g. 168h")
	}
	switch n := len([]rune(o.ConsentTextVersion)); {
	case hasControl(o.ConsentTextVersion, ""):
		v.add("optin.consent_text_version", "must be one line without control characters")
	case n > maxConsentTextVersion:
		v.add("optin.consent_text_version", "is %d characters long; the limit is %d", n, maxConsentTextVersion)
	}
}
