package bench_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/newsroom/digest/internal/bench"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/smtpsink"
)

// TestRawLimitUsesEightBit checks that the benchmark's raw limit sends a
// Build result the way a Sender would to a server offering 8BITMIME, so the
// pass is compared with a limit that pays for the same encoding.
func TestRawLimitUsesEightBit(t *testing.T) {
	sink, err := smtpsink.Start(t.Context(), smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	m := mailer.Message{
		MessageID: "<raw.1@digest.example.org>",
		From:      "Morning Digest <digest@example.org>",
		ToEmail:   "zoe@example.com",
		Subject:   "Briefs",
		Text:      mailer.StringBody("Good morning, Zoë.\n.a line that starts with a dot\n"),
		HTML:      mailer.StringBody("<p>Good morning, Zoë.</p>\n"),
		Date:      time.Date(2026, 3, 18, 6, 30, 0, 0, time.UTC),
	}
	build := func() (*gomail.Msg, error) { return mailer.Build(m) }
	if _, err := bench.RawLimit(t.Context(), sink.Host(), sink.Port(), 2, 3, build); err != nil {
		t.Fatalf("RawLimit: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	msgs, err := sink.Wait(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range msgs {
		if n := bytes.Count(got.Data, []byte("Content-Transfer-Encoding: 8bit\r\n")); n != 2 {
			t.Errorf("message %d has %d 8bit parts, want 2", i+1, n)
		}
		if !bytes.Contains(got.Data, []byte("Good morning, Zoë.\r\n.a line that starts with a dot\r\n")) {
			t.Errorf("message %d does not carry the text as written, CRLF line ends:\n%s", i+1, got.Data)
		}
	}
}
