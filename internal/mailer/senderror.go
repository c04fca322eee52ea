package mailer

import (
	"errors"
	"fmt"
	"net/textproto"

	"github.com/newsroom/digest/internal/smtpclient"
)

// SendError is the error Sender.Send returns. It says whether trying again
// later may succeed, and carries the SMTP reply when there was one.
type SendError struct {
	// MessageID is the Message-ID of the message that was not sent.
	MessageID string
	// Code is the SMTP reply code (451, 550...), 0 when the failure was not
	// a reply: a network error, a timeout, an invalid message.
	Code int
	// EnhancedCode is the RFC 3463 status ("5.1.1") when the server gave
	// one.
	EnhancedCode string
	// Connecting is true when the failure happened before this message was
	// offered, while connecting (dial, TLS, AUTH) or signing it with DKIM:
	// it says something about the server or the configuration, nothing
	// about the recipient, and the next message would fail the same way.
	Connecting bool
	// Err is the underlying error: the failed step of the SMTP session
	// (a *smtpclient.Error, "smtp RCPT TO: ...") wrapping the server's
	// *textproto.Error or the network error, a DKIM signing error, the
	// context's error, or a *digest.FieldError for a message that could
	// not be built.
	Err error

	temporary bool
}

// Temporary reports whether sending the same message later may succeed: 4xx
// replies, network errors and timeouts, failures to connect, cancellation.
// 5xx replies and invalid messages are permanent.
func (e *SendError) Temporary() bool { return e.temporary }

// Error describes the failure with the message and the server's reply.
func (e *SendError) Error() string {
	kind := "permanent"
	if e.temporary {
		kind = "temporary"
	}
	return fmt.Sprintf("send message %s (%s failure): %v", e.MessageID, kind, e.Err)
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// newSendError classifies err, which came from the SMTP client while
// sending (or, with connecting set, while connecting), into a *SendError.
func newSendError(messageID string, err error, connecting bool) *SendError {
	se := &SendError{MessageID: messageID, Err: err, Connecting: connecting}
	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		se.Code = tpe.Code
		se.EnhancedCode = smtpclient.EnhancedCode(tpe)
	}
	// Network errors and timeouts have no code; they say nothing about the
	// message, so a later try may work. Only a 5xx reply is a verdict on
	// the message; a refusal while connecting (AUTH, TLS) is about us, not
	// the recipient.
	se.temporary = connecting || se.Code < 500 || se.Code > 599
	return se
}

// retrySafe reports whether a message that failed with err can be offered
// again at once on a new connection without any chance of a duplicate: the
// connection was found dead at MAIL FROM, so nothing of the message
// reached the server. This is the usual fate of a connection the server
// closed while idle between messages.
func retrySafe(err error) bool {
	var se *smtpclient.Error
	if !errors.As(err, &se) || se.Step != smtpclient.StepMail {
		return false
	}
	var tpe *textproto.Error
	return !errors.As(err, &tpe) || tpe.Code == 421
}
