package smtpclient

import (
	"encoding/base64"
	"errors"
	"slices"
)

// Errors of AUTH that the server had no say in.
var (
	ErrNoAuthMechanism = errors.New("the server offers neither AUTH PLAIN nor AUTH LOGIN")
	ErrAuthInClear     = errors.New("credentials are only sent over TLS or to a loopback host")
)

// authenticate logs in with AUTH PLAIN (RFC 4616), or LOGIN when the
// server offers only that. The credentials never appear in an error: a
// refusal carries the server's reply, which does not echo them.
func (c *Client) authenticate(user, pass string) error {
	return c.step(StepAuth, func() error {
		if !c.tls && !isLoopback(c.host) {
			return ErrAuthInClear
		}
		enc := base64.StdEncoding
		switch {
		case slices.Contains(c.auth, "PLAIN"):
			if err := c.command("AUTH PLAIN " + enc.EncodeToString([]byte("\x00"+user+"\x00"+pass))); err != nil {
				return err
			}
			return c.expect(235)
		case slices.Contains(c.auth, "LOGIN"):
			// The server asks for the user name, then the password, each
			// with a 334 whose (base64) text varies between servers.
			if err := c.command("AUTH LOGIN"); err != nil {
				return err
			}
			for _, answer := range []string{user, pass} {
				if err := c.expect(334); err != nil {
					return err
				}
				if err := c.command(enc.EncodeToString([]byte(answer))); err != nil {
					return err
				}
			}
			return c.expect(235)
		}
		return ErrNoAuthMechanism
	})
}
