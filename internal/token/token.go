// Package token signs and verifies the opaque tokens that personal links
// (one-click unsubscribe, preferences) carry in place of an email address.
//
// A token is the unpadded base64url encoding of
//
//	version (1 byte) | subscriber ID (8 bytes, big-endian) | MAC (16 bytes)
//
// where MAC is HMAC-SHA256, truncated to 128 bits, over version|ID|purpose
// under a key derived from the secret for that purpose. Tokens name a
// subscriber by ID only, so a forwarded or logged link leaks no address;
// they do not expire, because RFC 8058 unsubscribe links must keep working for
// as long as the message sits in a mailbox.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// MinSecretLen is the shortest secret NewSigner accepts: 256 bits, the size
// of the HMAC-SHA256 output, so the secret is never the weak link.
const MinSecretLen = 32

// ErrInvalidToken is returned by Verify for every token it refuses: forged,
// altered, truncated, for another purpose or signed with another secret. One
// error for all of them, so a caller cannot leak which check failed.
var ErrInvalidToken = errors.New("invalid token")

const (
	version = 1
	idLen   = 8
	macLen  = 16
	rawLen  = 1 + idLen + macLen
)

// encoding is unpadded base64url: safe in a URL path without escaping.
var encoding = base64.RawURLEncoding

// Signer signs and verifies tokens with one secret. It is safe for
// concurrent use.
type Signer struct {
	secret []byte
}

// NewSigner returns a Signer for secret, which must be at least
// MinSecretLen bytes of random data. The secret is copied.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("token secret: %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	return &Signer{secret: append([]byte(nil), secret...)}, nil
}

// Sign returns the token for subscriberID and purpose (e.g. "unsubscribe").
// The same inputs always give the same token. Subscriber IDs are positive;
// a token for an ID of zero or less never verifies.
func (s *Signer) Sign(purpose string, subscriberID int64) string {
	raw := make([]byte, 1+idLen, rawLen)
	raw[0] = version
	binary.BigEndian.PutUint64(raw[1:], uint64(subscriberID))
	raw = append(raw, s.mac(purpose, raw)...)
	return encoding.EncodeToString(raw)
}

// Verify returns the subscriber ID a token was signed for, or
// ErrInvalidToken when the token was not produced by Sign with this secret
// and purpose.
func (s *Signer) Verify(purpose, token string) (int64, error) {
	if encoding.EncodedLen(rawLen) != len(token) {
		return 0, ErrInvalidToken
	}
	raw, err := encoding.DecodeString(token)
	if err != nil || len(raw) != rawLen || raw[0] != version {
		return 0, ErrInvalidToken
	}
	// base64 decoding is lenient (stray CR/LF, non-zero padding bits), so
	// insist on the one canonical spelling: an accepted token is exactly the
	// string Sign returns, never a look-alike.
	if encoding.EncodeToString(raw) != token {
		return 0, ErrInvalidToken
	}
	body, mac := raw[:1+idLen], raw[1+idLen:]
	if !hmac.Equal(mac, s.mac(purpose, body)) {
		return 0, ErrInvalidToken
	}
	id := int64(binary.BigEndian.Uint64(body[1:]))
	if id <= 0 {
		return 0, ErrInvalidToken
	}
	return id, nil
}

// mac returns the truncated MAC of body (version|ID) for purpose. The key is
// derived per purpose, and the purpose is also part of the MAC input, so a
// token for one purpose can never stand in for another.
func (s *Signer) mac(purpose string, body []byte) []byte {
	kdf := hmac.New(sha256.New, s.secret)
	kdf.Write([]byte("digest link token key\x00"))
	kdf.Write([]byte(purpose))
	key := kdf.Sum(nil)

	m := hmac.New(sha256.New, key)
	m.Write(body)
	m.Write([]byte(purpose))
	return m.Sum(nil)[:macLen]
}
