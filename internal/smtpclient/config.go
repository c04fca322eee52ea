package smtpclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Security is how a session is encrypted.
type Security int

const (
	// StartTLS connects in plain text and requires STARTTLS (RFC 3207)
	// before anything else: a server that does not offer it is refused,
	// never used in plain text.
	StartTLS Security = iota
	// ImplicitTLS is TLS from the first octet (RFC 8314, port 465).
	ImplicitTLS
	// NoTLS is no encryption, for a relay on the loopback interface.
	NoTLS
)

// DefaultTimeout bounds each step when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Config says how to reach the server and introduce the client.
type Config struct {
	// Host is the server's name (or address): what is dialled, what its
	// certificate must name, and whether it is on the loopback interface.
	Host string
	Port int
	// Security is StartTLS (the zero value), ImplicitTLS or NoTLS.
	Security Security
	// TLSConfig, when set, is used for the handshake (tests give their CA
	// here). ServerName defaults to Host, and TLS 1.2 is the least accepted.
	TLSConfig *tls.Config
	// LocalName is the name given in EHLO; the machine's host name when
	// empty.
	LocalName string
	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN, or LOGIN when the server offers only that. They are only sent
	// over TLS or to a loopback host.
	Username, Password string
	// Timeout bounds each step: connecting, the TLS handshake, each reply
	// while connecting, and a mail transaction up to its content and again
	// after ready. DefaultTimeout when zero.
	Timeout time.Duration
}

// Validate refuses a Config that cannot make a session, as Dial would.
func (cfg Config) Validate() error {
	return cfg.withDefaults().check()
}

// check is Validate for a Config with its defaults set.
func (cfg Config) check() error {
	if cfg.Host == "" {
		return errors.New("smtp: host is empty")
	}
	if !validName(cfg.LocalName) {
		return fmt.Errorf("smtp: %q cannot be given in EHLO", cfg.LocalName)
	}
	switch cfg.Security {
	case StartTLS, ImplicitTLS, NoTLS:
	default:
		return fmt.Errorf("smtp: security %d is not StartTLS, ImplicitTLS or NoTLS", cfg.Security)
	}
	return nil
}

func (cfg Config) withDefaults() Config {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.LocalName == "" {
		cfg.LocalName = "localhost"
		if name, err := os.Hostname(); err == nil && validName(name) {
			cfg.LocalName = name
		}
	}
	return cfg
}

// validName reports whether s can stand in EHLO: no space or control
// character that would end or extend the command.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func (cfg Config) tlsConfig() *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	return tc
}

// isLoopback reports whether host names the loopback interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
