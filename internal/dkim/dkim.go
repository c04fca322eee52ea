// Package dkim signs outgoing digests with DKIM (RFC 6376, RFC 8463) so that
// receivers can tie them to the sending domain. It owns the choice of signed
// header fields and canonicalisation, and the loading and checking of the
// private key; the signature itself is computed by
// github.com/emersion/go-msgauth. go-mail's built-in signer is not used: it
// folds the h= tag inside a header name once the tag is longer than about 71
// characters, which breaks the signature for the header set signed here.
//
// The key is held in memory only; nothing in this package logs it or puts
// any of it in an error.
package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// HeaderName is the name of the header field a signature goes in.
const HeaderName = "DKIM-Signature"

// MinRSABits is the smallest RSA key accepted. RFC 8301 makes 1024 bits the
// floor for verifiers; large receivers treat anything under 2048 as weak.
const MinRSABits = 2048

// signedHeaders are the header fields the signature covers, in h= order.
// From, List-Unsubscribe and List-Unsubscribe-Post are listed twice
// ("oversigned"): a signature also covers the absence of a second instance,
// so nobody can add a second From or a second unsubscribe target to a
// signed digest without breaking the signature. A field a message does not
// have (List-Unsubscribe when there is no unsubscribe URL) is signed as
// absent, which likewise stops it from being added.
var signedHeaders = []string{
	"From", "From",
	"To",
	"Subject",
	"Date",
	"Message-ID",
	"List-Id",
	"List-Unsubscribe", "List-Unsubscribe",
	"List-Unsubscribe-Post", "List-Unsubscribe-Post",
	"MIME-Version",
	"Content-Type",
}

// Signer signs messages for one domain and selector. It is safe for
// concurrent use.
type Signer struct {
	domain, selector string
	key              crypto.Signer
}

// NewSigner returns a Signer for the d= domain and s= selector with key, an
// RSA key of at least MinRSABits or an Ed25519 key (LoadKey reads one from
// a PEM file). The public half must be published at
// selector._domainkey.domain as a TXT record "v=DKIM1; k=rsa; p=..." or
// "v=DKIM1; k=ed25519; p=..." (RFC 6376 3.6.1, RFC 8463 4.2).
func NewSigner(domain, selector string, key crypto.Signer) (*Signer, error) {
	if !isDomainName(domain) {
		return nil, fmt.Errorf("dkim: domain %q is not a domain name", domain)
	}
	if !isDomainName(selector) {
		return nil, fmt.Errorf("dkim: selector %q is not dot-separated letters, digits and hyphens", selector)
	}
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return &Signer{domain: strings.ToLower(domain), selector: selector, key: key}, nil
}

// Domain returns the signing domain (d=).
func (s *Signer) Domain() string { return s.domain }

// Selector returns the selector (s=).
func (s *Signer) Selector() string { return s.selector }

// Sign computes the signature of message, a complete message with CRLF line
// ends as it will be sent, and returns the value of the DKIM-Signature
// header field to add to it: folded with CRLF and a space, with no field
// name and no final CRLF. Header fields and body are canonicalised with
// "relaxed", which survives the re-folding and trailing-space changes
// relays make.
func (s *Signer) Sign(message []byte) (string, error) {
	ms, err := msgauth.NewSigner(&msgauth.SignOptions{
		Domain:                 s.domain,
		Selector:               s.selector,
		Signer:                 s.key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
		BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
		HeaderKeys:             signedHeaders,
	})
	if err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	if _, err := ms.Write(message); err != nil {
		_ = ms.Close()
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	if err := ms.Close(); err != nil {
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	field := ms.Signature()
	value, ok := strings.CutPrefix(field, HeaderName+": ")
	if !ok {
		return "", fmt.Errorf("dkim: signer returned an unexpected field %.40q", field)
	}
	return strings.TrimSuffix(value, "\r\n"), nil
}

// checkKey accepts the key types DKIM defines: RSA (RFC 6376) of at least
// MinRSABits, and Ed25519 (RFC 8463).
func checkKey(key crypto.Signer) error {
	if key == nil {
		return errors.New("no private key")
	}
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < MinRSABits {
			return fmt.Errorf("the RSA key has %d bits; DKIM keys need at least %d", bits, MinRSABits)
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("%s keys cannot sign DKIM; use RSA (at least %d bits) or Ed25519", keyKind(pub), MinRSABits)
	}
	return nil
}

// isDomainName reports whether s is an ASCII DNS name: dot-separated
// labels of letters, digits and inner hyphens, each at most 63 long (and
// underscores, which selectors and DKIM domains may contain).
func isDomainName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
