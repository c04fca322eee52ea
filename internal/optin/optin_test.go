package optin

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/demo"
	"github.com/newsroom/digest/internal/links"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/render"
	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/newsroom/digest/internal/token"
	"github.com/newsroom/digest/templates"
)

var testRegions = digest.Regions{
	{Code: "lagos", Name: "Lagos", TimeZone: "UTC", Location: time.UTC},
	{Code: "bxl", Name: "Brussels", TimeZone: "UTC", Location: time.UTC},
}

// linkPattern finds the confirmation link in a message body.
var linkPattern = regexp.MustCompile(`https://\S+/confirm/[A-Za-z0-9_-]+`)

type fixture struct {
	sink    *smtpsink.Server
	signer  *token.Signer
	inviter *Inviter
}

func newFixture(t *testing.T, sinkOpts smtpsink.Options) *fixture {
	t.Helper()
	sink, err := smtpsink.Start(context.Background(), sinkOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	sender, err := mailer.NewSender(mailer.Config{Host: sink.Host(), Port: sink.Port(), TLS: mailer.TLSNone, Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	r, err := render.New(templates.FS, render.Options{Regions: testRegions, PublisherName: "The Courier", PostalAddress: "1 Example Square"})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner(bytes.Repeat([]byte{7}, token.MinSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	inv, err := New(r, sender, links.New("https://news.example.org/digest/", signer), Options{
		From:        "The Courier <digest@news.example.org>",
		ExpireAfter: 48 * time.Hour,
		Now:         func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sink: sink, signer: signer, inviter: inv}
}

func pending(id int64) digest.Subscriber {
	return digest.Subscriber{ID: id, Email: "ada@example.com", Name: "Ada Okafor", Regions: []string{"bxl", "lagos"},
		TimeZone: "UTC", Status: digest.StatusPending}
}

// TestInvite sends a real invitation through SMTP and reads it as a mail
// client would: the link in it verifies for the confirm purpose only.
func TestInvite(t *testing.T) {
	f := newFixture(t, smtpsink.Options{})
	if err := f.inviter.Invite(context.Background(), pending(42)); err != nil {
		t.Fatalf("Invite: %v", err)
	}
	msgs := f.sink.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "ada@example.com" {
		t.Fatalf("received %d messages: %+v", len(msgs), msgs)
	}
	header, parts, err := demo.Parts(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if got := header.Header.Get("Subject"); got != "Please confirm your subscription to The Courier" {
		t.Errorf("Subject = %q", got)
	}
	if id := msgs[0].MessageID(); !strings.HasPrefix(id, "<confirm.42.") || !strings.HasSuffix(id, "@news.example.org>") {
		t.Errorf("Message-ID = %q", id)
	}
	if header.Header.Get("List-Unsubscribe") != "" || header.Header.Get("List-Id") != "" {
		t.Error("the invitation carries list headers, though the reader has not joined the list")
	}
	text, ok := demo.PartOf(parts, "text/plain")
	html, okHTML := demo.PartOf(parts, "text/html")
	if !ok || !okHTML {
		t.Fatalf("parts: %+v", parts)
	}
	link := linkPattern.FindString(string(text.Body))
	const prefix = "https://news.example.org/digest/confirm/"
	if !strings.HasPrefix(link, prefix) || !strings.Contains(string(html.Body), link) {
		t.Fatalf("confirmation link %q (want under %s, in both parts)", link, prefix)
	}
	tok := strings.TrimPrefix(link, prefix)
	if id, err := f.signer.Verify(links.PurposeConfirm, tok); err != nil || id != 42 {
		t.Errorf("link token verifies as %d, %v; want 42", id, err)
	}
	for _, other := range []string{links.PurposeUnsubscribe, links.PurposePreferences} {
		if _, err := f.signer.Verify(other, tok); err == nil {
			t.Errorf("the confirm token verifies for %q", other)
		}
	}
	if flat := strings.Join(strings.Fields(string(text.Body)), " "); !strings.Contains(flat, "works for 2 days") || !strings.Contains(flat, "Brussels and Lagos") {
		t.Errorf("text part:\n%s", text.Body)
	}
}

func TestInviteRefuses(t *testing.T) {
	f := newFixture(t, smtpsink.Options{})
	tests := []struct {
		name  string
		sub   func() digest.Subscriber
		field string
	}{
		{"not stored", func() digest.Subscriber { s := pending(0); return s }, "id"},
		{"active", func() digest.Subscriber { s := pending(1); s.Status = digest.StatusActive; return s }, "status"},
		{"unsubscribed", func() digest.Subscriber { s := pending(1); s.Status = digest.StatusUnsubscribed; return s }, "status"},
		{"expired", func() digest.Subscriber { s := pending(1); s.Status = digest.StatusExpired; return s }, "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.inviter.Invite(context.Background(), tt.sub())
			var fe *digest.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("error = %v, want a field error on %s", err, tt.field)
			}
		})
	}
	if n := len(f.sink.Messages()); n != 0 {
		t.Errorf("%d messages sent", n)
	}
}

// A refused invitation reports the SMTP reply, so the caller can say so.
func TestInviteSMTPFailure(t *testing.T) {
	f := newFixture(t, smtpsink.Options{RejectRcpt: func(string) error {
		return smtpsink.Reject(550, "5.1.1", "no such user")
	}})
	err := f.inviter.Invite(context.Background(), pending(42))
	var se *mailer.SendError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "5.1.1") || !strings.Contains(err.Error(), "subscriber 42") {
		t.Errorf("error = %v, want a *mailer.SendError naming the subscriber and the reply", err)
	}
}

type expirer struct{ before time.Time }

func (e *expirer) ExpirePending(_ context.Context, before time.Time) (int, error) {
	e.before = before
	return 3, nil
}

func TestExpire(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		after time.Duration
		want  time.Time
	}{
		{0, now.Add(-DefaultExpireAfter)},
		{time.Hour, now.Add(-time.Hour)},
	}
	for _, tt := range tests {
		var e expirer
		n, err := Expire(context.Background(), &e, now, tt.after)
		if err != nil || n != 3 || !e.before.Equal(tt.want) {
			t.Errorf("Expire(after %v): %d, %v, cut-off %v; want 3, cut-off %v", tt.after, n, err, e.before, tt.want)
		}
	}
	if _, err := Expire(context.Background(), &expirer{}, now, -time.Hour); err == nil {
		t.Error("a negative expire_after was accepted")
	}
}
