package mailer

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// envelopeServer is a go-smtp server on 127.0.0.1 that records what
// smtpsink does not: the MAIL FROM parameters (BODY=8BITMIME). It can hide
// 8BITMIME from its EHLO reply, which go-smtp always advertises, to stand
// in for a server without RFC 6152; and it can discard messages, for
// benchmarks that should measure the sender rather than the server.
type envelopeServer struct {
	srv     *smtp.Server
	addr    *net.TCPAddr
	discard bool

	mu       sync.Mutex
	received []envelope
	arrived  chan struct{} // closed and replaced on every arrival
}

// envelope is one message as envelopeServer got it.
type envelope struct {
	From string
	Body smtp.BodyType // the BODY= parameter of MAIL FROM, "" when absent
	To   []string
	Data []byte
}

type serverOptions struct {
	no8BitMIME bool // hide 8BITMIME from the EHLO reply
	discard    bool // keep nothing
	// reads, when set, receives every chunk the server reads off the
	// wire, in order: a test can see which commands came in one write.
	reads chan<- string
}

func startEnvelopeServer(t testing.TB, opts serverOptions) *envelopeServer {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &envelopeServer{addr: l.Addr().(*net.TCPAddr), discard: opts.discard, arrived: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &envelopeSession{srv: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	s.srv.MaxMessageBytes = 10 << 20
	var listener net.Listener = l
	if opts.no8BitMIME {
		listener = hiding8BitMIME{listener}
	}
	if opts.reads != nil {
		listener = tappedListener{listener, opts.reads}
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.srv.Serve(listener)
	}()
	t.Cleanup(func() {
		_ = s.srv.Close()
		<-served
	})
	return s
}

func (s *envelopeServer) Host() string { return s.addr.IP.String() }
func (s *envelopeServer) Port() int    { return s.addr.Port }

// wait returns the first n messages, failing the test if they do not
// arrive within waitTimeout.
func (s *envelopeServer) wait(t *testing.T, n int) []envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	for {
		s.mu.Lock()
		got, arrived := s.received, s.arrived
		s.mu.Unlock()
		if len(got) >= n {
			return got[:n]
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			t.Fatalf("%d of %d messages arrived", len(got), n)
		}
	}
}

type envelopeSession struct {
	srv  *envelopeServer
	from string
	body smtp.BodyType
	to   []string
}

func (s *envelopeSession) Reset()        { s.from, s.body, s.to = "", "", nil }
func (s *envelopeSession) Logout() error { return nil }

func (s *envelopeSession) Mail(from string, opts *smtp.MailOptions) error {
	s.from = from
	if opts != nil {
		s.body = opts.Body
	}
	return nil
}

func (s *envelopeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *envelopeSession) Data(r io.Reader) error {
	if s.srv.discard {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.received = append(s.srv.received, envelope{From: s.from, Body: s.body, To: s.to, Data: data})
	close(s.srv.arrived)
	s.srv.arrived = make(chan struct{})
	return nil
}

// hiding8BitMIME is a listener whose connections drop the 8BITMIME line
// from the server's EHLO reply: go-smtp has no option to leave it out.
// go-smtp flushes each reply in one write, so the line is never split.
type hiding8BitMIME struct{ net.Listener }

func (l hiding8BitMIME) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return hidingConn{c}, nil
}

type hidingConn struct{ net.Conn }

var ext8BitMIME = []byte("250-8BITMIME\r\n")

func (c hidingConn) Write(p []byte) (int, error) {
	if !bytes.Contains(p, ext8BitMIME) {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(bytes.ReplaceAll(p, ext8BitMIME, nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// tappedListener hands a copy of everything its connections read to reads.
type tappedListener struct {
	net.Listener
	reads chan<- string
}

func (l tappedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tappedConn{c, l.reads}, nil
}

type tappedConn struct {
	net.Conn
	reads chan<- string
}

func (c tappedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.reads <- string(p[:n])
	}
	return n, err
}
