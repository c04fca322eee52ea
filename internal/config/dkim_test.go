package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// keyFile writes key as a PKCS#8 PEM file with mode and returns its path.
func keyFile(t *testing.T, key crypto.Signer, mode os.FileMode) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writeKeyFile(t, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), mode)
}

func writeKeyFile(t *testing.T, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func TestParseDKIMAndBounceAddress(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edFile := keyFile(t, ed, 0o600)
	rsaPKCS1 := writeKeyFile(t, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsa2048)}), 0o640)
	weakFile := keyFile(t, rsa1024, 0o600)
	ecFile := keyFile(t, ec, 0o600)
	openFile := keyFile(t, ed, 0o644)
	certFile := writeKeyFile(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not a key")}), 0o600)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	q := strconv.Quote

	dkimKeys := func(domain, selector, file string) map[string]string {
		return map[string]string{"dkim.domain": domain, "dkim.selector": selector, "dkim.private_key_file": q(file)}
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		over map[string]string
		want []string
	}{
		{"no dkim block", nil, nil},
		{"empty dkim block", map[string]string{"dkim": ""}, nil},
		{"ed25519 key", dkimKeys("example.org", "digest2026", edFile), nil},
		{"rsa pkcs1 key, group-readable", dkimKeys("example.org", "digest2026", rsaPKCS1), nil},
		{"parent of the from domain", with(dkimKeys("example.org", "s1", edFile), "from", `"Digest <digest@news.example.org>"`), nil},
		{"domain in capitals", dkimKeys("Example.ORG", "s1", edFile), nil},
		{"dotted selector", dkimKeys("example.org", "digest.2026", edFile), nil},
		{"domain missing", with(dkimKeys("", "s1", edFile), "dkim.domain", absent),
			[]string{"dkim.domain: is required to sign with DKIM, e.g. example.org (the domain of from or a parent of it)"}},
		{"selector missing", with(dkimKeys("example.org", "", edFile), "dkim.selector", absent),
			[]string{"dkim.selector: is required to sign with DKIM, e.g. digest2026 (the public key is published at SELECTOR._domainkey.DOMAIN)"}},
		{"key file missing", with(dkimKeys("example.org", "s1", ""), "dkim.private_key_file", absent),
			[]string{"dkim.private_key_file: is required to sign with DKIM: the path of a PEM private key (RSA of at least 2048 bits, or Ed25519)"}},
		{"only a key file", map[string]string{"dkim.private_key_file": q(edFile)},
			[]string{
				"dkim.domain: is required to sign with DKIM, e.g. example.org (the domain of from or a parent of it)",
				"dkim.selector: is required to sign with DKIM, e.g. digest2026 (the public key is published at SELECTOR._domainkey.DOMAIN)",
			}},
		{"domain not a domain", dkimKeys(`"example .org"`, "s1", edFile),
			[]string{`dkim.domain: "example .org" is not a domain name like example.org`}},
		{"single-label domain", dkimKeys("localhost", "s1", edFile),
			[]string{`dkim.domain: "localhost" is not a domain name like example.org`}},
		{"other domain", dkimKeys("example.net", "s1", edFile),
			[]string{`dkim.domain: "example.net" is neither the domain of from ("example.org") nor a parent of it: DMARC would not count the signature`}},
		{"subdomain of the from domain", dkimKeys("mail.example.org", "s1", edFile),
			[]string{`dkim.domain: "mail.example.org" is neither the domain of from ("example.org") nor a parent of it: DMARC would not count the signature`}},
		{"lookalike suffix", with(dkimKeys("ample.org", "s1", edFile), "from", "digest@example.org"),
			[]string{`dkim.domain: "ample.org" is neither the domain of from ("example.org") nor a parent of it: DMARC would not count the signature`}},
		{"public suffix", with(dkimKeys("co.uk", "s1", edFile), "from", "digest@news.example.co.uk"),
			[]string{`dkim.domain: "co.uk" is a public suffix, not a domain of your own; sign with "news.example.co.uk" or a parent of it`}},
		{"bad selector", dkimKeys("example.org", `"a;b"`, edFile),
			[]string{`dkim.selector: "a;b" is not a selector: letters, digits and hyphens, with dots between labels`}},
		{"key file does not exist", dkimKeys("example.org", "s1", missing),
			[]string{"dkim.private_key_file: " + q(missing) + " does not exist"}},
		{"rsa 1024", dkimKeys("example.org", "s1", weakFile),
			[]string{"dkim.private_key_file: " + q(weakFile) + ": the RSA key has 1024 bits; DKIM keys need at least 2048"}},
		{"ecdsa key", dkimKeys("example.org", "s1", ecFile),
			[]string{"dkim.private_key_file: " + q(ecFile) + ": ECDSA keys cannot sign DKIM; use RSA (at least 2048 bits) or Ed25519"}},
		{"world-readable key", dkimKeys("example.org", "s1", openFile),
			[]string{"dkim.private_key_file: " + q(openFile) + ": can be read or written by every user (mode 0644): chmod o-rwx it"}},
		{"certificate, not a key", dkimKeys("example.org", "s1", certFile),
			[]string{"dkim.private_key_file: " + q(certFile) + `: PEM block "CERTIFICATE" is not a private key; want PRIVATE KEY or RSA PRIVATE KEY`}},
		{"unknown dkim key", with(dkimKeys("example.org", "s1", edFile), "dkim.key", "x"),
			[]string{"dkim.key: unknown key (known keys here: domain, selector, private_key_file)"}},

		{"bounce address", map[string]string{"bounce_address": "bounces@bounces.example.org"}, nil},
		{"bounce address with a name", map[string]string{"bounce_address": `"Bounces <bounces@example.org>"`},
			[]string{`bounce_address: "Bounces <bounces@example.org>" is not a bare address like bounces@bounces.example.org`}},
		{"bounce address with a token delimiter", map[string]string{"bounce_address": "bounces+x@example.org"},
			[]string{`bounce_address: "bounces+x@example.org": the part before @ must not contain '+', which starts the per-message token`}},
		{"bounce address without domain", map[string]string{"bounce_address": "bounces"},
			[]string{`bounce_address: "bounces" is not a bare address like bounces@bounces.example.org`}},
		{"bounce address on a bad domain", map[string]string{"bounce_address": "bounces@exa_mple.org"},
			[]string{`bounce_address: "bounces@exa_mple.org": "exa_mple.org" is not a domain name`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseYAML(strings.NewReader(configYAML(tt.over)), testEnv(nil))
			if got := problemsOf(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problems of\n%s\n got %q\nwant %q", configYAML(tt.over), got, tt.want)
			}
			if err == nil && tt.over["dkim.domain"] != "" && !c.DKIM.Enabled() {
				t.Error("DKIM not enabled")
			}
		})
	}
}

// TestDKIMKeyNeverShown checks that neither errors nor the logged config
// carry any of the key file's contents.
func TestDKIMKeyNeverShown(t *testing.T) {
	const material = "MC4CAQAwBQYDK2VwBCIEIPrivateKeyMaterialNotToBeShown"
	bad := writeKeyFile(t, []byte("-----BEGIN PRIVATE KEY-----\n"+material+"\n-----END PRIVATE KEY-----\n"), 0o600)
	_, err := parseYAML(strings.NewReader(configYAML(map[string]string{
		"dkim.domain": "example.org", "dkim.selector": "s1", "dkim.private_key_file": strconv.Quote(bad),
	})), testEnv(nil))
	if err == nil || !strings.Contains(err.Error(), "dkim.private_key_file") {
		t.Fatalf("Parse = %v, want an error naming dkim.private_key_file", err)
	}
	if strings.Contains(err.Error(), material[:16]) {
		t.Errorf("error shows the key: %v", err)
	}

	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := keyFile(t, ed, 0o600)
	c, err := parseYAML(strings.NewReader(configYAML(map[string]string{
		"dkim.domain": "example.org", "dkim.selector": "s1", "dkim.private_key_file": strconv.Quote(good),
	})), testEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Split(string(keyPEM), "\n")[1]
	if out := c.String(); strings.Contains(out, body[:16]) || !strings.Contains(out, good) {
		t.Errorf("config prints %s; want the key file named and its contents absent", out)
	}
}

// exampleDKIMBlock finds the commented-out dkim block of
// config.example.yaml.
var exampleDKIMBlock = regexp.MustCompile(`(?m)^# dkim:\n(?:#   .*\n)+`)

// TestExampleDKIMBlock keeps the commented-out dkim block of the example
// correct: uncommented, with its key file path pointing at a real key, it
// validates.
func TestExampleDKIMBlock(t *testing.T) {
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	block := exampleDKIMBlock.Find(example)
	if block == nil {
		t.Fatal("config.example.yaml has no commented-out dkim block")
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := keyFile(t, ed, 0o600)
	uncommented := regexp.MustCompile(`(?m)^# ?`).ReplaceAll(block, nil)
	uncommented = regexp.MustCompile(`private_key_file: .*`).ReplaceAll(uncommented, []byte("private_key_file: "+strconv.Quote(path)))
	text := strings.Replace(string(example), string(block), string(uncommented), 1)
	c, err := parseYAML(strings.NewReader(text), testEnv(nil))
	if err != nil {
		t.Fatalf("example with its dkim block uncommented:\n%s\ndoes not validate: %v", uncommented, err)
	}
	if !c.DKIM.Enabled() || c.DKIM.PrivateKeyFile != path {
		t.Errorf("dkim = %+v", c.DKIM)
	}
}
