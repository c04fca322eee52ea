// Package smtpclient is the project's SMTP client (RFC 5321): one session
// over one connection, owned by one Client from the greeting to QUIT. It
// connects (with implicit TLS or mandatory STARTTLS), says EHLO (HELO for
// an old server), authenticates with PLAIN or LOGIN, and runs mail
// transactions: MAIL FROM, RCPT TO and DATA, pipelined when the server
// offers PIPELINING (RFC 2920), the content dot-stuffed on the way, and
// the terminating "." held back until the caller allows it. It reads
// replies with limits on their size and reports every failure as an
// *Error naming the step, wrapping the server's reply (*textproto.Error)
// or the connection's error. It knows nothing of MIME: the caller writes
// the message.
package smtpclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Client is one SMTP session. It is not safe for concurrent use. After a
// failure of the connection, a 421 reply or cancellation, the session is
// over (Closed reports it) and the Client must be dropped; after any other
// refused command it can go on, once Reset.
type Client struct {
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	dw      DataWriter
	host    string
	timeout time.Duration
	closed  bool
	tls     bool
	// text is the text of the last reply read (see readReply).
	text []byte

	// What the server offered in its EHLO reply.
	ext                              map[string]string
	auth                             []string
	pipelining, eightBitMIME, utf8OK bool
}

// Dial connects to the server cfg names and opens a session there: it reads
// the greeting, says EHLO, starts TLS when cfg.Security is StartTLS (or
// dials TLS with ImplicitTLS) and authenticates when cfg.Username is set.
// Cancelling ctx aborts it.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, &Error{Step: StepConnect, Err: err}
	}
	if cfg.Security == ImplicitTLS {
		tc := tls.Client(conn, cfg.tlsConfig())
		if err := handshake(ctx, tc, cfg.Timeout); err != nil {
			_ = conn.Close()
			return nil, &Error{Step: StepConnect, Err: err}
		}
		conn = tc
	}
	return newClient(ctx, conn, cfg)
}

// newClient opens a session on conn, which it then owns: it reads the
// greeting, says EHLO, starts TLS when cfg.Security is StartTLS and
// authenticates when cfg.Username is set. With ImplicitTLS, conn must be
// the TLS connection. On failure conn is closed. Cancelling ctx aborts it.
func newClient(ctx context.Context, conn net.Conn, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		_ = conn.Close()
		return nil, err
	}
	c := &Client{
		conn:    conn,
		r:       bufio.NewReaderSize(conn, MaxReplyLine),
		w:       bufio.NewWriter(conn),
		host:    cfg.Host,
		timeout: cfg.Timeout,
	}
	_, c.tls = conn.(*tls.Conn)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	err := c.open(ctx, cfg)
	cancelled := !stop()
	if err == nil && !cancelled {
		return c, nil
	}
	_ = c.conn.Close()
	switch {
	case !cancelled:
		return nil, err
	case err == nil:
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("%w: %w", ctx.Err(), err)
}

// open is newClient's exchange: greeting, EHLO, STARTTLS, AUTH.
func (c *Client) open(ctx context.Context, cfg Config) error {
	if err := c.step(StepGreeting, func() error { return c.expect(220) }); err != nil {
		return err
	}
	if err := c.hello(cfg.LocalName); err != nil {
		return err
	}
	if cfg.Security == StartTLS {
		if err := c.startTLS(ctx, cfg); err != nil {
			return err
		}
	}
	if cfg.Username != "" {
		if err := c.authenticate(cfg.Username, cfg.Password); err != nil {
			return err
		}
	}
	return nil
}

// step sets the deadline for one step of opening the session and runs
// it, naming the step in its error.
func (c *Client) step(name string, f func() error) error {
	err := c.conn.SetDeadline(time.Now().Add(c.timeout))
	if err == nil {
		err = f()
	}
	if err != nil {
		return &Error{Step: name, Err: err}
	}
	return nil
}

// hello says EHLO, or HELO to a server that does not know EHLO, and notes
// the extensions offered.
func (c *Client) hello(name string) error {
	return c.step(StepHello, func() error {
		if err := c.command("EHLO " + name); err != nil {
			return err
		}
		code, err := c.readReply()
		if err != nil {
			return err
		}
		switch {
		case code/100 == 2:
			c.extensions()
			return nil
		case code/100 != 5:
			return c.refusal(code)
		}
		c.ext, c.auth = nil, nil
		c.pipelining, c.eightBitMIME, c.utf8OK = false, false, false
		if err := c.command("HELO " + name); err != nil {
			return err
		}
		return c.expect(2)
	})
}

// extensions reads the EHLO reply in c.text: a greeting line, then one
// extension a line, a keyword and its parameters (RFC 5321 4.1.1.1).
func (c *Client) extensions() {
	c.ext = make(map[string]string)
	c.auth = nil
	lines := strings.Split(string(c.text), "\n")
	for _, line := range lines[1:] {
		keyword, params, _ := strings.Cut(line, " ")
		keyword = strings.ToUpper(keyword)
		if strings.HasPrefix(keyword, "AUTH=") {
			// An old form some servers add beside AUTH.
			keyword, params = "AUTH", strings.TrimPrefix(keyword, "AUTH=")+" "+params
		}
		c.ext[keyword] = params
		if keyword == "AUTH" {
			c.auth = append(c.auth, strings.Fields(strings.ToUpper(params))...)
		}
	}
	_, c.pipelining = c.ext["PIPELINING"]
	_, c.eightBitMIME = c.ext["8BITMIME"]
	_, c.utf8OK = c.ext["SMTPUTF8"]
}

// Extension reports whether the server offered the extension named (in
// any case) in its EHLO reply, and its parameters.
func (c *Client) Extension(name string) (params string, ok bool) {
	params, ok = c.ext[strings.ToUpper(name)]
	return params, ok
}

// TLS reports whether the session is encrypted.
func (c *Client) TLS() bool { return c.tls }

// startTLS upgrades the connection (RFC 3207) and says EHLO again, as the
// server forgets what it knew.
func (c *Client) startTLS(ctx context.Context, cfg Config) error {
	if _, ok := c.ext["STARTTLS"]; !ok {
		return &Error{Step: StepStartTLS, Err: errors.New("the server does not offer STARTTLS, which the configuration requires")}
	}
	err := c.step(StepStartTLS, func() error {
		if err := c.command("STARTTLS"); err != nil {
			return err
		}
		if err := c.expect(220); err != nil {
			return err
		}
		if c.r.Buffered() > 0 {
			// Text sent before the handshake must not count as sent
			// after it (the STARTTLS injection of CVE-2011-0411).
			return errors.New("the server sent more after its reply to STARTTLS")
		}
		tc := tls.Client(c.conn, cfg.tlsConfig())
		if err := handshake(ctx, tc, c.timeout); err != nil {
			return err
		}
		c.conn, c.tls = tc, true
		c.r.Reset(tc)
		c.w.Reset(tc)
		return nil
	})
	if err != nil {
		return err
	}
	return c.hello(cfg.LocalName)
}

func handshake(ctx context.Context, tc *tls.Conn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return tc.HandshakeContext(ctx)
}

// command writes one command line and flushes it.
func (c *Client) command(line string) error {
	_, _ = c.w.WriteString(line)
	_, _ = c.w.WriteString("\r\n")
	return c.w.Flush()
}

// Reset ends the current mail transaction with RSET, so that the next
// starts clean after a refusal. A failure ends the session.
func (c *Client) Reset() error {
	if c.closed {
		return &Error{Step: StepReset, Err: net.ErrClosed}
	}
	err := c.conn.SetDeadline(time.Now().Add(c.timeout))
	if err == nil {
		err = c.command("RSET")
	}
	if err == nil {
		err = c.expect(2)
	}
	if err != nil {
		_ = c.Close()
		return &Error{Step: StepReset, Err: err}
	}
	return nil
}

// Quit ends the session politely (QUIT) and closes the connection.
func (c *Client) Quit() error {
	if c.closed {
		return nil
	}
	err := c.conn.SetDeadline(time.Now().Add(c.timeout))
	if err == nil {
		err = c.command("QUIT")
	}
	if err == nil {
		err = c.expect(2)
	}
	cerr := c.Close()
	if err != nil {
		return &Error{Step: StepQuit, Err: err}
	}
	return cerr
}

// Close closes the connection without QUIT.
func (c *Client) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	return c.conn.Close()
}

// Closed reports whether the session is over: closed, broken, cancelled
// or ended by the server's 421.
func (c *Client) Closed() bool { return c.closed }
