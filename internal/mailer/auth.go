package mailer

import (
	"errors"
	"slices"

	"github.com/wneessen/go-mail/smtp"
)

// plainOrLoginAuth is SMTP AUTH with PLAIN, or LOGIN when the server offers
// only that. go-mail's own auto-discovery cannot be used: it decides whether
// the connection is encrypted from its own dialler, which Sender replaces, and
// would then refuse PLAIN over implicit TLS. go-mail's PLAIN and LOGIN check
// the real connection instead, and refuse to send the password in clear
// text except to a loopback host.
type plainOrLoginAuth struct {
	user, pass, host string
	chosen           smtp.Auth
}

var errNoAuthMechanism = errors.New("server offers neither AUTH PLAIN nor AUTH LOGIN")

func (a *plainOrLoginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	switch {
	case slices.Contains(server.Auth, "PLAIN"):
		a.chosen = smtp.PlainAuth("", a.user, a.pass, a.host, false)
	case slices.Contains(server.Auth, "LOGIN"):
		a.chosen = smtp.LoginAuth(a.user, a.pass, a.host, false)
	default:
		return "", nil, errNoAuthMechanism
	}
	return a.chosen.Start(server)
}

func (a *plainOrLoginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.chosen.Next(fromServer, more)
}
