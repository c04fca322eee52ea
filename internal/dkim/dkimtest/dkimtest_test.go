package dkimtest_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/newsroom/digest/internal/dkim/dkimtest"
)

func TestPublicKeyRecord(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := dkimtest.PublicKeyRecord(ed)
	if err != nil || !strings.HasPrefix(rec, "v=DKIM1; k=ed25519; p=") || len(rec) != len("v=DKIM1; k=ed25519; p=")+44 {
		t.Errorf("ed25519 record = %q, %v", rec, err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rec, err = dkimtest.PublicKeyRecord(rk)
	if err != nil || !strings.HasPrefix(rec, "v=DKIM1; k=rsa; p=MIIBIjAN") {
		t.Errorf("rsa record = %q, %v", rec, err)
	}
}

func TestLookupTXT(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lookup, err := dkimtest.LookupTXT("example.com", "s1", ed)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := dkimtest.PublicKeyRecord(ed)
	if got, err := lookup("s1._domainkey.example.com"); err != nil || len(got) != 1 || got[0] != want {
		t.Errorf("lookup of the selector = %q, %v; want [%q]", got, err, want)
	}
	if got, err := lookup("s2._domainkey.example.com"); err == nil {
		t.Errorf("lookup of another selector = %q, want an error", got)
	}
}
