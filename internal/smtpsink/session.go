package smtpsink

import (
	"bytes"
	"crypto/subtle"
	"io"
	"net"
	"slices"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// session is one SMTP session: go-smtp starts one per EHLO (and again after
// STARTTLS).
type session struct {
	srv    *Server
	conn   *smtp.Conn
	raw    *trackedConn // the TCP connection under conn
	tls    bool
	user   string
	authed bool
	from   string
	to     []string
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{srv: s, conn: c, raw: rawConn(c.Conn()), tls: isTLS}, nil
}

// event is the session's next event at stage.
func (ss *session) event(stage Stage) Event {
	ev := Event{Stage: stage, From: ss.from, To: ss.to}
	if ss.raw != nil {
		ev.Conn = ss.raw.seq
	}
	return ev
}

func (ss *session) mustAuth() bool { return ss.srv.opts.AuthUser != "" && !ss.authed }

// AuthMechanisms offers AUTH PLAIN when the sink has credentials.
func (ss *session) AuthMechanisms() []string {
	if ss.srv.opts.AuthUser == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth checks AUTH PLAIN credentials in constant time.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.srv.opts.AuthUser == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		userOK := subtle.ConstantTimeCompare([]byte(username), []byte(ss.srv.opts.AuthUser)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(password), []byte(ss.srv.opts.AuthPass)) == 1
		if !userOK || !passOK || (identity != "" && identity != username) {
			return smtp.ErrAuthFailed
		}
		ss.authed, ss.user = true, username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.mustAuth() {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	ev := ss.event(StageMail)
	if err := ss.act(ss.srv.fault(ev)); err != nil {
		ss.from = ""
		return err
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.mustAuth() {
		return smtp.ErrAuthRequired
	}
	ev := ss.event(StageRcpt)
	ev.To = []string{to}
	if err := ss.act(ss.srv.fault(ev)); err != nil {
		return err
	}
	if reject := ss.srv.opts.RejectRcpt; reject != nil {
		if err := reject(to); err != nil {
			return asReply(err, 451, smtp.EnhancedCode{4, 0, 0})
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	if ss.mustAuth() {
		return smtp.ErrAuthRequired
	}
	if ss.srv.opts.Discard {
		n, err := io.Copy(io.Discard, r)
		if err == nil {
			ss.srv.discarded.Add(1)
			ss.srv.discardedBytes.Add(n)
		}
		return err
	}
	if err := ss.act(ss.srv.fault(ss.event(StageData))); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	data := buf.Bytes()
	received := Received{
		From: ss.from, To: slices.Clone(ss.to), Data: data, At: time.Now(),
		TLS: ss.tls, User: ss.user,
	}
	ev := ss.event(StageDataEnd)
	ev.MessageID = messageID(data)
	if f := ss.srv.fault(ev); f.action != actAccept {
		if f.store {
			received.Unacknowledged = true
			ss.srv.store(received)
		}
		return ss.act(f)
	}
	if reject := ss.srv.opts.RejectData; reject != nil {
		if err := reject(ss.from, slices.Clone(ss.to), slices.Clone(data)); err != nil {
			return asReply(err, 554, smtp.EnhancedCode{5, 0, 0})
		}
	}
	ss.srv.store(received)
	return nil
}

// hungUp is what a session method returns after a fault cut the
// connection; go-smtp's attempt to send it fails, which is the point.
func hungUp() error {
	return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "connection cut by fault injection"}
}

// act carries out f for a session command and returns what the command
// should answer: nil to go on, a reply, or (after cutting the connection)
// an error nobody will read.
func (ss *session) act(f Fault) error {
	switch f.action {
	case actReply:
		if f.code != 421 {
			return f.smtpError()
		}
		// go-smtp would keep the session open after a 421; a real server
		// hangs up, so the sink writes the reply itself and cuts.
		writeReply(ss.conn.Conn(), f)
		ss.hangUp()
		return hungUp()
	case actDrop:
		ss.hangUp()
		return hungUp()
	case actStall:
		if ss.raw != nil {
			stall(ss.raw)
		}
		return hungUp()
	}
	return nil
}

func (ss *session) hangUp() {
	if ss.raw != nil {
		_ = ss.raw.Close()
	}
}

// Reset forgets the transaction in progress: go-smtp calls it on RSET, after
// DATA and on a new EHLO.
func (ss *session) Reset() {
	ss.from, ss.to = "", nil
}

func (ss *session) Logout() error { return nil }

// divertAtConnect asks the plan about a new connection and, unless it is
// accepted, handles it here instead of letting go-smtp greet it.
func (s *Server) divertAtConnect(raw *trackedConn, c net.Conn) bool {
	f := s.fault(Event{Stage: StageConnect, Conn: raw.seq})
	if f.action == actAccept {
		return false
	}
	// Serve's accept loop must not wait on a stalled client, and Close
	// waits for this goroutine.
	s.faulted.Add(1)
	go func() {
		defer s.faulted.Done()
		switch f.action {
		case actReply:
			writeReply(c, f)
			_ = raw.Close()
		case actDrop:
			_ = raw.Close()
		case actStall:
			stall(raw)
		}
	}()
	return true
}

// writeReply sends f's reply on c, bounded in time so a client that does
// not read (or, with TLS, does not finish the handshake) cannot hold it.
func writeReply(c net.Conn, f Fault) {
	_ = c.SetWriteDeadline(time.Now().Add(replyTimeout))
	_, _ = io.WriteString(c, f.replyLine())
}

// replyTimeout bounds the replies the sink writes itself.
const replyTimeout = 10 * time.Second

// stall reads and discards whatever the client sends until the connection
// fails: the client hangs up, or DropConnections or Close cut it. It
// never writes, so the client sees a server that stopped answering.
func stall(raw *trackedConn) {
	// go-smtp set a read deadline for its own read; a stall waits for
	// the client or the sink instead.
	_ = raw.SetReadDeadline(time.Time{})
	_, _ = io.Copy(io.Discard, raw)
	_ = raw.Close()
}

// asReply turns a refusal into the reply go-smtp sends: an *smtp.SMTPError
// as it is, anything else as code and enhanced code with the error's text.
func asReply(err error, code int, ec smtp.EnhancedCode) error {
	if se, ok := err.(*smtp.SMTPError); ok {
		return se
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: err.Error()}
}
