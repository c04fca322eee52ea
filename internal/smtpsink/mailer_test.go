package smtpsink_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/smtpsink"
)

// These tests drive the sink with the project's own sender, the client the
// delivery engine uses, to show what each fault looks like from there.

func startSink(t *testing.T, opts smtpsink.Options) *smtpsink.Server {
	t.Helper()
	s, err := smtpsink.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start sink: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close sink: %v", err)
		}
	})
	return s
}

func newSender(t *testing.T, s *smtpsink.Server, timeout time.Duration) *mailer.Sender {
	t.Helper()
	snd, err := mailer.NewSender(mailer.Config{Host: s.Host(), Port: s.Port(), TLS: mailer.TLSNone, HELO: "digest.test", Timeout: timeout}, nil)
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	t.Cleanup(func() { _ = snd.Close() })
	return snd
}

func message(n int, to string) mailer.Message {
	return mailer.Message{
		MessageID: fmt.Sprintf("<%d.test@digest.example.org>", n),
		From:      "Morning Digest <digest@example.org>",
		ToEmail:   to,
		Subject:   "Today's briefs",
		Text:      mailer.StringBody("Good morning.\n"),
		Date:      time.Date(2026, 3, 18, 6, 30, 0, 0, time.UTC),
	}
}

func TestSenderSeesFaults(t *testing.T) {
	const to = "ana@example.com"
	tests := []struct {
		name      string
		plan      smtpsink.Plan
		timeout   time.Duration // the client's; 0 for a long one
		code      int
		enhanced  string
		temporary bool
		timedOut  bool
		stored    int // messages kept, all Unacknowledged
	}{
		{name: "421 at connect", plan: smtpsink.OnConnect(smtpsink.Always(smtpsink.ServiceUnavailable())),
			code: 421, enhanced: "4.3.2", temporary: true},
		{name: "550 at RCPT", plan: smtpsink.At(smtpsink.StageRcpt, to, smtpsink.Always(smtpsink.Reply(550, "5.1.1", "no such user"))),
			code: 550, enhanced: "5.1.1"},
		{name: "451 at RCPT", plan: smtpsink.At(smtpsink.StageRcpt, to, smtpsink.Always(smtpsink.Reply(451, "4.3.0", "try later"))),
			code: 451, enhanced: "4.3.0", temporary: true},
		{name: "554 at end of DATA", plan: smtpsink.At(smtpsink.StageDataEnd, to, smtpsink.Always(smtpsink.Reply(554, "5.7.1", "refused"))),
			code: 554, enhanced: "5.7.1"},
		{name: "drop during DATA", plan: smtpsink.At(smtpsink.StageData, to, smtpsink.Always(smtpsink.Drop())),
			temporary: true},
		{name: "drop after accept", plan: smtpsink.At(smtpsink.StageDataEnd, to, smtpsink.Always(smtpsink.DropAfterAccept())),
			temporary: true, stored: 1},
		// The short timeout ends the test soon; it asserts nothing about
		// the sink's speed.
		{name: "stall at RCPT", plan: smtpsink.At(smtpsink.StageRcpt, to, smtpsink.Always(smtpsink.Stall())),
			timeout: 300 * time.Millisecond, temporary: true, timedOut: true},
		{name: "stall after accept", plan: smtpsink.At(smtpsink.StageDataEnd, to, smtpsink.Always(smtpsink.StallAfterAccept())),
			timeout: 300 * time.Millisecond, temporary: true, timedOut: true, stored: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := startSink(t, smtpsink.Options{Faults: tt.plan})
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 20 * time.Second
			}
			m := message(1, to)
			err := newSender(t, sink, timeout).Send(t.Context(), m)
			var se *mailer.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %v (%T), want a *mailer.SendError", err, err)
			}
			if se.Code != tt.code || se.EnhancedCode != tt.enhanced || se.Temporary() != tt.temporary {
				t.Errorf("Send = %v: code %d %q temporary %v; want %d %q %v",
					err, se.Code, se.EnhancedCode, se.Temporary(), tt.code, tt.enhanced, tt.temporary)
			}
			// go-mail's SendError keeps the network error only in its
			// text (it has no Unwrap), so that is where to look.
			if timedOut := strings.Contains(err.Error(), "i/o timeout"); timedOut != tt.timedOut {
				t.Errorf("Send = %v: timed out %v, want %v", err, timedOut, tt.timedOut)
			}
			msgs := sink.Messages()
			if len(msgs) != tt.stored {
				t.Fatalf("sink kept %d messages, want %d", len(msgs), tt.stored)
			}
			for _, got := range msgs {
				if !got.Unacknowledged || got.MessageID() != m.MessageID {
					t.Errorf("kept message: unacknowledged %v, Message-ID %q; want true, %q", got.Unacknowledged, got.MessageID(), m.MessageID)
				}
			}
		})
	}
}

// TestResendAfterDropAfterAccept is the duplicate a crash-safe engine must
// make recognisable: the first delivery is kept but never acknowledged, the
// re-send arrives as a second copy with the same Message-ID.
func TestResendAfterDropAfterAccept(t *testing.T) {
	sink := startSink(t, smtpsink.Options{Faults: smtpsink.Combine(
		smtpsink.At(smtpsink.StageDataEnd, "ana@example.com", smtpsink.Sequence(smtpsink.DropAfterAccept())),
		smtpsink.OnConnect(smtpsink.Sequence(smtpsink.Accept(), smtpsink.ServiceUnavailable())),
	)})
	snd := newSender(t, sink, 20*time.Second)
	m := message(7, "ana@example.com")
	tries := []struct {
		want string // "" for success
	}{
		{"dropped after the message was kept"},
		{"421 on the second connection"},
		{""},
	}
	for i, try := range tries {
		err := snd.Send(t.Context(), m)
		if (err == nil) != (try.want == "") {
			t.Fatalf("send %d = %v, want %s", i+1, err, try.want)
		}
	}
	perID := map[string]int{}
	unacknowledged := 0
	for _, got := range sink.Messages() {
		perID[got.MessageID()]++
		if got.Unacknowledged {
			unacknowledged++
		}
	}
	if perID[m.MessageID] != 2 || len(perID) != 1 || unacknowledged != 1 {
		t.Errorf("copies per Message-ID %v, %d unacknowledged; want 2 of %s, 1 unacknowledged", perID, unacknowledged, m.MessageID)
	}
	if n := sink.Connections(); n != 3 {
		t.Errorf("sender used %d connections, want 3", n)
	}
}

// TestStartTLSRequiredNotOffered: a sender that insists on STARTTLS gives
// up on a sink without TLS, before offering the message.
func TestStartTLSRequiredNotOffered(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	snd, err := mailer.NewSender(mailer.Config{Host: sink.Host(), Port: sink.Port(), TLS: mailer.TLSStartTLS, Timeout: 20 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	err = snd.Send(t.Context(), message(1, "ana@example.com"))
	var se *mailer.SendError
	if !errors.As(err, &se) || !se.Connecting {
		t.Errorf("Send = %v, want a failure while connecting", err)
	}
	for _, ev := range sink.Events() {
		if ev.Stage != smtpsink.StageConnect {
			t.Errorf("session reached %s without TLS", ev.Stage)
		}
	}
	if n := len(sink.Messages()); n != 0 {
		t.Errorf("sink kept %d messages", n)
	}
}
