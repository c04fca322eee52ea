package smtpsink

import (
	"bytes"
	"crypto/subtle"
	"io"
	"slices"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// session is one SMTP session: go-smtp starts one per EHLO (and again after
// STARTTLS).
type session struct {
	srv    *Server
	tls    bool
	user   string
	authed bool
	from   string
	to     []string
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{srv: s, tls: isTLS}, nil
}

func (ss *session) mustAuth() bool { return ss.srv.opts.AuthUser != "" && !ss.authed }

// AuthMechanisms offers AUTH PLAIN when the sink has credentials.
func (ss *session) AuthMechanisms() []string {
	if ss.srv.opts.AuthUser == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth checks AUTH PLAIN credentials in constant time.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.srv.opts.AuthUser == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		userOK := subtle.ConstantTimeCompare([]byte(username), []byte(ss.srv.opts.AuthUser)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(password), []byte(ss.srv.opts.AuthPass)) == 1
		if !userOK || !passOK || (identity != "" && identity != username) {
			return smtp.ErrAuthFailed
		}
		ss.authed, ss.user = true, username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.mustAuth() {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.mustAuth() {
		return smtp.ErrAuthRequired
	}
	if reject := ss.srv.opts.RejectRcpt; reject != nil {
		if err := reject(to); err != nil {
			return asReply(err, 451, smtp.EnhancedCode{4, 0, 0})
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	if ss.mustAuth() {
		return smtp.ErrAuthRequired
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	data := buf.Bytes()
	if reject := ss.srv.opts.RejectData; reject != nil {
		if err := reject(ss.from, slices.Clone(ss.to), slices.Clone(data)); err != nil {
			return asReply(err, 554, smtp.EnhancedCode{5, 0, 0})
		}
	}
	ss.srv.store(Received{
		From: ss.from, To: slices.Clone(ss.to), Data: data, At: time.Now(),
		TLS: ss.tls, User: ss.user,
	})
	return nil
}

// Reset forgets the transaction in progress: go-smtp calls it on RSET, after
// DATA and on a new EHLO.
func (ss *session) Reset() {
	ss.from, ss.to = "", nil
}

func (ss *session) Logout() error { return nil }

// asReply turns a refusal into the reply go-smtp sends: an *smtp.SMTPError
// as it is, anything else as code and enhanced code with the error's text.
func asReply(err error, code int, ec smtp.EnhancedCode) error {
	if se, ok := err.(*smtp.SMTPError); ok {
		return se
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: err.Error()}
}
