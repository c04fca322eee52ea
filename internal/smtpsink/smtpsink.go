// Package smtpsink runs an SMTP server on the loopback interface that accepts
// mail and keeps it in memory, in arrival order. `digest demo` uses it so a
// newcomer can watch a pass send without a mail server, and tests use it
// wherever they need a real SMTP peer: it can refuse recipients or messages
// with any reply code, offer STARTTLS or implicit TLS, require AUTH PLAIN,
// and drop its connections on demand.
//
// For fault-injection tests a Plan (Options.Faults) scripts misbehaviour
// per stage, recipient and attempt: refuse with any reply, hang up, hang
// up after keeping the message, or stop answering. Every stage a session
// reaches is logged (Events), so a test can count attempts.
package smtpsink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// Unacknowledged is set when the sink kept the message but, by a
	// DropAfterAccept or StallAfterAccept fault, never told the client:
	// the client saw a failure for a message that was delivered.
	Unacknowledged bool
}

// MessageID returns the message's Message-ID header as sent, angle
// brackets included ("<id@domain>"), or "" when it has none.
func (m Received) MessageID() string { return messageID(m.Data) }

// messageID reads the Message-ID header from the header block of data,
// tolerating a malformed or missing header block.
func messageID(data []byte) string {
	// Only the header block: a large body need not be scanned.
	end := len(data)
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		end = i + 4
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(data[:end])))
	// ReadMIMEHeader returns what it parsed before any error, which is
	// what we want from a message whose later headers are damaged.
	h, _ := r.ReadMIMEHeader()
	return strings.TrimSpace(h.Get("Message-Id"))
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
	// Faults, when set, is asked at every stage of every session (see
	// Stage) and may make the sink refuse, hang up or stop answering
	// there. It is asked before RejectRcpt and RejectData, and after the
	// AUTH check. Build it with At, Combine, FailFirst and friends.
	Faults Plan
	// NoPipelining leaves PIPELINING (RFC 2920) out of the EHLO reply, which
	// go-smtp always offers, so that clients send one command at a time.
	// After STARTTLS the sink offers it again.
	NoPipelining bool
	// Discard accepts every message and keeps nothing but counts (see
	// Counts): no messages, no event log, no faults. For benchmarks, where
	// storing a million digests would measure the sink, not the sender.
	Discard bool
}

// Reject returns an error that, from RejectRcpt or RejectData, makes the sink
// reply with code (e.g. 550), enhancedCode (e.g. "5.1.1", may be empty) and
// text.
func Reject(code int, enhancedCode, text string) error {
	return Reply(code, enhancedCode, text).smtpError()
}

// Server is a running sink. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	smtp     *smtp.Server
	listener *trackingListener
	served   chan struct{}  // closed when Serve returns
	stop     func() bool    // unregisters the context watch
	faulted  sync.WaitGroup // connections handled by a StageConnect fault

	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	messages []Received
	arrived  chan struct{} // closed and replaced on every arrival
	events   []Event

	discarded, discardedBytes atomic.Int64 // with Options.Discard
	attempts                  map[attemptKey]int
}

// attemptKey is what Event.Attempt counts per: a stage and its subject.
type attemptKey struct {
	stage   Stage
	subject string
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
	tl := &trackingListener{Listener: l, open: make(map[*trackedConn]struct{}), noPipelining: opts.NoPipelining}

	s := &Server{
		opts:     opts,
		listener: tl,
		served:   make(chan struct{}),
		arrived:  make(chan struct{}),
		attempts: make(map[attemptKey]int),
	}
	tl.divert = s.divertAtConnect
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
	if opts.ImplicitTLS {
		// The listener does the TLS wrapping, so that a StageConnect fault
		// answers over TLS like the rest of the session.
		tl.tlsConfig = opts.TLSConfig
	} else {
		srv.TLSConfig = opts.TLSConfig
	}
	s.smtp = srv

	go func() {
		defer close(s.served)
		// Serve returns when the listener closes, which Close does; the
		// error then says only that, so there is nothing to report.
		_ = srv.Serve(tl)
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

// Counts returns how many messages and bytes a Discard sink has accepted.
func (s *Server) Counts() (messages, bytes int64) {
	return s.discarded.Load(), s.discardedBytes.Load()
}

// Connections returns how many client connections the sink has accepted
// since it started.
func (s *Server) Connections() int { return s.listener.accepted() }

// DropConnections closes every open client connection without a goodbye,
// as a crashed or restarted server would, and keeps accepting new ones. It
// returns how many it closed.
func (s *Server) DropConnections() int { return s.listener.closeAll() }

// Events returns a copy of the log of every stage every session reached,
// in order, faulted or not.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.events))
	for i, ev := range s.events {
		ev.To = slices.Clone(ev.To)
		out[i] = ev
	}
	return out
}

// closeTimeout bounds how long Close waits for session goroutines after
// cutting their connections; only a Faults or Reject callback that never
// returns can make it wait that long.
const closeTimeout = 10 * time.Second

// Close stops listening, closes every connection (stalled sessions
// included) and waits until every session has ended, so no goroutine is
// left behind. Messages and events stay readable. Calling it again
// returns the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown() })
	return s.closeErr
}

func (s *Server) shutdown() error {
	s.stop()
	// Closing the listener ends Serve, whether or not it has started; once
	// it has returned no connection can be accepted any more, so cutting
	// the open ones then cuts them all.
	err := s.listener.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	<-s.served
	s.listener.closeAll()
	// Shutdown waits for go-smtp's session goroutines, which end now that
	// their connections are closed and stalls are reading from them.
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if serr := s.smtp.Shutdown(ctx); serr != nil && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	s.faulted.Wait()
	if err != nil {
		return fmt.Errorf("smtp sink: close: %w", err)
	}
	return nil
}

// record logs ev, numbering its attempt, and returns it as logged.
func (s *Server) record(ev Event) Event {
	key := attemptKey{stage: ev.Stage}
	switch ev.Stage {
	case StageConnect:
		key.subject = ""
	case StageMail:
		key.subject = strings.ToLower(ev.From)
	default:
		key.subject = strings.ToLower(strings.Join(ev.To, ","))
	}
	ev.To = slices.Clone(ev.To)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts[key]++
	ev.Attempt = s.attempts[key]
	s.events = append(s.events, ev)
	return ev
}

// fault records ev and asks the plan what to do about it.
func (s *Server) fault(ev Event) Fault {
	if s.opts.Discard {
		return Accept() // keeps no log: a benchmark sends millions
	}
	ev = s.record(ev)
	if s.opts.Faults == nil {
		return Accept()
	}
	ev.To = slices.Clone(ev.To) // the plan may keep or change it
	return s.opts.Faults(ev)
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
