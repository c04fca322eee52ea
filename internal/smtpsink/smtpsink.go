// Package smtpsink runs an SMTP server on the loopback interface that accepts
// mail and keeps it in memory, in arrival order. `digest demo` uses it so a
// newcomer can watch a pass send without a mail server, and tests use it
// wherever they need a real SMTP peer: it can refuse recipients or messages
// with any reply code, offer STARTTLS or implicit TLS, require AUTH PLAIN,
// and drop its connections on demand.
package smtpsink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// MaxMessageBytes is the largest message the sink accepts (SIZE extension).
const MaxMessageBytes = 10 << 20

// Received is one message as the sink got it.
type Received struct {
	From string   // envelope sender (MAIL FROM)
	To   []string // envelope recipients (RCPT TO), in order
	Data []byte   // the message as transmitted, headers and body, dot-unstuffed
	At   time.Time
	TLS  bool   // the session was encrypted (STARTTLS or implicit TLS)
	User string // the AUTH user name, empty without AUTH
}

// Options configure a sink. The zero value is a plain server on a free
// loopback port that accepts everything.
type Options struct {
	// Addr is the address to listen on; "127.0.0.1:0" (a free port) when
	// empty. It must be a loopback address: the sink stores anything it is
	// sent and allows AUTH without TLS, which is only harmless locally.
	Addr string
	// RejectRcpt, when set, is asked about every RCPT TO; a non-nil error
	// refuses that recipient. Return Reject(code, enhancedCode, text) to
	// choose the reply; any other error gives 451 4.0.0.
	RejectRcpt func(to string) error
	// RejectData, when set, is asked about every complete message before it
	// is stored; a non-nil error refuses it (Reject as above; other errors
	// give 554 5.0.0).
	RejectData func(from string, to []string, data []byte) error
	// TLSConfig, when set, makes the sink offer STARTTLS with it.
	TLSConfig *tls.Config
	// ImplicitTLS makes the sink speak TLS from the first byte (SMTPS, port
	// 465 style) with TLSConfig instead of offering STARTTLS.
	ImplicitTLS bool
	// AuthUser and AuthPass, when AuthUser is set, make the sink offer AUTH
	// PLAIN and refuse mail from clients that have not authenticated.
	AuthUser, AuthPass string
	// Logger receives the SMTP server's internal errors; nil discards them.
	Logger *slog.Logger
}

// Reject returns an error that, from RejectRcpt or RejectData, makes the sink
// reply with code (e.g. 550), enhancedCode (e.g. "5.1.1", may be empty) and
// text.
func Reject(code int, enhancedCode, text string) error {
	ec := smtp.EnhancedCodeNotSet
	if n, err := fmt.Sscanf(enhancedCode, "%d.%d.%d", &ec[0], &ec[1], &ec[2]); err != nil || n != 3 {
		ec = smtp.EnhancedCodeNotSet
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: text}
}

// Server is a running sink. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	smtp     *smtp.Server
	listener *trackingListener
	served   chan struct{} // closed when Serve returns
	stop     func() bool   // unregisters the context watch

	mu       sync.Mutex
	messages []Received
	arrived  chan struct{} // closed and replaced on every arrival
}

// Start listens on opts.Addr and serves until Close is called or ctx is
// done.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if err := checkLoopback(opts.Addr); err != nil {
		return nil, err
	}
	if opts.ImplicitTLS && opts.TLSConfig == nil {
		return nil, errors.New("smtp sink: implicit TLS needs a TLS config")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp sink: listen on %s: %w", opts.Addr, err)
	}
	tl := &trackingListener{Listener: l, open: make(map[net.Conn]struct{})}

	s := &Server{
		opts:     opts,
		listener: tl,
		served:   make(chan struct{}),
		arrived:  make(chan struct{}),
	}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "localhost"
	srv.MaxMessageBytes = MaxMessageBytes
	srv.MaxRecipients = 100
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	// Loopback only (checked above), so clear-text AUTH risks nothing and
	// lets tests exercise AUTH without TLS.
	srv.AllowInsecureAuth = true
	srv.ErrorLog = slogPrinter{logger}
	var serveOn net.Listener = tl
	if opts.ImplicitTLS {
		serveOn = tls.NewListener(tl, opts.TLSConfig)
	} else {
		srv.TLSConfig = opts.TLSConfig
	}
	s.smtp = srv

	go func() {
		defer close(s.served)
		// Serve returns when the listener closes, which Close does; the
		// error then says only that, so there is nothing to report.
		_ = srv.Serve(serveOn)
	}()
	s.stop = context.AfterFunc(ctx, func() { _ = s.Close() })
	return s, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("smtp sink: address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("smtp sink: address %q is not on the loopback interface", addr)
	}
	return nil
}

// Addr returns the address the sink listens on, as "127.0.0.1:port".
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Host returns the IP address the sink listens on.
func (s *Server) Host() string {
	host, _, _ := net.SplitHostPort(s.Addr())
	return host
}

// Port returns the TCP port the sink listens on.
func (s *Server) Port() int {
	_, port, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(port)
	return n
}

// Messages returns a copy of the messages received so far, in arrival order.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMessages(s.messages)
}

// Wait blocks until at least n messages have arrived, then returns them all;
// or returns what has arrived with ctx's error when ctx is done first.
func (s *Server) Wait(ctx context.Context, n int) ([]Received, error) {
	for {
		s.mu.Lock()
		msgs, arrived := s.messages, s.arrived
		if len(msgs) >= n {
			defer s.mu.Unlock()
			return cloneMessages(msgs), nil
		}
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			return s.Messages(), fmt.Errorf("smtp sink: waiting for %d messages, have %d: %w", n, len(msgs), ctx.Err())
		}
	}
}

// Connections returns how many client connections the sink has accepted
// since it started.
func (s *Server) Connections() int { return s.listener.accepted() }

// DropConnections closes every open client connection without a goodbye,
// as a crashed or restarted server would, and keeps accepting new ones. It
// returns how many it closed.
func (s *Server) DropConnections() int { return s.listener.closeAll() }

// Close stops listening and closes every connection. Messages stay
// readable.
func (s *Server) Close() error {
	s.stop()
	err := s.smtp.Close()
	// go-smtp only knows the listener once Serve has started; close it here
	// too, so a Close right after Start cannot leave Serve waiting forever.
	if lerr := s.listener.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) && err == nil {
		err = lerr
	}
	s.listener.closeAll()
	<-s.served
	if err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("smtp sink: close: %w", err)
	}
	return nil
}

func (s *Server) store(m Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

func cloneMessages(msgs []Received) []Received {
	out := make([]Received, len(msgs))
	for i, m := range msgs {
		m.To = slices.Clone(m.To)
		m.Data = slices.Clone(m.Data)
		out[i] = m
	}
	return out
}

// slogPrinter adapts a *slog.Logger to go-smtp's Printf/Println logger.
type slogPrinter struct{ logger *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.logger.Warn("smtp sink: " + fmt.Sprintf(format, v...))
}

func (p slogPrinter) Println(v ...any) {
	p.logger.Warn("smtp sink: " + fmt.Sprint(v...))
}

// trackingListener counts accepted connections and remembers the open ones
// so DropConnections can cut them.
type trackingListener struct {
	net.Listener

	mu    sync.Mutex
	count int
	open  map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.count++
	l.open[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

func (l *trackingListener) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

func (l *trackingListener) closeAll() int {
	l.mu.Lock()
	conns := make([]net.Conn, 0, len(l.open))
	for c := range l.open {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	return len(conns)
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.open, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
