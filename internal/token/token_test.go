package token

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newSigner(t *testing.T, seed byte) *Signer {
	t.Helper()
	s, err := NewSigner(bytes.Repeat([]byte{seed}, MinSecretLen))
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func TestNewSignerRefusesShortSecret(t *testing.T) {
	for _, n := range []int{0, 1, MinSecretLen - 1} {
		if _, err := NewSigner(make([]byte, n)); err == nil {
			t.Errorf("NewSigner(%d bytes) = nil error, want refusal", n)
		}
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := newSigner(t, 1)
	tests := []struct {
		purpose string
		id      int64
	}{
		{"unsubscribe", 1},
		{"unsubscribe", 42},
		{"preferences", 42},
		{"preferences", 1<<63 - 1},
	}
	for _, tt := range tests {
		tok := s.Sign(tt.purpose, tt.id)
		if strings.ContainsAny(tok, "+/=%?#& ") {
			t.Errorf("Sign(%q, %d) = %q: not URL-safe", tt.purpose, tt.id, tok)
		}
		if again := s.Sign(tt.purpose, tt.id); again != tok {
			t.Errorf("Sign(%q, %d) not stable: %q then %q", tt.purpose, tt.id, tok, again)
		}
		got, err := s.Verify(tt.purpose, tok)
		if err != nil || got != tt.id {
			t.Errorf("Verify(%q, Sign(%d)) = %d, %v; want %d, nil", tt.purpose, tt.id, got, err, tt.id)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	s := newSigner(t, 1)
	other := newSigner(t, 2)
	good := s.Sign("unsubscribe", 42)
	tests := []struct {
		name, purpose, token string
	}{
		{"empty", "unsubscribe", ""},
		{"other purpose", "preferences", good},
		{"other secret", "unsubscribe", other.Sign("unsubscribe", 42)},
		{"truncated by one", "unsubscribe", good[:len(good)-1]},
		{"extended", "unsubscribe", good + "A"},
		{"padded", "unsubscribe", good + "=="},
		{"with newline", "unsubscribe", good[:10] + "\n" + good[10:]},
		{"standard alphabet", "unsubscribe", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+"},
		{"zero id", "unsubscribe", s.Sign("unsubscribe", 0)},
		{"negative id", "unsubscribe", s.Sign("unsubscribe", -7)},
		{"garbage", "unsubscribe", strings.Repeat("A", len(good))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if id, err := s.Verify(tt.purpose, tt.token); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify(%q) = %d, %v; want ErrInvalidToken", tt.token, id, err)
			}
		})
	}
}

// TestVerifyRefusesEveryAlteration flips every bit of the decoded token and
// every character of the encoded one, and cuts it at every length.
func TestVerifyRefusesEveryAlteration(t *testing.T) {
	s := newSigner(t, 1)
	good := s.Sign("unsubscribe", 42)
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for bit := range 8 {
			flipped := bytes.Clone(raw)
			flipped[i] ^= 1 << bit
			tok := base64.RawURLEncoding.EncodeToString(flipped)
			if _, err := s.Verify("unsubscribe", tok); err == nil {
				t.Errorf("bit %d of byte %d flipped: token accepted", bit, i)
			}
		}
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(good) {
		for _, c := range alphabet {
			if byte(c) == good[i] {
				continue
			}
			tok := good[:i] + string(c) + good[i+1:]
			if _, err := s.Verify("unsubscribe", tok); err == nil {
				t.Errorf("character %d changed to %q: token accepted", i, c)
			}
		}
	}
	for n := range len(good) {
		if _, err := s.Verify("unsubscribe", good[:n]); err == nil {
			t.Errorf("token cut to %d characters accepted", n)
		}
	}
}

func TestTokenCarriesNoAddress(t *testing.T) {
	s := newSigner(t, 1)
	a, b := s.Sign("unsubscribe", 1), s.Sign("unsubscribe", 2)
	if a == b {
		t.Fatal("different subscribers got the same token")
	}
	if len(a) != len(b) {
		t.Errorf("token length depends on the ID: %d and %d", len(a), len(b))
	}
}

func FuzzVerify(f *testing.F) {
	s, err := NewSigner(bytes.Repeat([]byte{7}, MinSecretLen))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct {
		purpose, token string
	}{
		{"unsubscribe", s.Sign("unsubscribe", 1)},
		{"preferences", s.Sign("unsubscribe", 99)},
		{"unsubscribe", ""},
		{"", "AQAAAAAAAAAq"},
		{"unsubscribe", strings.Repeat("_", 34)},
	} {
		f.Add(seed.purpose, seed.token)
	}
	f.Fuzz(func(t *testing.T, purpose, token string) {
		id, err := s.Verify(purpose, token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify error %v is not ErrInvalidToken", err)
			}
			return
		}
		if want := s.Sign(purpose, id); want != token {
			t.Fatalf("Verify(%q, %q) accepted id %d, but Sign gives %q", purpose, token, id, want)
		}
	})
}
