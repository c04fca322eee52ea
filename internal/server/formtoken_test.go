package server

import (
	"bytes"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/token"
)

// FuzzFormToken: no string panics the form-token check, and none passes
// but the token the server issued for that subscriber.
func FuzzFormToken(f *testing.F) {
	signer, err := token.NewSigner(bytes.Repeat([]byte{3}, token.MinSecretLen))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	s := New(&fakeStore{}, signer, Options{Now: func() time.Time { return now }}, nil)
	good := s.formToken(42)
	f.Add(good)
	f.Add("")
	f.Add(".")
	f.Add("1795683600.")
	f.Add("01795683600." + good[len("1795683600."):])
	f.Add("-1." + good)
	f.Add("99999999999999999999.x")
	f.Fuzz(func(t *testing.T, tok string) {
		if err := s.checkFormToken(42, tok); err == nil && tok != good {
			t.Fatalf("form token %q accepted; only %q was issued", tok, good)
		}
	})
}

func TestFormTokenAge(t *testing.T) {
	signer, err := token.NewSigner(bytes.Repeat([]byte{3}, token.MinSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	s := New(&fakeStore{}, signer, Options{Now: func() time.Time { return now }}, nil)
	tok := s.formToken(42)
	tests := []struct {
		age  time.Duration
		want error
	}{
		{0, nil},
		{formTokenTTL, nil},
		{formTokenTTL + time.Second, errFormTokenExpired},
		{-formTokenSkew, nil},
		{-formTokenSkew - time.Second, errFormTokenExpired},
	}
	for _, tt := range tests {
		at := now.Add(tt.age)
		s.opts.Now = func() time.Time { return at }
		if err := s.checkFormToken(42, tok); err != tt.want {
			t.Errorf("age %v: %v, want %v", tt.age, err, tt.want)
		}
	}
	s.opts.Now = func() time.Time { return now }
	if err := s.checkFormToken(43, tok); err != errFormTokenInvalid {
		t.Errorf("another subscriber's token: %v", err)
	}
}
