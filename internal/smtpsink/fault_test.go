package smtpsink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testFrom      = "news@example.org"
	testMessageID = "<1.test@digest.example.org>"
	testBody      = "Message-ID: " + testMessageID + "\r\nSubject: hi\r\n\r\nhello\r\n"
)

// The steps of a transaction at which a client can see a failure. DATA, the
// message and the final reply are one step: go-smtp says 354 before the
// sink is asked about DATA, so a refusal "at DATA" arrives after the
// message, like one at its end.
const (
	stepConnect = "connect" // TCP connect and greeting
	stepMail    = "MAIL"
	stepRcpt    = "RCPT"
	stepData    = "DATA"
)

// outcome is what a client saw of one transaction.
type outcome struct {
	step string // where it failed; "" when it succeeded
	err  error
	// hungUp says the server closed the connection after the failure (a
	// following RSET got no answer).
	hungUp bool
}

// transact sends one message to to with net/smtp, one command at a time,
// over a connection that gives up after timeout (0: never), and reports
// where it failed. It is safe to call from any goroutine.
func transact(s *Server, timeout time.Duration, to string) outcome {
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		return outcome{step: stepConnect, err: err, hungUp: true}
	}
	defer conn.Close()
	if timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(timeout))
	}
	c, err := smtp.NewClient(conn, s.Host())
	if err != nil {
		return outcome{step: stepConnect, err: err, hungUp: true}
	}
	defer c.Close()
	failed := func(step string, err error) outcome {
		return outcome{step: step, err: err, hungUp: c.Reset() != nil}
	}
	if err := c.Hello("test.example"); err != nil {
		return failed("EHLO", err)
	}
	if err := c.Mail(testFrom); err != nil {
		return failed(stepMail, err)
	}
	if err := c.Rcpt(to); err != nil {
		return failed(stepRcpt, err)
	}
	w, err := c.Data()
	if err != nil {
		return failed(stepData, err)
	}
	if _, err := w.Write([]byte(testBody)); err != nil {
		return failed(stepData, err)
	}
	if err := w.Close(); err != nil {
		return failed(stepData, err)
	}
	return outcome{}
}

// replyOf returns the SMTP reply in err as "code text", "" if it is not one.
func replyOf(err error) string {
	var tpe *textproto.Error
	if !errors.As(err, &tpe) {
		return ""
	}
	return fmt.Sprintf("%d %s", tpe.Code, tpe.Msg)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestFaultsSeenByClient(t *testing.T) {
	const to = "ana@example.com"
	tests := []struct {
		name   string
		plan   Plan
		step   string // where the client fails
		reply  string // the reply it gets there; "" for none (a cut connection)
		hungUp bool   // the server hung up after the failure
		stored int    // messages the sink kept, all Unacknowledged
	}{
		{"421 at connect", OnConnect(Always(ServiceUnavailable())), stepConnect, "421 4.3.2 service not available", true, 0},
		{"554 greeting", OnConnect(Always(Reply(554, "5.3.2", "no service here"))), stepConnect, "554 5.3.2 no service here", true, 0},
		{"drop at connect", OnConnect(Always(Drop())), stepConnect, "", true, 0},
		{"451 at MAIL", At(StageMail, testFrom, Always(Reply(451, "4.3.0", "busy"))), stepMail, "451 4.3.0 busy", false, 0},
		{"421 at MAIL", At(StageMail, testFrom, Always(ServiceUnavailable())), stepMail, "421 4.3.2 service not available", true, 0},
		{"drop at MAIL", At(StageMail, "", Always(Drop())), stepMail, "", true, 0},
		{"550 at RCPT", At(StageRcpt, to, Always(Reply(550, "5.1.1", "no such user"))), stepRcpt, "550 5.1.1 no such user", false, 0},
		{"451 at RCPT", At(StageRcpt, "ANA@example.com", Always(Reply(451, "4.3.0", "try later"))), stepRcpt, "451 4.3.0 try later", false, 0},
		{"drop at RCPT", At(StageRcpt, to, Always(Drop())), stepRcpt, "", true, 0},
		{"554 at DATA", At(StageData, to, Always(Reply(554, "5.7.1", "refused"))), stepData, "554 5.7.1 refused", false, 0},
		{"drop during DATA", At(StageData, to, Always(Drop())), stepData, "", true, 0},
		{"451 at end of DATA", At(StageDataEnd, to, Always(Reply(451, "4.3.0", "queue full"))), stepData, "451 4.3.0 queue full", false, 0},
		{"552 at end of DATA", At(StageDataEnd, to, Always(Reply(552, "5.3.4", "too big"))), stepData, "552 5.3.4 too big", false, 0},
		{"421 at end of DATA", At(StageDataEnd, to, Always(ServiceUnavailable())), stepData, "421 4.3.2 service not available", true, 0},
		{"drop at end of DATA", At(StageDataEnd, to, Always(Drop())), stepData, "", true, 0},
		{"drop after accept", At(StageDataEnd, to, Always(DropAfterAccept())), stepData, "", true, 1},
		{"other recipient", At(StageRcpt, "bob@example.com", Always(Drop())), "", "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{Faults: tt.plan})
			got := transact(s, 0, to)
			if got.step != tt.step {
				t.Fatalf("client failed at %q (%v), want at %q", got.step, got.err, tt.step)
			}
			if tt.step == "" {
				if n := len(s.Messages()); n != 1 || s.Messages()[0].Unacknowledged {
					t.Errorf("an unfaulted transaction left %+v", s.Messages())
				}
				return
			}
			if r := replyOf(got.err); r != tt.reply {
				t.Errorf("client got %q (%v), want reply %q", r, got.err, tt.reply)
			}
			if got.hungUp != tt.hungUp {
				t.Errorf("server hung up = %v, want %v", got.hungUp, tt.hungUp)
			}
			msgs := s.Messages()
			if len(msgs) != tt.stored {
				t.Fatalf("sink kept %d messages, want %d", len(msgs), tt.stored)
			}
			for _, m := range msgs {
				if !m.Unacknowledged || m.MessageID() != testMessageID {
					t.Errorf("kept message: unacknowledged %v, Message-ID %q; want true, %q", m.Unacknowledged, m.MessageID(), testMessageID)
				}
			}
		})
	}
}

func TestStallTimesClientOut(t *testing.T) {
	const to = "ana@example.com"
	tests := []struct {
		name   string
		plan   Plan
		step   string
		stored int
	}{
		{"at connect", OnConnect(Always(Stall())), stepConnect, 0},
		{"at MAIL", At(StageMail, "", Always(Stall())), stepMail, 0},
		{"at RCPT", At(StageRcpt, to, Always(Stall())), stepRcpt, 0},
		{"during DATA", At(StageData, to, Always(Stall())), stepData, 0},
		{"at end of DATA", At(StageDataEnd, to, Always(Stall())), stepData, 0},
		{"after accept", At(StageDataEnd, to, Always(StallAfterAccept())), stepData, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{Faults: tt.plan})
			// The short timeout is the client's, to end the test soon; it
			// asserts nothing about the sink's speed.
			got := transact(s, 300*time.Millisecond, to)
			if got.step != tt.step || !isTimeout(got.err) {
				t.Errorf("client failed at %q with %v, want a timeout at %q", got.step, got.err, tt.step)
			}
			if n := len(s.Messages()); n != tt.stored {
				t.Errorf("sink kept %d messages, want %d", n, tt.stored)
			}
		})
	}
}

func TestFailFirstByAttempt(t *testing.T) {
	s := start(t, Options{Faults: Combine(
		At(StageRcpt, "ana@example.com", FailFirst(2, Reply(451, "4.3.0", "try later"))),
		At(StageRcpt, "bob@example.com", Always(Reply(550, "5.1.1", "no such user"))),
		At(StageDataEnd, "cy@example.com", Sequence(Drop(), Reply(452, "4.3.1", "full"))),
	)})
	tests := []struct {
		to    string
		reply string // "" for delivered
		cut   bool   // the connection was cut instead
	}{
		{"ana@example.com", "451 4.3.0 try later", false},
		{"bob@example.com", "550 5.1.1 no such user", false},
		{"cy@example.com", "", true},
		{"ana@example.com", "451 4.3.0 try later", false},
		{"cy@example.com", "452 4.3.1 full", false},
		{"ana@example.com", "", false},
		{"bob@example.com", "550 5.1.1 no such user", false},
		{"cy@example.com", "", false},
		{"ana@example.com", "", false},
	}
	for i, tt := range tests {
		got := transact(s, 0, tt.to)
		switch {
		case tt.cut:
			if got.err == nil || replyOf(got.err) != "" {
				t.Errorf("send %d to %s = %v, want a cut connection", i+1, tt.to, got.err)
			}
		case replyOf(got.err) != tt.reply || (tt.reply == "" && got.err != nil):
			t.Errorf("send %d to %s = %v, want %q", i+1, tt.to, got.err, tt.reply)
		}
	}
	var delivered []string
	for _, m := range s.Messages() {
		delivered = append(delivered, m.To...)
	}
	if want := []string{"ana@example.com", "cy@example.com", "ana@example.com"}; !slices.Equal(delivered, want) {
		t.Errorf("delivered to %q, want %q", delivered, want)
	}
	var anaAttempts []int
	for _, ev := range s.Events() {
		if ev.Stage == StageRcpt && ev.To[0] == "ana@example.com" {
			anaAttempts = append(anaAttempts, ev.Attempt)
		}
	}
	if want := []int{1, 2, 3, 4}; !slices.Equal(anaAttempts, want) {
		t.Errorf("RCPT attempts for ana = %v, want %v", anaAttempts, want)
	}
}

func TestEventsLogEveryStage(t *testing.T) {
	s := start(t, Options{})
	for range 2 {
		if got := transact(s, 0, "ana@example.com"); got.err != nil {
			t.Fatalf("send: %v", got.err)
		}
	}
	to := []string{"ana@example.com"}
	var want []Event
	for conn := 1; conn <= 2; conn++ {
		want = append(want,
			Event{Stage: StageConnect, Conn: conn, Attempt: conn},
			Event{Stage: StageMail, Conn: conn, From: testFrom, Attempt: conn},
			Event{Stage: StageRcpt, Conn: conn, From: testFrom, To: to, Attempt: conn},
			Event{Stage: StageData, Conn: conn, From: testFrom, To: to, Attempt: conn},
			Event{Stage: StageDataEnd, Conn: conn, From: testFrom, To: to, Attempt: conn, MessageID: testMessageID},
		)
	}
	got := s.Events()
	if !slices.EqualFunc(got, want, func(a, b Event) bool {
		return a.Stage == b.Stage && a.Conn == b.Conn && a.From == b.From &&
			slices.Equal(a.To, b.To) && a.Attempt == b.Attempt && a.MessageID == b.MessageID
	}) {
		t.Errorf("events:\n got %+v\nwant %+v", got, want)
	}
}

func TestConnectFaultOverImplicitTLS(t *testing.T) {
	serverTLS, roots, err := TestCertificate()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{TLSConfig: serverTLS, ImplicitTLS: true, Faults: OnConnect(FailFirst(1, ServiceUnavailable()))})
	clientTLS := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	for i, want := range []string{"421 4.3.2 service not available", ""} {
		conn, err := tls.Dial("tcp", s.Addr(), clientTLS)
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		c, err := smtp.NewClient(conn, s.Host())
		if replyOf(err) != want || (want == "" && err != nil) {
			t.Errorf("connection %d greeting: %v, want %q", i+1, err, want)
		}
		if err == nil {
			c.Close()
		}
		conn.Close()
	}
}

// TestStartTLSNotOffered is the server side of "TLS required but not
// offered": without a TLS config the sink does not advertise STARTTLS and
// refuses the command, so a client that insists must give up.
func TestStartTLSNotOffered(t *testing.T) {
	s := start(t, Options{})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("test.example"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("EHLO offers STARTTLS without a TLS config")
	}
	if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1"}); replyOf(err) == "" {
		t.Errorf("STARTTLS = %v, want a refusal", err)
	}
}

// TestCutEndsStalledSessions runs concurrent clients, some stalled for
// good, then cuts them and checks that every stalled client is let go and,
// on Close, that no goroutine is left behind.
func TestCutEndsStalledSessions(t *testing.T) {
	tests := []struct {
		name string
		cut  func(s *Server)
	}{
		{"DropConnections", func(s *Server) { s.DropConnections() }},
		{"Close", func(s *Server) {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}},
	}
	const stalled, working, perWorker = 4, 4, 5
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			reached := make(chan struct{}, stalled)
			stallOnce := Always(Stall())
			s, err := Start(t.Context(), Options{Faults: Combine(
				func(ev Event) Fault {
					if ev.Stage == StageRcpt && strings.HasPrefix(ev.To[0], "stuck") {
						reached <- struct{}{}
						return stallOnce(ev.Attempt)
					}
					return Accept()
				},
				At(StageDataEnd, "", FailFirst(1, Reply(451, "4.3.0", "try again"))),
			)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()

			var wg sync.WaitGroup
			stuckErrs := make(chan error, stalled)
			for i := range stalled {
				wg.Go(func() {
					stuckErrs <- transact(s, 0, fmt.Sprintf("stuck%d@example.com", i)).err
				})
			}
			var sent sync.WaitGroup
			for i := range working {
				sent.Go(func() {
					to := fmt.Sprintf("ok%d@example.com", i)
					for range perWorker + 1 { // one refusal each, then all through
						transact(s, 0, to)
					}
				})
			}
			sent.Wait()
			for range stalled {
				<-reached
			}
			tt.cut(s)
			wg.Wait()
			close(stuckErrs)
			for err := range stuckErrs {
				if err == nil || replyOf(err) != "" {
					t.Errorf("stalled client got %v, want a cut connection", err)
				}
			}
			if n := len(s.Messages()); n != working*perWorker {
				t.Errorf("sink kept %d messages, want %d", n, working*perWorker)
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			// Goroutines of closed connections may take a moment to be
			// reaped by the runtime; poll briefly rather than sleep once.
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}

// Plans are called from concurrent sessions; the stateless helpers must not
// care, and the attempt count must still be exact.
func TestAttemptsUnderConcurrency(t *testing.T) {
	const workers, each = 8, 5
	s := start(t, Options{Faults: At(StageRcpt, "shared@example.com", FailFirst(workers, Reply(451, "4.3.0", "later")))})
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for range workers {
		wg.Go(func() {
			for range each {
				if replyOf(transact(s, 0, "shared@example.com").err) != "" {
					mu.Lock()
					refused++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if refused != workers || len(s.Messages()) != workers*each-workers {
		t.Errorf("refused %d, delivered %d; want %d and %d", refused, len(s.Messages()), workers, workers*each-workers)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := s.Wait(ctx, workers*each-workers); err != nil {
		t.Error(err)
	}
}

func TestMessageID(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"plain", "Message-ID: <a@b>\r\nSubject: x\r\n\r\nbody\r\n", "<a@b>"},
		{"other case", "message-id:   <a@b>  \r\n\r\n", "<a@b>"},
		{"folded", "Subject: x\r\nMessage-ID:\r\n <a@b>\r\n\r\n", "<a@b>"},
		{"missing", "Subject: x\r\n\r\nMessage-ID: <in@body>\r\n", ""},
		{"no header block", "hello\r\n", ""},
		{"headers only", "Message-ID: <a@b>\r\n", "<a@b>"},
		{"damaged later header", "Message-ID: <a@b>\r\nbroken line\r\n\r\n", "<a@b>"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Received{Data: []byte(tt.data)}).MessageID(); got != tt.want {
				t.Errorf("MessageID() = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzMessageID(f *testing.F) {
	for _, seed := range []string{
		testBody, "", "\r\n\r\n", "Message-ID: <a@b>\r\n", "Message-ID:\r\n <a@b>\r\n\r\n",
		"X: y\r\n z\r\nMessage-Id: <\x00@b>\r\n\r\n", "Message-ID: <a@b>\nSubject: lf only\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id := messageID(data)
		if id != strings.TrimSpace(id) || strings.ContainsAny(id, "\r\n") {
			t.Errorf("messageID(%q) = %q: untrimmed or multi-line", data, id)
		}
	})
}
