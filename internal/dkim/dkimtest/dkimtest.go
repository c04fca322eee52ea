// Package dkimtest publishes a DKIM key the way a receiver looks it up, for
// tests that verify signatures with go-msgauth. It needs nothing of dkim
// itself: the record is the public key, encoded as RFC 6376 and RFC 8463
// say.
package dkimtest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
)

// PublicKeyRecord returns the DNS TXT record that publishes the public half
// of key at SELECTOR._domainkey.DOMAIN: "v=DKIM1; k=rsa; p=MIIBIjAN..." or
// "v=DKIM1; k=ed25519; p=...".
func PublicKeyRecord(key crypto.Signer) (string, error) {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		// RFC 6376 3.6.1: the RSA key is a DER SubjectPublicKeyInfo.
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("encode DKIM public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		// RFC 8463 4.2: the raw 32-byte Ed25519 key.
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("no DKIM record for a %T key", key.Public())
}

// LookupTXT answers go-msgauth's DNS lookup (VerifyOptions.LookupTXT) with
// key's record at selector._domainkey.domain, and with an error for any
// other name.
func LookupTXT(domain, selector string, key crypto.Signer) (func(name string) ([]string, error), error) {
	record, err := PublicKeyRecord(key)
	if err != nil {
		return nil, err
	}
	want := selector + "._domainkey." + domain
	return func(name string) ([]string, error) {
		if name != want {
			return nil, fmt.Errorf("no TXT record at %s", name)
		}
		return []string{record}, nil
	}, nil
}
