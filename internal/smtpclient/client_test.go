package smtpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtpsink"
)

// waitTimeout bounds every wait so that a broken test fails instead of
// hanging; nothing here sleeps.
const waitTimeout = 20 * time.Second

const (
	greeting = `
		S: 220 mx.test ESMTP
		C: EHLO client.test`
	// hello is a greeting and an EHLO reply offering nothing.
	hello = greeting + `
		S: 250 mx.test`
	// helloPipelining offers PIPELINING and 8BITMIME.
	helloPipelining = greeting + `
		S: 250-mx.test
		S: 250-8BITMIME
		S: 250 PIPELINING`
	// message is the default Send: one message, no PIPELINING.
	message = `
		C: MAIL FROM:<news@example.org>
		S: 250 2.1.0 ok
		C: RCPT TO:<ana@example.com>
		S: 250 2.1.5 ok
		C: DATA
		S: 354 go on
		C: <data>
		S: 250 2.0.0 queued`
	// pipelined is the default Send with PIPELINING.
	pipelined = `
		C: MAIL FROM:<news@example.org>
		C: RCPT TO:<ana@example.com>
		C: DATA
		S: 250 2.1.0 ok
		S: 250 2.1.5 ok
		S: 354 go on
		C: <data>
		S: 250 2.0.0 queued`
	reset = `
		C: RSET
		S: 250 2.0.0 reset`
	quit = `
		C: QUIT
		S: 221 2.0.0 bye`
	defaultContent = "Subject: hi\r\n\r\nhello\r\n"
)

// session is one row of TestSessions: a script the server plays, what the
// client does (connect, Send one message, RSET after a refusal, QUIT if
// the session is still open) and what must come of it.
type session struct {
	name   string
	script string
	config func(*Config)
	// dialStep is the step at which connecting must fail, with dialCode
	// the reply code (0 for none) and dialIs an error it must wrap.
	dialStep string
	dialCode int
	dialIs   error
	env      *Envelope // default news@example.org → ana@example.com
	content  string    // default defaultContent
	ready    func() error
	// sendStep is the step at which Send must fail ("" for success; steps
	// separated by "|" when a race decides which), with sendCode the reply
	// code (0 for none) and sendIs an error it must wrap; closed says the
	// session is over after it.
	sendStep string
	sendCode int
	sendIs   error
	closed   bool
	data     []string // the DATA contents the server must get; default the content, stuffed
	check    func(t *testing.T, c *Client)
}

func TestSessions(t *testing.T) {
	serverTLS, roots, err := smtpsink.TestCertificate()
	if err != nil {
		t.Fatal(err)
	}
	trusting := func(c *Config) { c.Security, c.TLSConfig = StartTLS, &tls.Config{RootCAs: roots} }
	login := func(c *Config) { c.Username, c.Password = "digest", "s3cret" }

	tests := []session{
		{name: "one message", script: hello + message + quit},
		{name: "pipelined", script: helloPipelining + pipelined + quit},
		{name: "multi-line replies", script: `
			S: 220-mx.test ESMTP
			S: 220-more about this server
			S: 220 ready
			C: EHLO client.test
			S: 250-mx.test greets client.test
			S: 250-SIZE 10240000
			S: 250-8BITMIME
			S: 250-ENHANCEDSTATUSCODES
			S: 250 SMTPUTF8
			C: MAIL FROM:<news@example.org>
			S: 250 2.1.0 ok
			C: RCPT TO:<ana@example.com>
			S: 250-2.1.5 first line
			S: 250 2.1.5 second line
			C: DATA
			S: 354 go on
			C: <data>
			S: 250-2.0.0 queued
			S: 250 2.0.0 as 1234` + quit,
			check: func(t *testing.T, c *Client) {
				if p, ok := c.Extension("size"); !ok || p != "10240000" {
					t.Errorf("SIZE offered %v with %q, want 10240000", ok, p)
				}
				if _, ok := c.Extension("PIPELINING"); ok {
					t.Error("PIPELINING seen, not offered")
				}
			}},
		{name: "BODY=8BITMIME and SMTPUTF8", script: greeting + `
			S: 250-mx.test
			S: 250-8BITMIME
			S: 250 SMTPUTF8
			C: MAIL FROM:<news@example.org> BODY=8BITMIME SMTPUTF8
			S: 250 ok
			C: RCPT TO:<ana@example.com>
			S: 250 ok
			C: DATA
			S: 354 go on
			C: <data>
			S: 250 queued` + quit,
			env: &Envelope{From: "news@example.org", To: []string{"ana@example.com"}, EightBitMIME: true, SMTPUTF8: true}},
		{name: "8BITMIME asked of a server without it", script: hello + reset + quit,
			env:      &Envelope{From: "news@example.org", To: []string{"ana@example.com"}, EightBitMIME: true},
			sendStep: StepMail, data: []string{}},
		{name: "CR in an address", script: hello + reset + quit,
			env:      &Envelope{From: "news@example.org", To: []string{"ana@example.com\r\nRCPT TO:<eve@example.net>"}},
			sendStep: StepRcpt, data: []string{}},
		{name: "null sender, two recipients", script: helloPipelining + `
			C: MAIL FROM:<>
			C: RCPT TO:<ana@example.com>
			C: RCPT TO:<bo@example.com>
			C: DATA
			S: 250 ok
			S: 250 ok
			S: 250 ok
			S: 354 go on
			C: <data>
			S: 250 queued` + quit,
			env: &Envelope{To: []string{"ana@example.com", "bo@example.com"}}},
		{name: "dot-stuffing", script: hello + message + quit,
			content: "Hi\r\n.hidden\r\n..two\r\n.\r\nbare LF\n.last",
			data:    []string{"Hi\r\n..hidden\r\n...two\r\n..\r\nbare LF\r\n..last\r\n"}},
		{name: "HELO for a server without EHLO", script: `
			S: 220 mx.test SMTP
			C: EHLO client.test
			S: 502 5.5.1 unknown command
			C: HELO client.test
			S: 250 mx.test` + message + quit},

		// Refusals, a command at a time: the session goes on after RSET.
		{name: "451 at MAIL", script: hello + `
			C: MAIL FROM:<news@example.org>
			S: 451 4.3.0 busy` + reset + quit,
			sendStep: StepMail, sendCode: 451, data: []string{}},
		{name: "550 at RCPT", script: hello + `
			C: MAIL FROM:<news@example.org>
			S: 250 ok
			C: RCPT TO:<ana@example.com>
			S: 550 5.1.1 no such user` + reset + quit,
			sendStep: StepRcpt, sendCode: 550, data: []string{}},
		{name: "554 at DATA", script: hello + `
			C: MAIL FROM:<news@example.org>
			S: 250 ok
			C: RCPT TO:<ana@example.com>
			S: 250 ok
			C: DATA
			S: 554 5.3.0 no` + reset + quit,
			sendStep: StepData, sendCode: 554, data: []string{}},
		{name: "552 at end of DATA", script: hello + `
			C: MAIL FROM:<news@example.org>
			S: 250 ok
			C: RCPT TO:<ana@example.com>
			S: 250 ok
			C: DATA
			S: 354 go on
			C: <data>
			S: 552 5.3.4 too big` + reset + quit,
			sendStep: StepDataEnd, sendCode: 552},
		{name: "421 at MAIL", script: hello + `
			C: MAIL FROM:<news@example.org>
			S: 421 4.3.2 closing
			C: <eof>`,
			sendStep: StepMail, sendCode: 421, closed: true, data: []string{}},

		// Refusals with PIPELINING: every reply is read, the first
		// refusal reported.
		{name: "pipelined 451 at MAIL", script: helloPipelining + `
			C: MAIL FROM:<news@example.org>
			C: RCPT TO:<ana@example.com>
			C: DATA
			S: 451 4.3.0 busy
			S: 503 5.5.1 no MAIL
			S: 503 5.5.1 no RCPT` + reset + quit,
			sendStep: StepMail, sendCode: 451, data: []string{}},
		{name: "pipelined 550 at RCPT", script: helloPipelining + `
			C: MAIL FROM:<news@example.org>
			C: RCPT TO:<ana@example.com>
			C: DATA
			S: 250 ok
			S: 550 5.1.1 no such user
			S: 554 5.5.1 no valid recipients` + reset + quit,
			sendStep: StepRcpt, sendCode: 550, data: []string{}},
		{name: "pipelined 354 after a refused RCPT", script: helloPipelining + `
			C: MAIL FROM:<news@example.org>
			C: RCPT TO:<ana@example.com>
			C: DATA
			S: 250 ok
			S: 550 5.1.1 no such user
			S: 354 go on anyway
			C: <data>
			S: 554 5.5.1 no valid recipients` + reset + quit,
			sendStep: StepRcpt, sendCode: 550, data: []string{""}},
		{name: "pipelined 554 at DATA", script: helloPipelining + `
			C: MAIL FROM:<news@example.org>
			C: RCPT TO:<ana@example.com>
			C: DATA
			S: 250 ok
			S: 250 ok
			S: 554 5.3.0 no` + reset + quit,
			sendStep: StepData, sendCode: 554, data: []string{}},
		{name: "pipelined 421 at MAIL, then hang-up", script: helloPipelining + `
			C: MAIL FROM:<news@example.org>
			C: RCPT TO:<ana@example.com>
			C: DATA
			S: 421 4.3.2 closing
			S: <close>`,
			sendStep: StepMail, sendCode: 421, closed: true, data: []string{}},
		{name: "pipelined 452 at end of DATA", script: helloPipelining + pipelined[:strings.LastIndex(pipelined, "S:")] + `
			S: 452 4.3.1 out of room` + reset + quit,
			sendStep: StepDataEnd, sendCode: 452},

		// Failures of the connection end the session.
		{name: "drop at MAIL", script: hello + `
			C: MAIL FROM:<news@example.org>
			S: <close>`,
			sendStep: StepMail, closed: true, data: []string{}},
		{name: "drop mid-DATA", script: hello + `
			C: MAIL FROM:<news@example.org>
			S: 250 ok
			C: RCPT TO:<ana@example.com>
			S: 250 ok
			C: DATA
			S: 354 go on
			S: <close>`,
			content:  strings.Repeat("a line of a long message\r\n", 40000),
			sendStep: StepContent + "|" + StepDataEnd, closed: true, data: []string{}},
		{name: "drop after the final dot", script: hello + message[:strings.LastIndex(message, "S:")] + `
			S: <close>`,
			sendStep: StepDataEnd, closed: true},
		{name: "stall at MAIL", script: hello + `
			C: MAIL FROM:<news@example.org>
			S: <stall>`,
			config:   func(c *Config) { c.Timeout = 300 * time.Millisecond },
			sendStep: StepMail, sendIs: errTimeout, closed: true, data: []string{}},

		// The final dot waits for ready.
		{name: "ready fails: no final dot", script: hello + `
			C: MAIL FROM:<news@example.org>
			S: 250 ok
			C: RCPT TO:<ana@example.com>
			S: 250 ok
			C: DATA
			S: 354 go on
			C: <cut>`,
			ready:    func() error { return errTest },
			sendStep: StepHeld, sendIs: errTest, closed: true,
			data: []string{defaultContent}},

		// Opening the session.
		{name: "greeting 554", script: `
			S: 554 5.3.2 no service here
			C: <eof>`,
			dialStep: StepGreeting, dialCode: 554},
		{name: "greeting 421", script: `
			S: 421 4.3.2 try later
			C: <eof>`,
			dialStep: StepGreeting, dialCode: 421},
		{name: "EHLO 421", script: greeting + `
			S: 421 4.3.2 closing
			C: <eof>`,
			dialStep: StepHello, dialCode: 421},
		{name: "STARTTLS", script: greeting + `
			S: 250-mx.test
			S: 250 STARTTLS
			C: STARTTLS
			S: 220 2.0.0 go ahead
			S: <starttls>
			C: EHLO client.test
			S: 250-mx.test
			S: 250 PIPELINING` + pipelined + quit,
			config: trusting,
			check: func(t *testing.T, c *Client) {
				if !c.TLS() {
					t.Error("session not encrypted")
				}
			}},
		{name: "STARTTLS not offered", script: hello + `
			C: <eof>`,
			config: trusting, dialStep: StepStartTLS},
		{name: "STARTTLS refused", script: greeting + `
			S: 250-mx.test
			S: 250 STARTTLS
			C: STARTTLS
			S: 454 4.7.0 TLS not available
			C: <eof>`,
			config: trusting, dialStep: StepStartTLS, dialCode: 454},
		{name: "STARTTLS with an untrusted certificate", script: greeting + `
			S: 250-mx.test
			S: 250 STARTTLS
			C: STARTTLS
			S: 220 2.0.0 go ahead
			S: <starttls?>`,
			config:   func(c *Config) { c.Security = StartTLS },
			dialStep: StepStartTLS},
		{name: "STARTTLS with text injected after its reply", script: greeting + `
			S: 250-mx.test
			S: 250 STARTTLS
			C: STARTTLS
			S: 220 2.0.0 go ahead
			S: 250-injected in plain text
			C: <eof>`,
			config: trusting, dialStep: StepStartTLS},
		{name: "AUTH PLAIN", script: greeting + `
			S: 250-mx.test
			S: 250 AUTH LOGIN PLAIN
			C: AUTH PLAIN AGRpZ2VzdABzM2NyZXQ=
			S: 235 2.7.0 ok` + message + quit,
			config: login},
		{name: "AUTH LOGIN", script: greeting + `
			S: 250-mx.test
			S: 250 AUTH LOGIN
			C: AUTH LOGIN
			S: 334 VXNlcm5hbWU6
			C: ZGlnZXN0
			S: 334 UGFzc3dvcmQ6
			C: czNjcmV0
			S: 235 2.7.0 ok` + message + quit,
			config: login},
		{name: "AUTH after STARTTLS", script: greeting + `
			S: 250-mx.test
			S: 250 STARTTLS
			C: STARTTLS
			S: 220 2.0.0 go ahead
			S: <starttls>
			C: EHLO client.test
			S: 250-mx.test
			S: 250 AUTH PLAIN
			C: AUTH PLAIN AGRpZ2VzdABzM2NyZXQ=
			S: 235 2.7.0 ok` + message + quit,
			config: func(c *Config) { trusting(c); login(c) }},
		{name: "AUTH refused", script: greeting + `
			S: 250-mx.test
			S: 250 AUTH PLAIN
			C: AUTH PLAIN AGRpZ2VzdABzM2NyZXQ=
			S: 535 5.7.8 bad credentials
			C: <eof>`,
			config: login, dialStep: StepAuth, dialCode: 535},
		{name: "no AUTH mechanism in common", script: greeting + `
			S: 250-mx.test
			S: 250 AUTH CRAM-MD5
			C: <eof>`,
			config: login, dialStep: StepAuth, dialIs: ErrNoAuthMechanism},

		// Replies the client will not read to the end.
		{name: "malformed reply", script: greeting + `
			S: 250-mx.test
			S: hello there
			C: <eof>`,
			dialStep: StepHello, dialIs: ErrMalformedReply},
		{name: "codes differ within a reply", script: greeting + `
			S: 250-mx.test
			S: 251 PIPELINING
			C: <eof>`,
			dialStep: StepHello, dialIs: ErrMalformedReply},
		{name: "endless 250- lines", script: greeting + `
			S: <flood->`,
			dialStep: StepHello, dialIs: ErrReplyTooLong},
		{name: "a line without end", script: greeting + `
			S: <flood>`,
			dialStep: StepHello, dialIs: ErrReplyLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, serverTLS) })
	}
}

// errTimeout, as an error a session must wrap, stands for any network
// error that is a timeout.
var errTimeout = errors.New("timeout")

func (tt session) run(t *testing.T, serverTLS *tls.Config) {
	srv := startScript(t, tt.script, serverTLS)
	cfg := Config{Host: "127.0.0.1", Port: srv.addr.Port, Security: NoTLS, LocalName: "client.test", Timeout: 5 * time.Second}
	if tt.config != nil {
		tt.config(&cfg)
	}
	c, err := Dial(t.Context(), cfg)
	if tt.dialStep != "" {
		if err == nil {
			_ = c.Close()
			t.Fatalf("Dial succeeded, want a failure at %s", tt.dialStep)
		}
		checkError(t, "Dial", err, tt.dialStep, tt.dialCode, tt.dialIs)
		if tt.config != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the password: %v", err)
		}
		srv.wait(t)
		return
	}
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	env := Envelope{From: "news@example.org", To: []string{"ana@example.com"}}
	if tt.env != nil {
		env = *tt.env
	}
	content := defaultContent
	if tt.content != "" {
		content = tt.content
	}
	write := func(w *DataWriter) error {
		_, err := w.Write([]byte(content))
		return err
	}
	err = c.Send(t.Context(), env, write, tt.ready)
	switch {
	case tt.sendStep == "" && err != nil:
		t.Fatalf("Send: %v", err)
	case tt.sendStep != "":
		if err == nil {
			t.Fatalf("Send succeeded, want a failure at %s", tt.sendStep)
		}
		checkError(t, "Send", err, tt.sendStep, tt.sendCode, tt.sendIs)
	}
	if c.Closed() != tt.closed {
		t.Errorf("session closed %v after Send, want %v", c.Closed(), tt.closed)
	}
	if tt.check != nil {
		tt.check(t, c)
	}
	if !c.Closed() {
		if err != nil {
			if err := c.Reset(); err != nil {
				t.Errorf("Reset: %v", err)
			}
		}
		if err := c.Quit(); err != nil {
			t.Errorf("Quit: %v", err)
		}
	} else if err := c.Close(); err != nil {
		t.Errorf("Close of a closed session: %v", err)
	}
	srv.wait(t)
	want := tt.data
	if want == nil {
		want = []string{strings.TrimSuffix(stuffed(content), ".\r\n")}
	}
	if strings.Join(srv.data, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("server got DATA %q, want %q", srv.data, want)
	}
}

// checkError asserts err is an *Error at one of steps (separated by "|"),
// with a reply of code (none when 0) and wrapping is when it is set.
func checkError(t *testing.T, op string, err error, steps string, code int, is error) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) || !strings.Contains("|"+steps+"|", "|"+se.Step+"|") {
		t.Errorf("%s = %v, want a failure at %s", op, err, steps)
		return
	}
	var reply *textproto.Error
	gotCode := 0
	if errors.As(err, &reply) {
		gotCode = reply.Code
	}
	if gotCode != code {
		t.Errorf("%s = %v: reply code %d, want %d", op, err, gotCode, code)
	}
	var ne net.Error
	if is == errTimeout && !(errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("%s = %v, want a timeout", op, err)
	}
	if is != nil && is != errTimeout && !errors.Is(err, is) {
		t.Errorf("%s = %v, want it to wrap %v", op, err, is)
	}
}

// countingConn counts what the client reads off the connection.
type countingConn struct {
	net.Conn
	read atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TestReplyLimits checks that a server that never ends its reply gets no
// more of the client's memory than the limits allow: the client stops
// reading at the limit.
func TestReplyLimits(t *testing.T) {
	for _, tt := range []struct {
		script  string
		want    error
		maxRead int64
	}{
		{greeting + "\nS: <flood->", ErrReplyTooLong, MaxReply + MaxReplyLine},
		{greeting + "\nS: <flood>", ErrReplyLineTooLong, MaxReplyLine + 64},
	} {
		t.Run(tt.want.Error(), func(t *testing.T) {
			srv := startScript(t, tt.script, nil)
			var d net.Dialer
			raw, err := d.DialContext(t.Context(), "tcp", srv.addr.String())
			if err != nil {
				t.Fatal(err)
			}
			conn := &countingConn{Conn: raw}
			_, err = newClient(t.Context(), conn, Config{Host: "127.0.0.1", Security: NoTLS, LocalName: "client.test", Timeout: 5 * time.Second})
			if !errors.Is(err, tt.want) {
				t.Fatalf("newClient = %v, want %v", err, tt.want)
			}
			srv.wait(t)
			if n := conn.read.Load(); n > tt.maxRead {
				t.Errorf("the client read %d octets, want at most %d", n, tt.maxRead)
			}
		})
	}
}

// TestAuthNeverInClear: credentials go only over TLS or to a loopback
// host; to any other host over plain text the session ends before AUTH.
func TestAuthNeverInClear(t *testing.T) {
	srv := startScript(t, greeting+`
		S: 250-mx.test
		S: 250 AUTH PLAIN
		C: <eof>`, nil)
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", srv.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Host: "mail.example.org", Security: NoTLS, LocalName: "client.test", Username: "digest", Password: "s3cret", Timeout: 5 * time.Second}
	if _, err := newClient(t.Context(), conn, cfg); !errors.Is(err, ErrAuthInClear) {
		t.Errorf("newClient = %v, want %v", err, ErrAuthInClear)
	}
	srv.wait(t)
}

// TestImplicitTLS dials a server that speaks TLS from the first octet.
func TestImplicitTLS(t *testing.T) {
	serverTLS, roots, err := smtpsink.TestCertificate()
	if err != nil {
		t.Fatal(err)
	}
	srv := startScript(t, "S: <starttls>\n"+hello+message+quit, serverTLS)
	cfg := Config{Host: "127.0.0.1", Port: srv.addr.Port, Security: ImplicitTLS, TLSConfig: &tls.Config{RootCAs: roots},
		LocalName: "client.test", Timeout: 5 * time.Second}
	c, err := Dial(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if !c.TLS() {
		t.Error("session not encrypted")
	}
	err = c.Send(t.Context(), Envelope{From: "news@example.org", To: []string{"ana@example.com"}}, func(w *DataWriter) error {
		_, err := w.Write([]byte(defaultContent))
		return err
	}, nil)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Errorf("Quit: %v", err)
	}
	srv.wait(t)
}

// TestSendHoldsTheFinalDot checks that ready runs before the final dot
// goes, and that cancelling the context while Send waits for the verdict
// ends the session at once with an error that says so.
func TestSendHoldsTheFinalDot(t *testing.T) {
	srv := startScript(t, hello+`
		C: MAIL FROM:<news@example.org>
		S: 250 ok
		C: RCPT TO:<ana@example.com>
		S: 250 ok
		C: DATA
		S: 354 go on
		C: <data>
		S: <stall>`, nil)
	c, err := Dial(t.Context(), Config{Host: "127.0.0.1", Port: srv.addr.Port, Security: NoTLS, LocalName: "client.test", Timeout: waitTimeout})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	readyCalls := 0
	ready := func() error {
		readyCalls++
		if srv.gotDot.Load() {
			t.Error("the server had the final dot before ready returned")
		}
		// The server stalls after the dot: only the context ends the wait.
		// Cancelling here, before the dot is written, would race the
		// connection's close against the dot; cancel once the server has it.
		go func() {
			for !srv.gotDot.Load() && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		return nil
	}
	err = c.Send(ctx, Envelope{From: "news@example.org", To: []string{"ana@example.com"}}, func(w *DataWriter) error {
		_, err := w.Write([]byte(defaultContent))
		return err
	}, ready)
	if !errors.Is(err, context.Canceled) || readyCalls != 1 || !c.Closed() {
		t.Errorf("Send = %v after %d calls of ready, closed %v; want context.Canceled after 1, closed", err, readyCalls, c.Closed())
	}
	srv.wait(t)
	if !srv.gotDot.Load() {
		t.Error("the server never got the final dot")
	}
}
