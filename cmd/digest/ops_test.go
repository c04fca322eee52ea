package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/newsroom/digest/internal/smtpsink"
)

// TestDeliveriesListShowRetry follows a digest refused for a sender-side
// reason through the operator's commands: list it, read its history, re-queue
// it, and see the next pass send it with its original Message-ID.
func TestDeliveriesListShowRetry(t *testing.T) {
	c := newCLI(t)
	var refuse atomic.Bool
	refuse.Store(true)
	sink, err := smtpsink.Start(context.Background(), smtpsink.Options{Addr: "127.0.0.1:0",
		RejectRcpt: func(to string) error {
			if refuse.Load() && to == "ada@example.com" {
				return smtpsink.Reject(554, "5.7.1", "rejected by policy")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	cfg := c.config(sink, "127.0.0.1:18080")
	c.write("b.md", briefFile)
	for _, args := range [][]string{
		{"briefs", "add", filepath.Join(c.dir, "b.md")},
		{"subscribers", "add", "ada@example.com", "--regions", "lagos"},
		{"subscribers", "add", "ben@example.com", "--regions", "lagos"},
	} {
		if code, _, stderr := c.run(append([]string{"--config", cfg}, args...)...); code != 0 {
			t.Fatal(stderr)
		}
	}
	if code, stdout, _ := c.run("--config", cfg, "send", "--now", "2026-11-26T08:00:00Z"); code != 1 || !strings.Contains(stdout, "failed 1") {
		t.Fatalf("send with one refusal: exit %d\n%s", code, stdout)
	}

	code, stdout, stderr := c.run("--config", cfg, "deliveries", "list", "--status", "failed", "--format", "json")
	var listed []deliveryJSON
	if code != 0 || json.Unmarshal([]byte(stdout), &listed) != nil || len(listed) != 1 || listed[0].Email != "ada@example.com" ||
		!strings.Contains(listed[0].Error, "5.7.1") {
		t.Fatalf("deliveries list --status failed: exit %d %s %s", code, stdout, stderr)
	}
	failed := listed[0]
	code, stdout, _ = c.run("--config", cfg, "deliveries", "show", strconv.FormatInt(failed.ID, 10))
	for _, want := range []string{"ada@example.com", "queued → sending", "sending → failed", "5.7.1", failed.MessageID} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("deliveries show lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, stderr := c.run("--config", cfg, "deliveries", "retry"); code != 2 || !strings.Contains(stderr, "say which") {
		t.Errorf("retry without a selection: exit %d %q, want a usage error", code, stderr)
	}
	code, stdout, _ = c.run("--config", cfg, "deliveries", "retry", "--status", "failed", "--date", "2026-11-26")
	if code != 0 || !strings.Contains(stdout, "re-queued 1 deliveries") {
		t.Fatalf("retry: exit %d %s", code, stdout)
	}
	refuse.Store(false)
	if code, stdout, _ := c.run("--config", cfg, "send", "--now", "2026-11-26T08:05:00Z"); code != 0 || !strings.Contains(stdout, "sent 1") {
		t.Fatalf("send after retry: exit %d\n%s", code, stdout)
	}
	var got []string
	for _, m := range sink.Messages() {
		if m.To[0] == "ada@example.com" {
			got = append(got, m.MessageID())
		}
	}
	if len(got) != 1 || got[0] != failed.MessageID {
		t.Errorf("ada received %v, want one message with %s", got, failed.MessageID)
	}
}

// TestBouncesIngest feeds a real MTA bounce, ordinary mail and garbage to
// the command: the bounce marks its reader bounced, the ordinary mail is
// skipped, the garbage is reported by name and makes the command exit 1.
func TestBouncesIngest(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080")
	if code, _, stderr := c.run("--config", cfg, "subscribers", "add", "kijitora@example.org", "--regions", "lagos"); code != 0 {
		t.Fatal(stderr)
	}
	fixtures := filepath.Join("..", "..", "internal", "bounces", "testdata", "fixtures")
	garbage := c.write("garbage.eml", strings.Repeat("\x00\x01not mail", 10))
	code, stdout, stderr := c.run("--config", cfg, "bounces", "ingest",
		filepath.Join(fixtures, "lhost-postfix-01.eml"), filepath.Join(fixtures, "is-not-bounce-01.eml"), garbage)
	if code != 1 {
		t.Errorf("ingest with an unreadable file: exit %d, want 1", code)
	}
	for _, want := range []string{"kijitora@example.org", "marked bounced", "is-not-bounce-01.eml", "skipped", "garbage.eml"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("ingest output lacks %q:\n%s\n%s", want, stdout, stderr)
		}
	}
	_, stdout, _ = c.run("--config", cfg, "subscribers", "list", "--format", "json")
	if !strings.Contains(stdout, `"status": "bounced"`) {
		t.Errorf("the bounced reader is not marked bounced:\n%s", stdout)
	}
}

// TestVERPRoundTrip: with bounce_address set, each digest's envelope sender
// names its delivery; a bounce that comes back to that address marks the
// right reader bounced even when the recipient it names is an alias.
func TestVERPRoundTrip(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080")
	b, _ := os.ReadFile(cfg)
	c.write("digest.yaml", string(b)+"bounce_address: bounces@bounces.example.org\n")
	c.write("b.md", briefFile)
	for _, args := range [][]string{
		{"briefs", "add", filepath.Join(c.dir, "b.md")},
		{"subscribers", "add", "ada@example.com", "--regions", "lagos"},
	} {
		if code, _, stderr := c.run(append([]string{"--config", cfg}, args...)...); code != 0 {
			t.Fatal(stderr)
		}
	}
	if code, stdout, stderr := c.run("--config", cfg, "send", "--now", "2026-11-26T08:00:00Z"); code != 0 {
		t.Fatalf("send: %d\n%s%s", code, stdout, stderr)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	if !strings.HasPrefix(msgs[0].From, "bounces+") || !strings.HasSuffix(msgs[0].From, "@bounces.example.org") {
		t.Fatalf("envelope sender %q, want bounces+TOKEN@bounces.example.org", msgs[0].From)
	}
	dsn := "From: MAILER-DAEMON@mx.example.net\r\nTo: " + msgs[0].From + "\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n" +
		"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
		"Final-Recipient: rfc822; old-alias@forwarder.example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n" +
		"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n" +
		"--B--\r\n"
	path := c.write("bounce.eml", dsn)
	code, stdout, stderr := c.run("--config", cfg, "bounces", "ingest", path)
	if code != 0 || !strings.Contains(stdout, "verp") || !strings.Contains(stdout, "ada@example.com") || !strings.Contains(stdout, "marked bounced") {
		t.Fatalf("ingest: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stdout, _ := c.run("--config", cfg, "subscribers", "show", "ada@example.com", "--format", "json"); !strings.Contains(stdout, `"status": "bounced"`) {
		t.Errorf("the reader the VERP bounce named is not bounced:\n%s", stdout)
	}
}
