package dkim

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/newsroom/digest/internal/dkim/dkimtest"
)

// testMessage is a message as mailer renders one: CRLF line ends, encoded
// non-ASCII headers, multipart/alternative.
const testMessage = "Date: Wed, 18 Mar 2026 06:30:00 +0000\r\n" +
	"List-Id: Morning Digest <digest.example.org>\r\n" +
	"List-Unsubscribe: <https://news.example.org/digest/unsubscribe/AQAAAAAAAAAqx-_y>\r\n" +
	"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Message-ID: <20260318.42.lagos@digest.example.org>\r\n" +
	"Subject: =?UTF-8?q?Lagos_&_Nairobi_=E2=80=94_Wednesday=E2=80=99s_briefs?=\r\n" +
	"From: \"Morning Digest\" <digest@example.org>\r\n" +
	"To: =?UTF-8?q?Zo=C3=AB_=C3=98deg=C3=A5rd?= <zoe@example.com>\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Good morning, Zo=C3=AB.\r\n" +
	"\r\n" +
	"Lagos: the state assembly passed the budget.\r\n"

func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ed25519Key(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verify checks message's signatures against key, served as the DNS record
// of selector._domainkey.domain.
func verify(t *testing.T, message []byte, domain, selector string, key crypto.Signer) []*msgauth.Verification {
	t.Helper()
	lookup, err := dkimtest.LookupTXT(domain, selector, key)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(message), &msgauth.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return vs
}

func signed(t *testing.T, s *Signer, message string) []byte {
	t.Helper()
	value, err := s.Sign([]byte(message))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return []byte(HeaderName + ": " + value + "\r\n" + message)
}

func TestSignVerifies(t *testing.T) {
	keys := map[string]crypto.Signer{"rsa-2048": rsaKey(t, 2048), "ed25519": ed25519Key(t)}
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			s, err := NewSigner("example.org", "digest2026", key)
			if err != nil {
				t.Fatal(err)
			}
			vs := verify(t, signed(t, s, testMessage), "example.org", "digest2026", key)
			if len(vs) != 1 || vs[0].Err != nil {
				t.Fatalf("verifications = %+v, want one valid signature", vs)
			}
			v := vs[0]
			if v.Domain != "example.org" {
				t.Errorf("d= %q, want example.org", v.Domain)
			}
			if !slices.Equal(v.HeaderKeys, signedHeaders) {
				t.Errorf("h= %v, want %v", v.HeaderKeys, signedHeaders)
			}
		})
	}
}

// TestTamperingFails proves the verification above can fail: any change to
// a signed header or to the body, and any added From or unsubscribe
// target, breaks the signature.
func TestTamperingFails(t *testing.T) {
	key := ed25519Key(t)
	s, err := NewSigner("example.org", "sel", key)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(signed(t, s, testMessage))
	tests := map[string]string{
		"body":                     strings.Replace(msg, "passed the budget", "rejected the budget", 1),
		"subject":                  strings.Replace(msg, "Subject: =?UTF-8?q?Lagos", "Subject: =?UTF-8?q?Abuja", 1),
		"list-id":                  strings.Replace(msg, "<digest.example.org>", "<other.example.org>", 1),
		"second from":              strings.Replace(msg, "\r\n\r\n", "\r\nFrom: ceo@example.org\r\n\r\n", 1),
		"second list-unsubscribe":  strings.Replace(msg, "\r\n\r\n", "\r\nList-Unsubscribe: <https://evil.example/>\r\n\r\n", 1),
		"unsubscribe url replaced": strings.Replace(msg, "news.example.org", "evil.example", 1),
	}
	for name, tampered := range tests {
		t.Run(name, func(t *testing.T) {
			if tampered == msg {
				t.Fatal("the edit changed nothing")
			}
			vs := verify(t, []byte(tampered), "example.org", "sel", key)
			if len(vs) != 1 || vs[0].Err == nil {
				t.Errorf("tampered message verified: %+v", vs)
			}
		})
	}
	t.Run("whitespace changes relays make", func(t *testing.T) {
		// Relaxed canonicalisation: re-folding a header and trailing spaces
		// on body lines keep the signature valid.
		relayed := strings.Replace(msg, "List-Id: Morning Digest", "List-Id: Morning\r\n Digest", 1)
		relayed = strings.Replace(relayed, "Good morning, Zo=C3=AB.\r\n", "Good morning, Zo=C3=AB.  \r\n", 1)
		if vs := verify(t, []byte(relayed), "example.org", "sel", key); len(vs) != 1 || vs[0].Err != nil {
			t.Errorf("relayed message does not verify: %+v", vs)
		}
	})
}

func TestNewSignerRefuses(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := ed25519Key(t)
	tests := []struct {
		name, domain, selector string
		key                    crypto.Signer
		want                   string
	}{
		{"empty domain", "", "sel", good, `dkim: domain "" is not a domain name`},
		{"domain with space", "example .org", "sel", good, `dkim: domain "example .org" is not a domain name`},
		{"empty selector", "example.org", "", good, `dkim: selector "" is not dot-separated letters, digits and hyphens`},
		{"selector with semicolon", "example.org", "a;b", good, `dkim: selector "a;b" is not dot-separated letters, digits and hyphens`},
		{"no key", "example.org", "sel", nil, "dkim: no private key"},
		{"rsa 1024", "example.org", "sel", rsaKey(t, 1024), "dkim: the RSA key has 1024 bits; DKIM keys need at least 2048"},
		{"ecdsa", "example.org", "sel", ecKey, "dkim: ECDSA keys cannot sign DKIM; use RSA (at least 2048 bits) or Ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSigner(tt.domain, tt.selector, tt.key)
			if err == nil || err.Error() != tt.want {
				t.Errorf("NewSigner = %v, want %q", err, tt.want)
			}
		})
	}
}

// writeKey writes key as PEM (PKCS#8, or PKCS#1 for pkcs1) to a file
// readable by its owner only and returns the path.
func writeKey(t testing.TB, key crypto.Signer, pkcs1 bool) string {
	t.Helper()
	var block *pem.Block
	if pkcs1 {
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))}
	} else {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, content []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, content, mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode passes through the umask; set it exactly.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadKey(t *testing.T) {
	rsa2048 := rsaKey(t, 2048)
	ed := ed25519Key(t)
	for name, tt := range map[string]struct {
		key   crypto.Signer
		pkcs1 bool
	}{
		"rsa pkcs1": {rsa2048, true},
		"rsa pkcs8": {rsa2048, false},
		"ed25519":   {ed, false},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := LoadKey(writeKey(t, tt.key, tt.pkcs1))
			if err != nil {
				t.Fatalf("LoadKey: %v", err)
			}
			if !tt.key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(got.Public()) {
				t.Error("loaded a different key")
			}
		})
	}
}

func TestLoadKeyRefuses(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	ecPKCS8, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	small := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey(t, 1024))})
	good := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey(t, 2048))})
	secret := "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ"
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    string // the error after "DKIM key PATH: "
	}{
		{"not pem", []byte("hello"), 0o600, "no PEM block found; want a PEM private key (-----BEGIN PRIVATE KEY-----)"},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), 0o600, `PEM block "PUBLIC KEY" is not a private key; want PRIVATE KEY or RSA PRIVATE KEY`},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), 0o600, `PEM block "CERTIFICATE" is not a private key; want PRIVATE KEY or RSA PRIVATE KEY`},
		{"rsa 1024", small, 0o600, "the RSA key has 1024 bits; DKIM keys need at least 2048"},
		{"ec sec1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), 0o600, "ECDSA keys cannot sign DKIM; use RSA (at least 2048 bits) or Ed25519"},
		{"ec pkcs8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecPKCS8}), 0o600, "ECDSA keys cannot sign DKIM; use RSA (at least 2048 bits) or Ed25519"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), 0o600, "the key is encrypted with a passphrase; store it unencrypted with file permissions protecting it"},
		{"two blocks", append(slices.Clone(good), good...), 0o600, "more than one PEM block; want the private key alone"},
		{"garbage in block", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte(secret)}), 0o600, "malformed PRIVATE KEY: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content, tt.mode)
			_, err := LoadKey(path)
			prefix := "DKIM key " + path + ": "
			if err == nil || !strings.HasPrefix(err.Error(), prefix+tt.want) {
				t.Fatalf("LoadKey = %v, want %q", err, prefix+tt.want)
			}
			if strings.Contains(err.Error(), secret[:20]) {
				t.Errorf("error %q shows the file's contents", err)
			}
		})
	}
	t.Run("readable by others", func(t *testing.T) {
		path := writeFile(t, good, 0o644)
		_, err := LoadKey(path)
		want := "DKIM key " + path + ": can be read or written by every user (mode 0644): chmod o-rwx it"
		if err == nil || err.Error() != want {
			t.Errorf("LoadKey = %v, want %q", err, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.pem")
		_, err := LoadKey(path)
		if want := "DKIM key " + path + ": no such file or directory"; !errors.Is(err, fs.ErrNotExist) || err.Error() != want {
			t.Errorf("LoadKey = %v, want a not-found error naming the file", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		_, err := LoadKey(dir)
		if want := "DKIM key " + dir + ": not a regular file"; err == nil || err.Error() != want {
			t.Errorf("LoadKey = %v, want %q", err, want)
		}
	})
}

// FuzzParseKey checks that no input makes parseKey panic, and that what it
// accepts is a key DKIM can use.
func FuzzParseKey(f *testing.F) {
	der, err := x509.MarshalPKCS8PrivateKey(ed25519Key(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := parseKey(data)
		if err != nil {
			return
		}
		if err := checkKey(key); err != nil {
			t.Errorf("parseKey accepted an unusable key: %v", err)
		}
	})
}

// benchmarkMessage is a 30 KB digest-sized message.
func benchmarkMessage() []byte {
	var b strings.Builder
	b.WriteString(strings.SplitAfter(testMessage, "\r\n\r\n")[0])
	for b.Len() < 30<<10 {
		b.WriteString("Lagos: the state assembly passed the budget after a night session, with 31 votes to 9.\r\n")
	}
	return []byte(b.String())
}

func benchmarkSign(b *testing.B, key crypto.Signer) {
	s, err := NewSigner("example.org", "digest2026", key)
	if err != nil {
		b.Fatal(err)
	}
	msg := benchmarkMessage()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := s.Sign(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignRSA(b *testing.B)     { benchmarkSign(b, rsaKey(b, 2048)) }
func BenchmarkSignEd25519(b *testing.B) { benchmarkSign(b, ed25519Key(b)) }
