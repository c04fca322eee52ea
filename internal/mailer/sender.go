package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/newsroom/digest/internal/dkim"
	"github.com/newsroom/digest/internal/smtpclient"
)

// TLS modes of Config.TLS.
const (
	TLSStartTLS = "starttls" // plain connect, then mandatory STARTTLS; never falls back to plain text
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS, usually port 465)
	TLSNone     = "none"     // no encryption; for a relay on the loopback interface only
)

// DefaultTimeout bounds each SMTP exchange when Config.Timeout is zero.
const DefaultTimeout = smtpclient.DefaultTimeout

// Config says how to reach the SMTP server.
type Config struct {
	Host string
	Port int
	// TLS is TLSStartTLS, TLSImplicit or TLSNone. The caller decides when
	// TLSNone is acceptable (a loopback relay); NewSender does not.
	TLS string
	// Username and Password, when Username is set, are used for SMTP AUTH
	// (PLAIN, else LOGIN). Credentials are only sent over TLS or to a
	// loopback host, and never logged.
	Username, Password string
	// Timeout bounds each step (connect, each command); DefaultTimeout
	// when zero.
	Timeout time.Duration
	// HELO is the name given in EHLO; the machine's host name when empty.
	HELO string
	// TLSConfig, when set, is used for the TLS handshake (tests pass their
	// CA here). ServerName defaults to Host.
	TLSConfig *tls.Config
	// DKIM, when set, signs every message sent; nil sends them unsigned.
	DKIM *dkim.Signer
	// QuotedPrintable keeps every part quoted-printable even when the
	// server offers 8BITMIME. By default a part goes as 8bit when the
	// server offers it and the part allows it, which makes a send cost
	// less than half the CPU time. A relay that later meets a server without
	// 8BITMIME must convert the part back to quoted-printable, which
	// breaks a DKIM signature (RFC 6376 5.3 advises signers to send 7-bit
	// for that reason); set this when the relay is known to do so.
	QuotedPrintable bool
}

// Sender sends messages over one SMTP connection, dialled on the first Send
// and reused for the following ones. A refused message leaves the
// connection usable (the session is reset); a broken connection is closed
// and dialled again on the next Send. Send calls are serialised; use one
// Sender per connection wanted. Close it when done.
type Sender struct {
	cfg    Config
	client smtpclient.Config
	logger *slog.Logger

	mu   sync.Mutex         // serialises Send and Close, and guards what follows
	conn *smtpclient.Client // the session; nil until dialled and after it ended
	// offers8bit and offersUTF8 say what the current session's server
	// offered: 8BITMIME and SMTPUTF8, which every MAIL FROM then asks for.
	offers8bit, offersUTF8 bool
	// eightBit says whether the server offered 8BITMIME on the last
	// connection (and QuotedPrintable is off). A message is rendered and
	// signed before dialling, so that one that cannot be built or signed
	// opens no connection, with this guess; after a dial that proves it
	// wrong, it is rendered again.
	eightBit bool
	out      rendering     // the message being sent; its buffer is reused
	memo     repeated      // headers shared by the messages of a pass
	env      envelopeAddrs // the envelope of the message in out
	rcpt     [1]string     // the recipients of env, for the client
	write    func(*smtpclient.DataWriter) error
}

// NewSender checks cfg and returns a Sender. It does not connect.
func NewSender(cfg Config, logger *slog.Logger) (*Sender, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp: host is empty")
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp: port %d is not a TCP port", cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client := smtpclient.Config{
		Host:      cfg.Host,
		Port:      cfg.Port,
		TLSConfig: cfg.TLSConfig,
		LocalName: cfg.HELO,
		Username:  cfg.Username,
		Password:  cfg.Password,
		Timeout:   cfg.Timeout,
	}
	switch cfg.TLS {
	case TLSStartTLS:
		client.Security = smtpclient.StartTLS
	case TLSImplicit:
		client.Security = smtpclient.ImplicitTLS
	case TLSNone:
		client.Security = smtpclient.NoTLS
	default:
		return nil, fmt.Errorf("smtp: tls mode %q: want %q, %q or %q", cfg.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}
	if err := client.Validate(); err != nil {
		return nil, err
	}
	s := &Sender{
		cfg:    cfg,
		client: client,
		logger: logger.With("smtp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))),
		// Nearly every server offers 8BITMIME; the first dial tells.
		eightBit: !cfg.QuotedPrintable,
	}
	s.write = s.out.writeData
	return s, nil
}

// Send sends m to its recipient. On failure it returns a *SendError that
// says whether a later attempt may succeed. A connection found dead before
// any of the message went out (typically closed by the server while idle)
// is dialled again and the message offered once more. Cancelling ctx aborts
// the dial or the exchange in progress and drops the connection.
//
// When the server offers 8BITMIME (RFC 6152) the text and HTML parts go as
// 8bit where their lines allow it, else quoted-printable. The message is
// rendered once and, with Config.DKIM, signed once over that rendering; a
// retry sends the same bytes unless the new connection's server differs
// on 8BITMIME.
func (s *Sender) Send(ctx context.Context, m Message) error {
	return s.SendWhen(ctx, m, nil)
}

// SendWhen sends m as Send does, but ends its DATA — the point at which
// the server takes responsibility for the message — only once ready
// returns nil. Rendering, MAIL, RCPT, DATA and the content overlap
// whatever ready waits for; a sender that must record each message before
// the next one is accepted (internal/delivery) waits there for the record
// of the previous one. If ready returns an error, the message is
// abandoned unterminated and the connection dropped, so the server
// discards it, and SendWhen returns a temporary *SendError wrapping that
// error. ready is not called when the message fails before its content is
// written, and may be called again when the message is offered once more
// on a new connection, so it must allow a second call.
func (s *Sender) SendWhen(ctx context.Context, m Message, ready func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if perr := s.prepare(m); perr != nil {
		return perr
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return &SendError{MessageID: m.MessageID, Err: err, temporary: true}
		}
		reused := s.conn != nil
		if !reused {
			rendered8bit := s.eightBit
			if err := s.dial(ctx); err != nil {
				return s.abortedOr(ctx, newSendError(m.MessageID, err, true))
			}
			if s.eightBit != rendered8bit {
				if perr := s.prepare(m); perr != nil {
					return perr
				}
			}
		}
		env := smtpclient.Envelope{
			From:         s.env.from,
			To:           s.rcpt[:],
			EightBitMIME: s.offers8bit,
			SMTPUTF8:     s.offersUTF8,
		}
		err := s.conn.Send(ctx, env, s.write, ready)
		if s.conn.Closed() {
			s.conn = nil
		}
		if err == nil {
			return nil
		}
		se := newSendError(m.MessageID, err, false)
		s.reset()
		if reused && attempt == 1 && ctx.Err() == nil && retrySafe(err) {
			s.logger.Debug("smtp connection found closed, dialling again", "message_id", m.MessageID)
			continue
		}
		return s.abortedOr(ctx, se)
	}
}

// prepare builds, renders and signs m into s.out for the encoding s.eightBit
// calls for, and notes its envelope.
func (s *Sender) prepare(m Message) *SendError {
	var sp *splicer
	if s.eightBit {
		sp = &s.out.splicer
	}
	msg, env, err := build(m, &s.memo, sp)
	if err == nil {
		err = s.out.render(msg)
	}
	if err != nil {
		return &SendError{MessageID: m.MessageID, Err: err}
	}
	if err := s.out.sign(s.cfg.DKIM); err != nil {
		// A fault of the sender's setup, not of this message or recipient:
		// every message would fail the same way.
		return &SendError{MessageID: m.MessageID, Err: err, Connecting: true, temporary: true}
	}
	s.env, s.rcpt[0] = env, env.to
	return nil
}

// dial opens a new session: connect, EHLO, STARTTLS, AUTH; and notes what
// the server offers.
func (s *Sender) dial(ctx context.Context) error {
	conn, err := smtpclient.Dial(ctx, s.client)
	if err != nil {
		return fmt.Errorf("connect to %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
	}
	s.conn = conn
	_, s.offers8bit = conn.Extension("8BITMIME")
	_, s.offersUTF8 = conn.Extension("SMTPUTF8")
	s.eightBit = s.offers8bit && !s.cfg.QuotedPrintable
	s.logger.Debug("smtp connected", "tls", conn.TLS(), "8bitmime", s.offers8bit)
	return nil
}

// reset ends a failed transaction so the next message starts clean; a
// session that cannot even do that is dropped.
func (s *Sender) reset() {
	if s.conn == nil {
		return
	}
	if err := s.conn.Reset(); err != nil {
		s.logger.Debug("smtp RSET failed, dropping connection", "err", err)
		s.conn = nil
	}
}

// abortedOr returns se, marked as a cancellation when ctx is done, so that
// errors.Is(err, context.Canceled) holds for the caller.
func (s *Sender) abortedOr(ctx context.Context, se *SendError) *SendError {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if !errors.Is(se.Err, ctxErr) {
			se.Err = fmt.Errorf("%w: %w", ctxErr, se.Err)
		}
		se.temporary = true
	}
	return se
}

// Close says QUIT and closes the connection, if there is one. The Sender
// can still be used: the next Send dials again.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Quit()
	s.conn = nil
	if err != nil {
		return fmt.Errorf("smtp: close connection to %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
	}
	return nil
}
