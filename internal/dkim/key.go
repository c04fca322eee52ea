package dkim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// maxKeyFileSize bounds what LoadKey reads: a PEM RSA-4096 key is about
// 3.3 KB, so anything much larger is not a key file.
const maxKeyFileSize = 64 << 10

// LoadKey reads a private key for NewSigner from a PEM file: PKCS#1 ("RSA
// PRIVATE KEY") or PKCS#8 ("PRIVATE KEY") RSA of at least MinRSABits, or
// PKCS#8 Ed25519, as written by
//
//	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dkim.pem
//	openssl genpkey -algorithm ed25519 -out dkim.pem
//
// The file must not be readable or writable by other users (as OpenDKIM
// requires), so a key readable by every account on the machine is refused
// before it is used. The error is a *KeyError naming the file, never
// quoting its contents.
func LoadKey(path string) (crypto.Signer, error) {
	key, err := loadKey(path)
	if err != nil {
		return nil, &KeyError{Path: path, Err: err}
	}
	return key, nil
}

// KeyError is the error LoadKey returns: the key file and what is wrong
// with it.
type KeyError struct {
	Path string
	// Err says what is wrong, without the path; errors.Is(err,
	// fs.ErrNotExist) and fs.ErrPermission hold as for os.Open.
	Err error
}

// Error names the file and the problem.
func (e *KeyError) Error() string { return fmt.Sprintf("DKIM key %s: %v", e.Path, e.Err) }

// Unwrap returns Err.
func (e *KeyError) Unwrap() error { return e.Err }

func loadKey(path string) (crypto.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, withoutPath(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, withoutPath(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o006 != 0 {
		return nil, fmt.Errorf("can be read or written by every user (mode %04o): chmod o-rwx it", perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, withoutPath(err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("over %d KB, not a PEM private key", maxKeyFileSize>>10)
	}
	return parseKey(data)
}

// withoutPath drops the *fs.PathError around err, whose path KeyError
// already gives.
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parseKey decodes a PEM private key for LoadKey. The file must hold
// exactly one PEM block. Errors never quote the input.
func parseKey(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found; want a PEM private key (-----BEGIN PRIVATE KEY-----)")
	}
	if extra, _ := pem.Decode(rest); extra != nil {
		return nil, errors.New("more than one PEM block; want the private key alone")
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("the key is encrypted with a passphrase; store it unencrypted with file permissions protecting it")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return nil, fmt.Errorf("ECDSA keys cannot sign DKIM; use RSA (at least %d bits) or Ed25519", MinRSABits)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key; want PRIVATE KEY or RSA PRIVATE KEY", block.Type)
	}
	if err != nil {
		// x509's messages describe the structure, never the key bytes.
		return nil, fmt.Errorf("malformed %s: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T key cannot sign", key)
	}
	if err := checkKey(signer); err != nil {
		return nil, err
	}
	return signer, nil
}

// keyKind names a public key's algorithm for error messages.
func keyKind(pub crypto.PublicKey) string {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case *rsa.PublicKey:
		return "RSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", pub), "*")
}
