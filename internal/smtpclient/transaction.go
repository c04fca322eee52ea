package smtpclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Envelope is the SMTP envelope of one message.
type Envelope struct {
	// From is the reverse path, where bounces go: a bare address, "" for
	// the null sender.
	From string
	// To are the recipients' bare addresses.
	To []string
	// EightBitMIME declares the content 8bit (BODY=8BITMIME, RFC 6152).
	// The server must offer 8BITMIME.
	EightBitMIME bool
	// SMTPUTF8 asks for internationalised handling (RFC 6531), which the
	// server must offer.
	SMTPUTF8 bool
}

// check refuses an envelope that would break a command line or asks for
// what the server did not offer.
func (c *Client) check(env Envelope) error {
	if strings.ContainsAny(env.From, "\r\n<>") {
		return &Error{Step: StepMail, Err: fmt.Errorf("%q cannot stand in a command", env.From)}
	}
	if len(env.To) == 0 {
		return &Error{Step: StepRcpt, Err: errors.New("no recipients")}
	}
	for _, to := range env.To {
		if to == "" || strings.ContainsAny(to, "\r\n<>") {
			return &Error{Step: StepRcpt, Err: fmt.Errorf("%q cannot stand in a command", to)}
		}
	}
	if env.EightBitMIME && !c.eightBitMIME {
		return &Error{Step: StepMail, Err: errors.New("the server does not offer 8BITMIME")}
	}
	if env.SMTPUTF8 && !c.utf8OK {
		return &Error{Step: StepMail, Err: errors.New("the server does not offer SMTPUTF8")}
	}
	return nil
}

// Send runs one mail transaction: MAIL FROM, RCPT TO for each recipient
// and DATA — in one write when the server offers PIPELINING — then the
// content that content writes, then the terminating "." and the server's
// verdict. It does not reset the session after a refusal; the caller
// calls Reset (or drops the Client when it is Closed).
//
// When ready is not nil, the "." — the point at which the server takes
// the message — is written only once ready returns nil; the rest of the
// message is on the wire before ready is called, so everything before the
// "." overlaps whatever ready waits for. If ready fails, Send
// closes the connection with the content unterminated, so the server
// discards it, and returns ready's error as step StepHeld.
//
// Cancelling ctx closes the connection at once; the error then wraps
// ctx.Err(). The deadline of Config.Timeout runs from the start of Send
// to the content's end, and again after ready.
func (c *Client) Send(ctx context.Context, env Envelope, content func(*DataWriter) error, ready func() error) (err error) {
	if c.closed {
		return &Error{Step: StepMail, Err: net.ErrClosed}
	}
	if err := c.check(env); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.conn.Close() })
	defer func() {
		if !stop() {
			c.closed = true
			if err != nil {
				err = fmt.Errorf("%w: %w", ctx.Err(), err)
			}
		}
	}()
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return c.fail(StepMail, err)
	}
	if c.pipelining {
		err = c.openPipelined(env)
	} else {
		err = c.openEach(env)
	}
	if err != nil {
		return err
	}
	c.dw.reset(c.w)
	if err := content(&c.dw); err != nil {
		// Part of the message may be out: it must not be ended.
		return c.fail(StepContent, err)
	}
	if ready != nil {
		// Everything but the dot goes now, to reach the server while
		// ready waits.
		if err := c.w.Flush(); err != nil {
			return c.fail(StepContent, err)
		}
		if err := ready(); err != nil {
			_ = c.Close()
			return &Error{Step: StepHeld, Err: err}
		}
		// The wait may have been long; the server's own timeout for the
		// data block is ten minutes (RFC 5321 4.5.3.2.6).
		if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
			return c.fail(StepDataEnd, err)
		}
	}
	if err := c.dw.end(); err != nil {
		return c.fail(StepContent, err)
	}
	if err := c.expect(2); err != nil {
		return c.fail(StepDataEnd, err)
	}
	return nil
}

// fail returns err as the failure of step, ending the session unless err
// is a reply after which it goes on: any but 421, the server's notice
// that it is closing the connection.
func (c *Client) fail(step string, err error) *Error {
	if code := replyCode(err); code == 0 || code == 421 {
		_ = c.Close()
	}
	return &Error{Step: step, Err: err}
}

// mailCommand writes MAIL FROM with the envelope's parameters, unflushed.
func (c *Client) mailCommand(env Envelope) {
	w := c.w
	_, _ = w.WriteString("MAIL FROM:<")
	_, _ = w.WriteString(env.From)
	_ = w.WriteByte('>')
	if env.EightBitMIME {
		_, _ = w.WriteString(" BODY=8BITMIME")
	}
	if env.SMTPUTF8 {
		_, _ = w.WriteString(" SMTPUTF8")
	}
	_, _ = w.WriteString("\r\n")
}

func (c *Client) rcptCommand(to string) {
	_, _ = c.w.WriteString("RCPT TO:<")
	_, _ = c.w.WriteString(to)
	_, _ = c.w.WriteString(">\r\n")
}

// openEach starts a transaction a command at a time: MAIL FROM, RCPT TO
// for each recipient, DATA, each answered before the next goes.
func (c *Client) openEach(env Envelope) error {
	c.mailCommand(env)
	if err := c.w.Flush(); err != nil {
		return c.fail(StepMail, err)
	}
	if err := c.expect(2); err != nil {
		return c.fail(StepMail, err)
	}
	for _, to := range env.To {
		c.rcptCommand(to)
		if err := c.w.Flush(); err != nil {
			return c.fail(StepRcpt, err)
		}
		if err := c.expect(2); err != nil {
			return c.fail(StepRcpt, fmt.Errorf("%s: %w", to, err))
		}
	}
	if err := c.command("DATA"); err != nil {
		return c.fail(StepData, err)
	}
	if err := c.expect(354); err != nil {
		return c.fail(StepData, err)
	}
	return nil
}

// openPipelined starts a transaction as openEach does, but writes MAIL
// FROM, the RCPT TOs and DATA at once and then reads their replies (RFC
// 2920), which saves two round trips per message. It returns the first
// refusal, after reading every reply so the session stays in step, or the
// failure of the connection.
func (c *Client) openPipelined(env Envelope) error {
	c.mailCommand(env)
	for _, to := range env.To {
		c.rcptCommand(to)
	}
	_, _ = c.w.WriteString("DATA\r\n")
	if err := c.w.Flush(); err != nil {
		return c.fail(StepMail, err)
	}
	// first is the first refusal. A connection that breaks after one is
	// reported as that refusal: a server that answers 421 hangs up, and
	// the 421 to MAIL FROM says the message may go again at once over a
	// new connection.
	var first *Error
	read := func(step string, code int, what string) (accepted, broken bool) {
		err := c.expect(code)
		if err == nil {
			return true, false
		}
		broken = replyCode(err) == 0
		if what != "" {
			err = fmt.Errorf("%s: %w", what, err)
		}
		if first == nil {
			first = &Error{Step: step, Err: err}
		}
		return false, broken
	}
	if _, broken := read(StepMail, 2, ""); broken {
		_ = c.Close()
		return first
	}
	for _, to := range env.To {
		if _, broken := read(StepRcpt, 2, to); broken {
			_ = c.Close()
			return first
		}
	}
	accepted, broken := read(StepData, 354, "")
	switch {
	case broken:
		_ = c.Close()
		return first
	case first == nil:
		return nil
	case accepted:
		// DATA was taken although an earlier command was refused (a
		// server should not, RFC 2920 3.1): end it empty, so that the
		// session can be reset, and report the refusal.
		c.dw.reset(c.w)
		if err := c.dw.end(); err != nil {
			_ = c.Close()
			return first
		}
		if _, err := c.readReply(); err != nil {
			_ = c.Close()
			return first
		}
	}
	if replyCode(first.Err) == 421 {
		_ = c.Close()
	}
	return first
}
