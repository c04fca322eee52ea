package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/smtpsink"
)

// waitTimeout bounds waits on the sink so a broken test fails instead of
// hanging; nothing here sleeps.
const waitTimeout = 20 * time.Second

func startSink(t *testing.T, opts smtpsink.Options) *smtpsink.Server {
	t.Helper()
	s, err := smtpsink.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start sink: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newSender returns a Sender for sink, plain text unless edit says otherwise.
func newSender(t *testing.T, sink *smtpsink.Server, edit func(*Config)) *Sender {
	t.Helper()
	cfg := Config{Host: sink.Host(), Port: sink.Port(), TLS: TLSNone, HELO: "digest.test", Timeout: waitTimeout}
	if edit != nil {
		edit(&cfg)
	}
	s, err := NewSender(cfg, nil)
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// messageTo returns sampleMessage for another recipient and Message-ID.
func messageTo(n int, email string) Message {
	m := sampleMessage()
	m.MessageID = fmt.Sprintf("<%d.test@digest.example.org>", n)
	m.ToEmail = email
	return m
}

func wait(t *testing.T, sink *smtpsink.Server, n int) []smtpsink.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	msgs, err := sink.Wait(ctx, n)
	if err != nil {
		t.Fatalf("wait for %d messages: %v", n, err)
	}
	return msgs
}

func asSendError(t *testing.T, err error) *SendError {
	t.Helper()
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SendError", err, err)
	}
	return se
}

func TestSendArrives(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, nil)
	m := sampleMessage()
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := wait(t, sink, 1)[0]
	if got.From != "digest@example.org" || len(got.To) != 1 || got.To[0] != m.ToEmail {
		t.Errorf("envelope = %q → %q, want digest@example.org → %s", got.From, got.To, m.ToEmail)
	}
	checkMessage(t, got.Data, m)
}

func TestSendEnvelopeFrom(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, nil)
	m := sampleMessage()
	m.EnvelopeFrom = "bounces@example.org"
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := wait(t, sink, 1)[0]; got.From != "bounces@example.org" {
		t.Errorf("MAIL FROM = %q, want bounces@example.org", got.From)
	}
}

// TestInjectionOverSMTP checks that a hostile subject and name add no
// recipient and no header on the wire.
func TestInjectionOverSMTP(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, nil)
	m := sampleMessage()
	m.Subject = "Hi\r\nBcc: victim@example.net"
	m.ToName = "Zoë\r\nCc: other@example.net"
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := wait(t, sink, 1)[0]
	if len(got.To) != 1 || got.To[0] != m.ToEmail {
		t.Errorf("recipients = %q, want only %s", got.To, m.ToEmail)
	}
	checkMessage(t, got.Data, m)
}

func TestManyMessagesOneConnection(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, nil)
	for i := range 10 {
		if err := s.Send(t.Context(), messageTo(i, fmt.Sprintf("reader%d@example.com", i))); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	msgs := wait(t, sink, 10)
	for i, m := range msgs {
		if want := fmt.Sprintf("reader%d@example.com", i); m.To[0] != want {
			t.Errorf("message %d went to %s, want %s", i, m.To[0], want)
		}
	}
	if n := sink.Connections(); n != 1 {
		t.Errorf("%d connections for 10 messages, want 1", n)
	}
}

func TestRefusalsKeepConnection(t *testing.T) {
	tests := []struct {
		name      string
		opts      smtpsink.Options
		temporary bool
		code      int
		enhanced  string
	}{
		{
			name: "unknown recipient",
			opts: smtpsink.Options{RejectRcpt: func(to string) error {
				if to == "gone@example.com" {
					return smtpsink.Reject(550, "5.1.1", "no such user")
				}
				return nil
			}},
			code: 550, enhanced: "5.1.1",
		},
		{
			name: "greylisted recipient",
			opts: smtpsink.Options{RejectRcpt: func(to string) error {
				if to == "gone@example.com" {
					return smtpsink.Reject(451, "4.3.0", "try again later")
				}
				return nil
			}},
			temporary: true, code: 451, enhanced: "4.3.0",
		},
		{
			name: "refused content",
			opts: smtpsink.Options{RejectData: func(_ string, to []string, _ []byte) error {
				if to[0] == "gone@example.com" {
					return smtpsink.Reject(554, "5.7.1", "content refused")
				}
				return nil
			}},
			code: 554, enhanced: "5.7.1",
		},
	}
	for _, tt := range tests {
		// With PIPELINING the refusal comes back with the replies to the
		// commands after it, which must be read too; without, it ends the
		// exchange where it happens.
		for _, pipelining := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/pipelining=%v", tt.name, pipelining), func(t *testing.T) {
				tt.opts.NoPipelining = !pipelining
				refusalKeepsConnection(t, tt.opts, tt.temporary, tt.code, tt.enhanced)
			})
		}
	}
}

// refusalKeepsConnection sends three messages through a sink that refuses
// the second as opts say, and checks the refusal is reported as such and
// the third goes over the same connection.
func refusalKeepsConnection(t *testing.T, opts smtpsink.Options, temporary bool, code int, enhanced string) {
	t.Helper()
	sink := startSink(t, opts)
	s := newSender(t, sink, nil)
	if err := s.Send(t.Context(), messageTo(1, "first@example.com")); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	err := s.Send(t.Context(), messageTo(2, "gone@example.com"))
	se := asSendError(t, err)
	if se.Temporary() != temporary || se.Code != code || se.EnhancedCode != enhanced {
		t.Errorf("SendError temporary %v code %d enhanced %q, want %v %d %q (%v)",
			se.Temporary(), se.Code, se.EnhancedCode, temporary, code, enhanced, err)
	}
	if se.MessageID != "<2.test@digest.example.org>" || se.Connecting {
		t.Errorf("SendError message %q connecting %v", se.MessageID, se.Connecting)
	}
	// The server's reply itself stays reachable for callers that want its
	// text.
	var reply *textproto.Error
	if !errors.As(err, &reply) || reply.Code != code {
		t.Errorf("%v does not unwrap to the server's %d reply", err, code)
	}
	if err := s.Send(t.Context(), messageTo(3, "next@example.com")); err != nil {
		t.Fatalf("Send after the refusal: %v", err)
	}
	msgs := wait(t, sink, 2)
	if msgs[1].To[0] != "next@example.com" {
		t.Errorf("second stored message went to %q", msgs[1].To)
	}
	if n := sink.Connections(); n != 1 {
		t.Errorf("%d connections, want the refusal to keep the one", n)
	}
}

func TestRedialsAfterServerDrop(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, nil)
	if err := s.Send(t.Context(), messageTo(1, "a@example.com")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := sink.DropConnections(); n != 1 {
		t.Fatalf("dropped %d connections, want 1", n)
	}
	if err := s.Send(t.Context(), messageTo(2, "b@example.com")); err != nil {
		t.Fatalf("Send after the server dropped the connection: %v", err)
	}
	if msgs := wait(t, sink, 2); msgs[1].To[0] != "b@example.com" {
		t.Errorf("second message went to %q", msgs[1].To)
	}
	if n := sink.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestServerGone(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, nil)
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	se := asSendError(t, s.Send(t.Context(), messageTo(1, "a@example.com")))
	if !se.Temporary() || se.Code != 0 || !se.Connecting {
		t.Errorf("SendError temporary %v code %d connecting %v, want a temporary connect failure (%v)",
			se.Temporary(), se.Code, se.Connecting, se)
	}
}

func TestTLS(t *testing.T) {
	serverTLS, roots, err := smtpsink.TestCertificate()
	if err != nil {
		t.Fatal(err)
	}
	trusting := &tls.Config{RootCAs: roots}
	tests := []struct {
		name     string
		sink     smtpsink.Options
		mode     string
		client   *tls.Config
		ok       bool
		errorHas string
	}{
		{"starttls", smtpsink.Options{TLSConfig: serverTLS}, TLSStartTLS, trusting, true, ""},
		{"implicit tls", smtpsink.Options{TLSConfig: serverTLS, ImplicitTLS: true}, TLSImplicit, trusting, true, ""},
		{"starttls not offered", smtpsink.Options{}, TLSStartTLS, trusting, false, "STARTTLS"},
		{"untrusted certificate", smtpsink.Options{TLSConfig: serverTLS}, TLSStartTLS, nil, false, "certificate"},
		{"implicit tls to a plain server", smtpsink.Options{}, TLSImplicit, trusting, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := startSink(t, tt.sink)
			s := newSender(t, sink, func(c *Config) {
				c.TLS, c.TLSConfig = tt.mode, tt.client
				// A plain server never answers a TLS hello; keep that
				// failure short.
				c.Timeout = 5 * time.Second
			})
			err := s.Send(t.Context(), sampleMessage())
			if tt.ok {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if got := wait(t, sink, 1)[0]; !got.TLS {
					t.Error("message arrived without TLS")
				}
				return
			}
			se := asSendError(t, err)
			if !se.Connecting || !strings.Contains(se.Error(), tt.errorHas) {
				t.Errorf("Send = %v, want a connect failure mentioning %q", err, tt.errorHas)
			}
			if n := len(sink.Messages()); n != 0 {
				t.Errorf("%d messages arrived; want none, no plain-text fallback", n)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	serverTLS, roots, err := smtpsink.TestCertificate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, pass string
		tls              bool
		ok               bool
	}{
		{"plain text on loopback", "digest", "s3cret", false, true},
		{"over starttls", "digest", "s3cret", true, true},
		{"wrong password", "digest", "wrong", true, false},
		{"no credentials", "", "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := smtpsink.Options{AuthUser: "digest", AuthPass: "s3cret"}
			if tt.tls {
				opts.TLSConfig = serverTLS
			}
			sink := startSink(t, opts)
			s := newSender(t, sink, func(c *Config) {
				c.Username, c.Password = tt.user, tt.pass
				if tt.tls {
					c.TLS, c.TLSConfig = TLSStartTLS, &tls.Config{RootCAs: roots}
				}
			})
			err := s.Send(t.Context(), sampleMessage())
			if tt.ok {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if got := wait(t, sink, 1)[0]; got.User != "digest" {
					t.Errorf("arrived as user %q", got.User)
				}
				return
			}
			if err == nil {
				t.Fatal("Send succeeded, want refusal")
			}
			if strings.Contains(err.Error(), tt.pass) && tt.pass != "" {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestSendHonoursContext(t *testing.T) {
	t.Run("cancelled before", func(t *testing.T) {
		sink := startSink(t, smtpsink.Options{})
		s := newSender(t, sink, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := s.Send(ctx, sampleMessage())
		if !errors.Is(err, context.Canceled) || !asSendError(t, err).Temporary() {
			t.Errorf("Send = %v, want a temporary error wrapping context.Canceled", err)
		}
		if sink.Connections() != 0 {
			t.Error("Send dialled with a cancelled context")
		}
	})
	t.Run("cancelled during DATA", func(t *testing.T) {
		inData := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		sink := startSink(t, smtpsink.Options{RejectData: func(string, []string, []byte) error {
			once.Do(func() { close(inData) })
			<-release
			return nil
		}})
		t.Cleanup(func() { close(release) })
		s := newSender(t, sink, nil)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-inData
			cancel()
		}()
		err := s.Send(ctx, sampleMessage())
		if !errors.Is(err, context.Canceled) || !asSendError(t, err).Temporary() {
			t.Errorf("Send = %v, want a temporary error wrapping context.Canceled", err)
		}
	})
}

func TestNewSenderRefuses(t *testing.T) {
	tests := []Config{
		{Host: "", Port: 25, TLS: TLSStartTLS},
		{Host: "smtp.example.org", Port: 0, TLS: TLSStartTLS},
		{Host: "smtp.example.org", Port: 70000, TLS: TLSStartTLS},
		{Host: "smtp.example.org", Port: 587, TLS: "opportunistic"},
		{Host: "smtp.example.org", Port: 587, TLS: ""},
	}
	for _, cfg := range tests {
		if _, err := NewSender(cfg, nil); err == nil {
			t.Errorf("NewSender(%+v) succeeded, want refusal", cfg)
		}
	}
}

func TestSendRefusesInvalidMessage(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, nil)
	m := sampleMessage()
	m.ToEmail = "not an address"
	se := asSendError(t, s.Send(t.Context(), m))
	if se.Temporary() {
		t.Errorf("invalid message reported as temporary: %v", se)
	}
	if sink.Connections() != 0 {
		t.Error("an invalid message opened a connection")
	}
}

// TestSendHeadersFollowEachMessage checks that the From and List-Id a
// Sender remembers from one message to the next never stand in for a
// message's own: each arrives with the ones it was given, and an invalid
// one is refused even after a valid one.
func TestSendHeadersFollowEachMessage(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, nil)
	edits := []func(*Message){
		func(*Message) {},
		func(m *Message) { m.From, m.ListID = "Evening Digest <evening@example.org>", "<evening.example.org>" },
		func(*Message) {},
	}
	var sent []Message
	for i, edit := range edits {
		m := messageTo(i, fmt.Sprintf("r%d@example.com", i))
		edit(&m)
		if err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		sent = append(sent, m)
	}
	for i, got := range wait(t, sink, len(sent)) {
		checkMessage(t, got.Data, sent[i])
	}
	for _, tt := range []struct {
		field string
		edit  func(*Message)
	}{
		{"from", func(m *Message) { m.From = "not an address" }},
		{"list-id", func(m *Message) { m.ListID = "no brackets" }},
	} {
		m := sampleMessage()
		tt.edit(&m)
		var fe *digest.FieldError
		if err := s.Send(t.Context(), m); !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("Send with a bad %s = %v, want a field error for it", tt.field, err)
		}
	}
}

// TestSendWhenHoldsTheEndOfData checks the promise internal/delivery builds
// on: until ready returns, the server has not taken the message, and when
// ready fails it never does, while the Sender stays usable.
func TestSendWhenHoldsTheEndOfData(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	s := newSender(t, sink, nil)

	readyCalls := 0
	err := s.SendWhen(t.Context(), messageTo(1, "ada@example.com"), func() error {
		readyCalls++
		// The whole content is written by now; only the final dot is
		// missing, without which no server ends the transaction.
		if n := len(sink.Messages()); n != 0 {
			t.Errorf("the server took %d messages before ready returned", n)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("SendWhen: %v", err)
	}
	if readyCalls != 1 {
		t.Errorf("ready was called %d times, want 1", readyCalls)
	}
	if got := wait(t, sink, 1); got[0].MessageID() != "<1.test@digest.example.org>" {
		t.Errorf("received %q", got[0].MessageID())
	}

	ledgerDown := errors.New("ledger down")
	err = s.SendWhen(t.Context(), messageTo(2, "bola@example.com"), func() error { return ledgerDown })
	se := asSendError(t, err)
	if !errors.Is(err, ledgerDown) || !se.Temporary() || se.Code != 0 {
		t.Errorf("held-back message: got %v (temporary %v, code %d), want a temporary error wrapping ready's", err, se.Temporary(), se.Code)
	}

	// The abandoned transaction's connection is gone; the next message goes
	// over a new one, and it is the only other message the server took.
	if err := s.Send(t.Context(), messageTo(3, "chidi@example.com")); err != nil {
		t.Fatalf("Send after an abandoned message: %v", err)
	}
	got := wait(t, sink, 2)
	if len(got) != 2 || got[1].MessageID() != "<3.test@digest.example.org>" {
		var ids []string
		for _, m := range got {
			ids = append(ids, m.MessageID())
		}
		t.Errorf("server took %v, want messages 1 and 3 only", ids)
	}
	if c := sink.Connections(); c != 2 {
		t.Errorf("%d connections, want 2 (the held-back message's was dropped)", c)
	}
}

// TestPipelinedTransaction checks that MAIL FROM, RCPT TO and DATA go out
// in one write when the server offers PIPELINING (RFC 2920), as go-smtp
// does, saving two round trips per message.
func TestPipelinedTransaction(t *testing.T) {
	reads := make(chan string, 64)
	srv := startEnvelopeServer(t, serverOptions{reads: reads})
	s, err := NewSender(Config{Host: srv.Host(), Port: srv.Port(), TLS: TLSNone, HELO: "digest.test", Timeout: waitTimeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := sampleMessage()
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := srv.wait(t, 1); got[0].To[0] != m.ToEmail || got[0].Body != "8BITMIME" {
		t.Errorf("received to %v with BODY=%q, want %s with 8BITMIME", got[0].To, got[0].Body, m.ToEmail)
	}
	var envelope string
	for len(reads) > 0 {
		if r := <-reads; strings.Contains(r, "MAIL FROM:") {
			envelope = r
			break
		}
	}
	want := "MAIL FROM:<digest@example.org> BODY=8BITMIME\r\nRCPT TO:<" + m.ToEmail + ">\r\nDATA\r\n"
	if envelope != want {
		t.Errorf("the server read the envelope as %q, want it whole in one read: %q", envelope, want)
	}
}

// TestRedialsAfterIdleClose checks the usual end of an idle connection: the
// server answers the next MAIL FROM with 421 and hangs up. Nothing of the
// message was taken, so it goes out at once over a new connection, with or
// without PIPELINING (where the replies to RCPT and DATA never come).
func TestRedialsAfterIdleClose(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			sink := startSink(t, smtpsink.Options{
				NoPipelining: !pipelining,
				Faults:       smtpsink.At(smtpsink.StageMail, "", smtpsink.Sequence(smtpsink.Accept(), smtpsink.ServiceUnavailable())),
			})
			s := newSender(t, sink, nil)
			for i := range 2 {
				if err := s.Send(t.Context(), messageTo(i+1, "a@example.com")); err != nil {
					t.Fatalf("Send %d: %v", i+1, err)
				}
			}
			if got := wait(t, sink, 2); got[1].MessageID() != "<2.test@digest.example.org>" {
				t.Errorf("second message is %q", got[1].MessageID())
			}
			if n := sink.Connections(); n != 2 {
				t.Errorf("%d connections, want 2 (the closed one, then a new one)", n)
			}
		})
	}
}
