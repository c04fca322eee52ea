package smtpsink

import (
	"context"
	"crypto/tls"
	"errors"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// send is one SMTP transaction with the standard library's client.
func send(t *testing.T, s *Server, auth smtp.Auth, from string, to []string, body string) error {
	t.Helper()
	return smtp.SendMail(s.Addr(), auth, from, to, []byte(body))
}

func TestReceivesInOrder(t *testing.T) {
	s := start(t, Options{})
	if s.Host() != "127.0.0.1" || s.Port() == 0 {
		t.Fatalf("listening on %q port %d, want 127.0.0.1 and a port", s.Host(), s.Port())
	}
	bodies := []string{"Subject: one\r\n\r\nfirst\r\n", "Subject: two\r\n\r\n.dot line\r\n"}
	for _, b := range bodies {
		if err := send(t, s, nil, "news@example.org", []string{"a@example.com", "b@example.com"}, b); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got, err := s.Wait(ctx, 2)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	for i, m := range got {
		if m.From != "news@example.org" || strings.Join(m.To, ",") != "a@example.com,b@example.com" {
			t.Errorf("message %d envelope = %q %q", i, m.From, m.To)
		}
		if string(m.Data) != bodies[i] {
			t.Errorf("message %d data = %q, want %q", i, m.Data, bodies[i])
		}
		if m.TLS || m.At.IsZero() {
			t.Errorf("message %d: TLS %v, At %v", i, m.TLS, m.At)
		}
	}
	// Messages is a copy: changing it changes nothing in the sink.
	got[0].Data[0] = 'X'
	if s.Messages()[0].Data[0] != 'S' {
		t.Error("Messages shares memory with the sink")
	}
}

func TestWaitStopsWithContext(t *testing.T) {
	s := start(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	msgs, err := s.Wait(ctx, 1)
	if !errors.Is(err, context.Canceled) || len(msgs) != 0 {
		t.Errorf("Wait on a cancelled context = %d messages, %v", len(msgs), err)
	}
}

func TestRejections(t *testing.T) {
	s := start(t, Options{
		RejectRcpt: func(to string) error {
			switch to {
			case "gone@example.com":
				return Reject(550, "5.1.1", "no such user")
			case "busy@example.com":
				return errors.New("try later")
			}
			return nil
		},
		RejectData: func(_ string, _ []string, data []byte) error {
			if strings.Contains(string(data), "spam") {
				return Reject(554, "5.7.1", "looks like spam")
			}
			return nil
		},
	})
	tests := []struct {
		name, to, body string
		code           int
		text           string
	}{
		{"refused recipient", "gone@example.com", "hi", 550, "5.1.1 no such user"},
		{"plain error", "busy@example.com", "hi", 451, "4.0.0 try later"},
		{"refused data", "ok@example.com", "spam", 554, "5.7.1 looks like spam"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := send(t, s, nil, "news@example.org", []string{tt.to}, tt.body)
			var tpe *textproto.Error
			if !errors.As(err, &tpe) || tpe.Code != tt.code || tpe.Msg != tt.text {
				t.Errorf("send = %v, want %d %s", err, tt.code, tt.text)
			}
		})
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("sink stored %d refused messages", n)
	}
}

func TestAuthRequired(t *testing.T) {
	s := start(t, Options{AuthUser: "digest", AuthPass: "s3cret"})
	tests := []struct {
		name string
		auth smtp.Auth
		ok   bool
	}{
		{"no auth", nil, false},
		{"wrong password", smtp.PlainAuth("", "digest", "wrong", "127.0.0.1"), false},
		{"right password", smtp.PlainAuth("", "digest", "s3cret", "127.0.0.1"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := send(t, s, tt.auth, "news@example.org", []string{"a@example.com"}, "hi")
			if (err == nil) != tt.ok {
				t.Errorf("send = %v, want success %v", err, tt.ok)
			}
		})
	}
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].User != "digest" {
		t.Errorf("stored %+v, want one message from user digest", msgs)
	}
}

func TestStartTLS(t *testing.T) {
	serverTLS, roots, err := TestCertificate()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{TLSConfig: serverTLS})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if err := c.StartTLS(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	if err := c.Mail("news@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("a@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("hi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if msgs := s.Messages(); len(msgs) != 1 || !msgs[0].TLS {
		t.Errorf("stored %+v, want one message over TLS", msgs)
	}
}

func TestDropConnections(t *testing.T) {
	s := start(t, Options{})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("test"); err != nil {
		t.Fatal(err)
	}
	if n := s.DropConnections(); n != 1 {
		t.Errorf("DropConnections closed %d, want 1", n)
	}
	if err := c.Noop(); err == nil {
		t.Error("dropped connection still answers")
	}
	if err := send(t, s, nil, "news@example.org", []string{"a@example.com"}, "hi"); err != nil {
		t.Errorf("send after drop: %v", err)
	}
	if n := s.Connections(); n != 2 {
		t.Errorf("Connections = %d, want 2", n)
	}
}

func TestStartRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"all interfaces", Options{Addr: "0.0.0.0:0"}},
		{"public address", Options{Addr: "192.0.2.1:25"}},
		{"no port", Options{Addr: "127.0.0.1"}},
		{"implicit TLS without config", Options{ImplicitTLS: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := Start(t.Context(), tt.opts); err == nil {
				s.Close()
				t.Errorf("Start(%+v) succeeded, want refusal", tt.opts)
			}
		})
	}
}

func TestClosesWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-s.served // Serve returned: the listener is closed
	if err := send(t, s, nil, "news@example.org", []string{"a@example.com"}, "hi"); err == nil {
		t.Error("sink still accepts mail after its context ended")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after context end: %v", err)
	}
}

func TestDiscardCountsAndKeepsNothing(t *testing.T) {
	s, err := Start(context.Background(), Options{Discard: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 3; i++ {
		if err := smtp.SendMail(s.Addr(), nil, "a@example.org", []string{"b@example.org"}, []byte("Subject: x\r\n\r\nhello\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	n, b := s.Counts()
	if n != 3 || b == 0 || len(s.Messages()) != 0 || len(s.Events()) != 0 {
		t.Errorf("counts %d messages %d bytes; kept %d messages, %d events", n, b, len(s.Messages()), len(s.Events()))
	}
}

// TestNoPipelining checks that the option takes PIPELINING out of the EHLO
// reply, and only that: the mailer's one-command-at-a-time path is tested
// against it.
func TestNoPipelining(t *testing.T) {
	for _, hide := range []bool{false, true} {
		s := start(t, Options{NoPipelining: hide})
		c, err := smtp.Dial(s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		pipelining, _ := c.Extension("PIPELINING")
		eightBit, _ := c.Extension("8BITMIME")
		if pipelining == hide || !eightBit {
			t.Errorf("NoPipelining %v: PIPELINING offered %v, 8BITMIME offered %v", hide, pipelining, eightBit)
		}
		c.Close()
	}
}
