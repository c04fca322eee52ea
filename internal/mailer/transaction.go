package mailer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
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
	stepHeld     = "end of DATA held back"
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
// When ready is not nil, the terminating "." — the point at which the
// server takes the message — is written only once ready returns nil, so
// everything before it overlaps whatever ready waits for. If ready fails,
// transact returns at once with the data unterminated: the caller must
// drop the connection, and the server discards what it got.
//
// go-mail's own send is not used because it renders the message anew
// into its DATA writer, so a DKIM-signed message would be rendered twice;
// and the message content is written by writeContent and endData rather than by the
// DATA writer of net/textproto, which handles every byte singly and was
// a quarter of the CPU time of a send. writeData writes the content
// (writeContent, or writeDotted when the dots are known).
func transact(c *smtp.Client, timeout time.Duration, from string, rcpts []string, ready func() error, writeData func(*bufio.Writer) error) error {
	// In lean mode nothing else extends the deadline between messages.
	if err := c.UpdateDeadline(timeout); err != nil {
		return &stepError{stepDeadline, err}
	}
	if ok, _ := c.Extension("PIPELINING"); ok {
		if err := openPipelined(c, from, rcpts); err != nil {
			return err
		}
	} else if err := open(c, from, rcpts); err != nil {
		return err
	}
	if err := writeData(c.Text.W); err != nil {
		return &stepError{stepContent, err}
	}
	if ready != nil {
		if err := ready(); err != nil {
			return &stepError{stepHeld, err}
		}
		// The wait may have been long; the server's own timeout for the
		// data block is ten minutes (RFC 5321 4.5.3.2.6).
		if err := c.UpdateDeadline(timeout); err != nil {
			return &stepError{stepDeadline, err}
		}
	}
	if err := endData(c.Text.W); err != nil {
		return &stepError{stepContent, err}
	}
	if _, _, err := c.Text.ReadResponse(250); err != nil {
		return &stepError{stepDataEnd, err}
	}
	return nil
}

// open starts a mail transaction a command at a time: MAIL FROM, RCPT TO
// for each recipient, DATA.
func open(c *smtp.Client, from string, rcpts []string) error {
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
	return nil
}

// openPipelined starts a mail transaction as open does, but sends MAIL
// FROM, the RCPT TOs and DATA in one write and then reads their replies
// (RFC 2920), which saves two round trips per message. The parameters of
// MAIL FROM are the ones go-mail's Client.Mail adds. The first refusal is
// returned, after every reply has been read so the session stays in step
// (or the connection broke).
func openPipelined(c *smtp.Client, from string, rcpts []string) error {
	if err := commandArg(from); err != nil {
		return &stepError{stepMail, err}
	}
	for _, rcpt := range rcpts {
		if err := commandArg(rcpt); err != nil {
			return &stepError{stepRcpt, fmt.Errorf("%s: %w", rcpt, err)}
		}
	}
	w := c.Text.W
	_, _ = w.WriteString("MAIL FROM:" + from)
	if ok, _ := c.Extension("8BITMIME"); ok {
		_, _ = w.WriteString(" BODY=8BITMIME")
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		_, _ = w.WriteString(" SMTPUTF8")
	}
	_, _ = w.WriteString("\r\n")
	for _, rcpt := range rcpts {
		_, _ = w.WriteString("RCPT TO:" + rcpt + "\r\n")
	}
	_, _ = w.WriteString("DATA\r\n")
	if err := w.Flush(); err != nil {
		return &stepError{stepMail, err}
	}
	// first is the first refusal. A connection that breaks after one is
	// reported as that refusal: a server that answers 421 hangs up, and
	// the 421 to MAIL FROM is what says the message may go again at once
	// over a new connection (retrySafe).
	var first error
	read := func(step string, code int, what string) (ok, broken bool) {
		_, _, err := c.Text.ReadResponse(code)
		if err == nil {
			return true, false
		}
		if what != "" {
			err = fmt.Errorf("%s: %w", what, err)
		}
		if first == nil {
			first = &stepError{step, err}
		}
		return false, !isReply(err)
	}
	if _, broken := read(stepMail, 250, ""); broken {
		return first
	}
	for _, rcpt := range rcpts {
		if _, broken := read(stepRcpt, 25, rcpt); broken {
			return first
		}
	}
	accepted, broken := read(stepData, 354, "")
	switch {
	case broken:
		return first
	case accepted && first != nil:
		// DATA was taken although an earlier command was refused (a
		// server should not, RFC 2920 3.1): end it empty, so that the
		// session can be reset, and report the refusal.
		if err := endData(w); err != nil {
			return &stepError{stepData, err}
		}
		_, _, _ = c.Text.ReadResponse(0)
	}
	return first
}

// commandArg checks an address for a command line, as go-mail does for
// the commands it sends itself.
func commandArg(s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return errors.New("smtp: A line must not contain CR or LF")
	}
	return nil
}

// isReply reports whether err is the server's reply, after which the
// session goes on, rather than a failure of the connection.
func isReply(err error) bool {
	var tpe *textproto.Error
	return errors.As(err, &tpe)
}

// writeContent writes chunks as the content of DATA (RFC 5321 4.5.2): a
// line that begins with a dot gets a second one, a bare LF becomes CRLF,
// and the content ends with CRLF. Each chunk must start at the beginning
// of a line. Lines are written in runs between the places that need a
// change, so a message with CRLF line ends and no leading dots is written
// in one piece. What w still buffers goes out with endData.
func writeContent(w *bufio.Writer, chunks ...[]byte) error {
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
	// bufio.Writer keeps its first error and returns it from every later
	// call, so a failed write shows here or in endData.
	if _, err := w.Write(nil); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

// writeDotted is writeContent for content b that starts a line and whose
// lines all end in CRLF, with dots the offsets, in order, of every dot in
// b that begins a line: it writes b in one piece but for doubling those
// dots, with no search of its own.
func writeDotted(w *bufio.Writer, b []byte, dots []int) error {
	start := 0
	for _, d := range dots {
		// Up to and with the dot; the next run starts at it, so the dot
		// goes out twice.
		_, _ = w.Write(b[start : d+1])
		start = d
	}
	_, _ = w.Write(b[start:])
	if len(b) > 0 && b[len(b)-1] != '\n' {
		_, _ = w.WriteString("\r\n")
	}
	if _, err := w.Write(nil); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

// endData writes the terminating ".\r\n" after writeContent and flushes w.
func endData(w *bufio.Writer) error {
	_, _ = w.WriteString(".\r\n")
	// bufio.Writer keeps its first error and returns it from every later
	// call, Flush included, so checking here is enough.
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}
