package mailer

import (
	"bufio"
	"bytes"
	"fmt"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// The steps of a mail transaction, as stepError names them.
const (
	stepDeadline = "set deadline"
	stepMail     = "MAIL FROM"
	stepRcpt     = "RCPT TO"
	stepData     = "DATA"
	stepContent  = "message content"
	stepDataEnd  = "end of DATA"
)

// stepError is a failed mail transaction: the step it failed at and the
// cause, a *textproto.Error for a refusal, a network error otherwise.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return "smtp " + e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// transact offers one message on c: MAIL FROM (go-mail's client adds
// BODY=8BITMIME whenever the server advertises 8BITMIME, and SMTPUTF8
// likewise), RCPT TO for each recipient, DATA, then the chunks of data,
// which together are the message with CRLF line ends and each of which
// starts at the beginning of a line. It does not reset the session after
// a failure; the caller decides whether to reset or drop the connection.
//
// go-mail's own send is not used because it renders the message anew
// into its DATA writer, so a DKIM-signed message would be rendered twice;
// and the message content is written by writeData rather than by the
// DATA writer of net/textproto, which handles every byte singly and was
// a quarter of the CPU time of a send.
func transact(c *smtp.Client, timeout time.Duration, from string, rcpts []string, data ...[]byte) error {
	// In lean mode nothing else extends the deadline between messages.
	if err := c.UpdateDeadline(timeout); err != nil {
		return &stepError{stepDeadline, err}
	}
	if err := c.Mail(from); err != nil {
		return &stepError{stepMail, err}
	}
	for _, rcpt := range rcpts {
		if err := c.Rcpt(rcpt); err != nil {
			return &stepError{stepRcpt, fmt.Errorf("%s: %w", rcpt, err)}
		}
	}
	id, err := c.Text.Cmd("DATA")
	if err == nil {
		c.Text.StartResponse(id)
		_, _, err = c.Text.ReadResponse(354)
		c.Text.EndResponse(id)
	}
	if err != nil {
		return &stepError{stepData, err}
	}
	if err := writeData(c.Text.W, data...); err != nil {
		return &stepError{stepContent, err}
	}
	if _, _, err := c.Text.ReadResponse(250); err != nil {
		return &stepError{stepDataEnd, err}
	}
	return nil
}

// writeData writes chunks as the content of DATA (RFC 5321 4.5.2): a line
// that begins with a dot gets a second one, a bare LF becomes CRLF, the
// content ends with CRLF, then the terminating ".\r\n"; and flushes w.
// Each chunk must start at the beginning of a line. Lines are written in
// runs between the places that need a change, so a message with CRLF line
// ends and no leading dots is written in one piece.
func writeData(w *bufio.Writer, chunks ...[]byte) error {
	endsLine := true
	for _, b := range chunks {
		if len(b) == 0 {
			continue
		}
		if !endsLine {
			return fmt.Errorf("write message: chunk does not start a line")
		}
		if b[0] == '.' {
			_ = w.WriteByte('.')
		}
		start := 0
		for i := 0; ; {
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				break
			}
			i += j
			if i == 0 || b[i-1] != '\r' {
				_, _ = w.Write(b[start:i])
				_, _ = w.WriteString("\r\n")
				start = i + 1
			}
			i++
			if i < len(b) && b[i] == '.' {
				_, _ = w.Write(b[start:i])
				_ = w.WriteByte('.')
				start = i
			}
		}
		_, _ = w.Write(b[start:])
		endsLine = b[len(b)-1] == '\n'
	}
	if !endsLine {
		_, _ = w.WriteString("\r\n")
	}
	_, _ = w.WriteString(".\r\n")
	// bufio.Writer keeps its first error and returns it from every later
	// call, Flush included, so checking here is enough.
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}
