package delivery

import (
	"reflect"
	"regexp"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/mailer"
)

func TestPreviewTestMessage(t *testing.T) {
	at := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	pv := Preview{Subscriber: digest.Subscriber{Email: "ada@example.com"}, Message: mailer.Message{
		MessageID: "<preview.20261126@news.example.com>", From: "The Regional Brief <news@Mail.Example.com>",
		ToName: "Ada Okafor", ToEmail: "ada@example.com", Subject: "Lagos: rain", Date: at,
		ListID: "<brief.news.example.com>", UnsubscribeURL: "https://news.example.com/u/tok",
		Text: mailer.StringBody("text"), HTML: mailer.StringBody("<p>html</p>"),
	}}
	now := at.Add(time.Hour)
	m, err := pv.TestMessage("editor@example.org", now)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "[TEST] Lagos: rain" {
		t.Errorf("subject %q", m.Subject)
	}
	if m.ToName != "" || m.ToEmail != "editor@example.org" {
		t.Errorf("to %q <%s>", m.ToName, m.ToEmail)
	}
	if !m.Date.Equal(now) {
		t.Errorf("date %v, want %v", m.Date, now)
	}
	if !regexp.MustCompile(`^<test\.[0-9a-f]{24}@Mail\.Example\.com>$`).MatchString(m.MessageID) {
		t.Errorf("Message-ID %q: want <test.HEX@the From domain>", m.MessageID)
	}
	if again, _ := pv.TestMessage("editor@example.org", now); again.MessageID == m.MessageID {
		t.Errorf("two test sends share Message-ID %s", m.MessageID)
	}
	// Everything else is the preview's, so the test shows what the reader gets.
	if m.From != pv.Message.From || m.ListID != pv.Message.ListID || m.UnsubscribeURL != pv.Message.UnsubscribeURL ||
		!reflect.DeepEqual(m.Text, pv.Message.Text) || !reflect.DeepEqual(m.HTML, pv.Message.HTML) {
		t.Errorf("test message %+v differs from the preview's %+v beyond subject, recipient, date and Message-ID", m, pv.Message)
	}
	if pv.Message.Subject != "Lagos: rain" || pv.Message.ToEmail != "ada@example.com" {
		t.Errorf("TestMessage changed the preview: %+v", pv.Message)
	}

	pv.Message.From = "not an address"
	if _, err := pv.TestMessage("editor@example.org", now); err == nil {
		t.Error("a From without an address gave a test message")
	}
}
