package smtpclient

import (
	"bufio"
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
)

// Limits on what the client reads of one reply. RFC 5321 (4.5.3.1.5)
// allows 512 octets a reply line; servers write longer ones (long EHLO
// lists, explanations), so a line may have a few times that. A reply that
// breaks either limit ends the session: the client stops reading there,
// so a broken or hostile server cannot make it hold more than this.
const (
	// MaxReplyLine is the longest reply line read, CRLF included.
	MaxReplyLine = 4096
	// MaxReply is the most octets of one reply, all its lines together.
	MaxReply = 64 << 10
)

// Errors of a reply that cannot be read. Each ends the session.
var (
	ErrReplyLineTooLong = fmt.Errorf("reply line longer than %d octets", MaxReplyLine)
	ErrReplyTooLong     = fmt.Errorf("reply longer than %d octets", MaxReply)
	ErrMalformedReply   = errors.New("malformed reply")
)

// A refusal by the server is a *textproto.Error: its Code is the reply
// code and its Msg the text of the reply's lines, joined by "\n", as
// net/textproto reads them.

// enhancedCodePattern finds an RFC 3463 status code in a reply's text.
var enhancedCodePattern = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)

// EnhancedCode returns the RFC 3463 status code ("5.1.1") in the text of
// reply, "" when it has none. Servers that offer ENHANCEDSTATUSCODES put
// it first; others sometimes name one further on, which counts too.
func EnhancedCode(reply *textproto.Error) string {
	return enhancedCodePattern.FindString(reply.Msg)
}

// readReply reads one reply, single- or multi-line (RFC 5321 4.2.1), into
// c.text and returns its code. Nothing but the reply is kept: a success
// reply costs no allocation.
func (c *Client) readReply() (int, error) {
	c.text = c.text[:0]
	code, total := 0, 0
	for {
		line, err := c.r.ReadSlice('\n')
		total += len(line)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return 0, ErrReplyLineTooLong
		case err != nil:
			return 0, err
		case total > MaxReply:
			return 0, ErrReplyTooLong
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		lineCode, last, ok := parseReplyLine(line)
		if !ok || (code != 0 && lineCode != code) {
			return 0, fmt.Errorf("%w: %.80q", ErrMalformedReply, line)
		}
		if code != 0 {
			c.text = append(c.text, '\n')
		}
		code = lineCode
		if len(line) > 4 {
			c.text = append(c.text, line[4:]...)
		}
		if last {
			return code, nil
		}
	}
}

// parseReplyLine reads the code of a reply line ("250-...", "250 ...",
// or a bare "250") and whether it is the reply's last line.
func parseReplyLine(line []byte) (code int, last, ok bool) {
	if len(line) < 3 {
		return 0, false, false
	}
	for _, d := range line[:3] {
		if d < '0' || d > '9' {
			return 0, false, false
		}
		code = code*10 + int(d-'0')
	}
	if code < 200 || code > 599 {
		return 0, false, false
	}
	if len(line) == 3 {
		return code, true, true
	}
	switch line[3] {
	case ' ':
		return code, true, true
	case '-':
		return code, false, true
	}
	return 0, false, false
}

// expect reads a reply and returns nil when its code is of class (2 for
// 2xx) or, with class over 99, is that code; else the reply as a
// *textproto.Error, or the reason it could not be read.
func (c *Client) expect(class int) error {
	code, err := c.readReply()
	if err != nil {
		return err
	}
	if code == class || code/100 == class {
		return nil
	}
	return c.refusal(code)
}

// refusal is the last reply read, as an error.
func (c *Client) refusal(code int) *textproto.Error {
	return &textproto.Error{Code: code, Msg: string(c.text)}
}

// Steps of a session, as Error names them.
const (
	StepConnect  = "connect"
	StepGreeting = "greeting"
	StepHello    = "EHLO"
	StepStartTLS = "STARTTLS"
	StepAuth     = "AUTH"
	StepMail     = "MAIL FROM"
	StepRcpt     = "RCPT TO"
	StepData     = "DATA"
	StepContent  = "message content"
	StepHeld     = "end of DATA held back"
	StepDataEnd  = "end of DATA"
	StepReset    = "RSET"
	StepQuit     = "QUIT"
)

// Error is a failed step of a session: the step (one of the Step
// constants) and the cause, a *textproto.Error when the server refused,
// else what went wrong on the connection (a network error, a timeout, a
// reply that could not be read) or the caller's error (content, ready).
type Error struct {
	Step string
	Err  error
}

func (e *Error) Error() string { return "smtp " + e.Step + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// replyCode returns the code of the server's reply err carries, or 0 when
// err is a failure of the connection rather than a reply. After a reply
// the session goes on, unless the code is 421, the server's notice that it
// is closing the connection.
func replyCode(err error) int {
	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		return tpe.Code
	}
	return 0
}
