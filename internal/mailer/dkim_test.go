package mailer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/newsroom/digest/internal/dkim"
	"github.com/newsroom/digest/internal/dkim/dkimtest"
	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/newsroom/digest/internal/token"
	"github.com/newsroom/digest/internal/verp"
)

const (
	dkimDomain   = "example.org"
	dkimSelector = "digest2026"
)

// testSigner generates a key of the given kind, writes it as a PEM file the
// way an operator would, and loads it back through dkim.LoadKey.
func testSigner(t testing.TB, kind string) (*dkim.Signer, crypto.Signer) {
	t.Helper()
	var key crypto.Signer
	var err error
	switch kind {
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := dkim.LoadKey(path)
	if err != nil {
		t.Fatalf("LoadKey: %v", err)
	}
	s, err := dkim.NewSigner(dkimDomain, dkimSelector, loaded)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s, key
}

// verifyDKIM verifies data's signatures the way a receiver does, with the
// DNS lookup answered by the test key's TXT record.
func verifyDKIM(t *testing.T, data []byte, key crypto.Signer) []*msgauth.Verification {
	t.Helper()
	lookup, err := dkimtest.LookupTXT(dkimDomain, dkimSelector, key)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(data), &msgauth.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatalf("dkim verify: %v", err)
	}
	return vs
}

// checkValidSignature asserts data carries exactly one valid signature by
// dkimDomain covering the headers a forger would want to change.
func checkValidSignature(t *testing.T, data []byte, key crypto.Signer) {
	t.Helper()
	vs := verifyDKIM(t, data, key)
	if len(vs) != 1 {
		t.Fatalf("%d signatures, want 1", len(vs))
	}
	if vs[0].Err != nil {
		t.Fatalf("signature does not verify: %v", vs[0].Err)
	}
	if vs[0].Domain != dkimDomain {
		t.Errorf("d=%s, want %s", vs[0].Domain, dkimDomain)
	}
	for _, h := range []string{"From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type"} {
		if !slices.ContainsFunc(vs[0].HeaderKeys, func(k string) bool { return strings.EqualFold(k, h) }) {
			t.Errorf("h= %v does not cover %s", vs[0].HeaderKeys, h)
		}
	}
}

// dkimField matches the DKIM-Signature field with its continuation lines.
var dkimField = regexp.MustCompile(`(?m)^DKIM-Signature:.*\r\n(?:[ \t].*\r\n)*`)

// withoutSignature returns data without its DKIM-Signature field, so the
// rest can be checked like an unsigned message.
func withoutSignature(t *testing.T, data []byte) []byte {
	t.Helper()
	if n := len(dkimField.FindAll(data, -1)); n != 1 {
		t.Fatalf("%d DKIM-Signature fields, want 1", n)
	}
	return dkimField.ReplaceAll(data, nil)
}

func TestSendSignedVerifies(t *testing.T) {
	for _, kind := range []string{"rsa", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			signer, key := testSigner(t, kind)
			sink := startSink(t, smtpsink.Options{})
			s := newSender(t, sink, func(c *Config) { c.DKIM = signer })
			// sampleMessage has a non-ASCII display name and subject, both
			// RFC 2047-encoded, and a quoted-printable body.
			m := sampleMessage()
			if err := s.Send(t.Context(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := wait(t, sink, 1)[0]
			checkValidSignature(t, got.Data, key)
			checkMessage(t, withoutSignature(t, got.Data), m)

			t.Run("tampered body fails", func(t *testing.T) {
				tampered := bytes.Replace(got.Data, []byte("Good morning"), []byte("Good evening"), 1)
				if bytes.Equal(tampered, got.Data) {
					t.Fatal("the body edit changed nothing")
				}
				if vs := verifyDKIM(t, tampered, key); len(vs) != 1 || vs[0].Err == nil {
					t.Errorf("tampered message verified: %+v", vs[0])
				}
			})
			t.Run("added From fails", func(t *testing.T) {
				tampered := bytes.Replace(got.Data, []byte("\r\n\r\n"), []byte("\r\nFrom: ceo@example.org\r\n\r\n"), 1)
				if vs := verifyDKIM(t, tampered, key); len(vs) != 1 || vs[0].Err == nil {
					t.Errorf("message with a second From verified: %+v", vs[0])
				}
			})
		})
	}
}

// TestSendSignedEightBit checks that a signature computed over the
// rendering survives the trip as 8bit (the parts travel as written, CRLF
// line ends, dot-stuffed and unstuffed) as well as quoted-printable, both
// for the first message (rendered before the Sender knew whether the
// server offers 8BITMIME, and rendered again when it turned out not to)
// and for the next one.
func TestSendSignedEightBit(t *testing.T) {
	long := sampleMessage()
	long.HTML = StringBody(longLineHTML())
	tests := []struct {
		name       string
		no8BitMIME bool
		m          Message
		wantEnc    []string
	}{
		{"8bit", false, sampleMessage(), []string{"8bit", "8bit"}},
		{"8bit text, quoted-printable HTML", false, long, []string{"8bit", "quoted-printable"}},
		{"no 8BITMIME", true, sampleMessage(), []string{"quoted-printable", "quoted-printable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer, key := testSigner(t, "ed25519")
			srv := startEnvelopeServer(t, serverOptions{no8BitMIME: tt.no8BitMIME})
			s, err := NewSender(Config{Host: srv.Host(), Port: srv.Port(), TLS: TLSNone, HELO: "digest.test",
				Timeout: waitTimeout, DKIM: signer}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			for i := range 2 {
				m := tt.m
				m.MessageID = fmt.Sprintf("<%d.signed@digest.example.org>", i)
				if err := s.Send(t.Context(), m); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			for i, got := range srv.wait(t, 2) {
				t.Run(fmt.Sprint("message ", i+1), func(t *testing.T) {
					checkValidSignature(t, got.Data, key)
					parts := wireParts(t, withoutSignature(t, got.Data))
					for j, p := range parts {
						if p.encoding != tt.wantEnc[j] {
							t.Errorf("%s part sent %s, want %s", p.contentType, p.encoding, tt.wantEnc[j])
						}
					}
					tampered := bytes.Replace(got.Data, []byte("Good morning"), []byte("Good evening"), 1)
					if bytes.Equal(tampered, got.Data) {
						t.Fatal("the body edit changed nothing")
					}
					if vs := verifyDKIM(t, tampered, key); len(vs) != 1 || vs[0].Err == nil {
						t.Errorf("tampered message verified: %+v", vs[0])
					}
				})
			}
		})
	}
}

// TestSignedAfterRedial checks the signature survives the retry path: a
// message signed once and offered again on a new connection (go-mail
// renders it anew) still verifies, and so does every message on a reused
// connection.
func TestSignedAfterRedial(t *testing.T) {
	signer, key := testSigner(t, "ed25519")
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, func(c *Config) { c.DKIM = signer })
	if err := s.Send(t.Context(), messageTo(1, "a@example.com")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	sink.DropConnections()
	for i := 2; i <= 4; i++ {
		m := messageTo(i, fmt.Sprintf("r%d@example.com", i))
		if i == 3 {
			m.HTML = Body{} // text only: a single part, no boundary
		}
		if err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	for i, got := range wait(t, sink, 4) {
		t.Run(fmt.Sprint("message ", i+1), func(t *testing.T) { checkValidSignature(t, got.Data, key) })
	}
}

func TestWriteSignedTo(t *testing.T) {
	signer, key := testSigner(t, "rsa")
	m := sampleMessage()
	var buf bytes.Buffer
	if err := WriteSignedTo(&buf, m, signer); err != nil {
		t.Fatalf("WriteSignedTo: %v", err)
	}
	checkValidSignature(t, buf.Bytes(), key)
	checkMessage(t, withoutSignature(t, buf.Bytes()), m)
	for i, line := range strings.Split(buf.String(), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d octets, over RFC 5322's 998", i, len(line))
		}
	}

	var unsigned bytes.Buffer
	if err := WriteSignedTo(&unsigned, m, nil); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(unsigned.Bytes(), []byte("DKIM-Signature")) {
		t.Error("a nil signer signed the message")
	}
}

// TestSendVERP checks a per-delivery envelope sender: MAIL FROM is the VERP
// address, while the From header readers see stays the configured author
// and no Return-Path is written (the receiving server adds that from MAIL
// FROM).
func TestSendVERP(t *testing.T) {
	signer, key := testSigner(t, "ed25519")
	tokens, err := token.NewSigner([]byte(strings.Repeat("s", token.MinSecretLen)))
	if err != nil {
		t.Fatal(err)
	}
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, func(c *Config) { c.DKIM = signer })
	var want []string
	for id := int64(1); id <= 2; id++ {
		envelope, err := verp.Address("bounces@bounces.example.org", tokens.Sign("bounce", id))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, envelope)
		m := messageTo(int(id), fmt.Sprintf("r%d@example.com", id))
		m.EnvelopeFrom = envelope
		if err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	for i, got := range wait(t, sink, 2) {
		if got.From != want[i] {
			t.Errorf("message %d: MAIL FROM = %q, want %q", i+1, got.From, want[i])
		}
		tok, ok := verp.Token(got.From)
		if id, err := tokens.Verify("bounce", tok); !ok || err != nil || id != int64(i+1) {
			t.Errorf("message %d: MAIL FROM names delivery %d (%v, %v), want %d", i+1, id, ok, err, i+1)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(got.Data))
		if err != nil {
			t.Fatal(err)
		}
		if from := msg.Header.Get("From"); from != `"Morning Digest" <digest@example.org>` {
			t.Errorf("message %d: From = %q, want the configured author", i+1, from)
		}
		if rp := msg.Header.Get("Return-Path"); rp != "" {
			t.Errorf("message %d: Return-Path %q written by the sender", i+1, rp)
		}
		if strings.Contains(string(got.Data), "bounces+") {
			t.Errorf("message %d: the VERP address leaked into the message", i+1)
		}
		checkValidSignature(t, got.Data, key)
	}
}

// BenchmarkWriteSigned measures building, rendering and signing a
// digest-sized message: what signing adds to each send.
func BenchmarkWriteSigned(b *testing.B) {
	m := sampleMessage()
	text, html := m.Text.String(), m.HTML.String()
	for len(text) < 15<<10 {
		text += longLine + "\n"
		html += "<p>" + longLine + "</p>\n"
	}
	m.Text, m.HTML = StringBody(text), StringBody(html)
	for _, kind := range []string{"none", "rsa", "ed25519"} {
		b.Run(kind, func(b *testing.B) {
			var signer *dkim.Signer
			if kind != "none" {
				signer, _ = testSigner(b, kind)
			}
			for b.Loop() {
				if err := WriteSignedTo(io.Discard, m, signer); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// brokenKey is an Ed25519 key whose signing fails, as a hardware key that
// went away would.
type brokenKey struct{ ed25519.PrivateKey }

func (brokenKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("signing device unavailable")
}

// TestSendSigningFails checks that a signing failure is reported as a
// problem of the sender's setup (temporary, Connecting, so a pass stops
// instead of failing every reader) and that nothing unsigned goes out.
func TestSendSigningFails(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := dkim.NewSigner(dkimDomain, dkimSelector, brokenKey{key})
	if err != nil {
		t.Fatal(err)
	}
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, func(c *Config) { c.DKIM = signer })
	se := asSendError(t, s.Send(t.Context(), sampleMessage()))
	if !se.Temporary() || !se.Connecting || !strings.Contains(se.Error(), "signing device unavailable") {
		t.Errorf("SendError temporary %v connecting %v (%v), want a temporary setup failure", se.Temporary(), se.Connecting, se)
	}
	if sink.Connections() != 0 {
		t.Error("a message that could not be signed opened a connection")
	}
}
