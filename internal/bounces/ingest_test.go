package bounces_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/bounces"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/sqlite/sqlitetest"
	"github.com/newsroom/digest/internal/token"
)

// TestIngest applies reports to subscribers in a real SQLite file.
func TestIngest(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir()+"/digest.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	signer, err := token.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	add := func(email string) digest.Subscriber {
		s := digest.Subscriber{Email: email, Regions: []string{"lagos"}, TimeZone: "Africa/Lagos",
			SendTime: digest.TimeOfDay{Hour: 6}, Status: digest.StatusActive}
		if err := db.CreateSubscriber(ctx, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	byMsgID, soft, angry, verp, policy := add("a@example.com"), add("b@example.com"), add("c@example.com"), add("d@example.com"), add("e@example.com")
	deliver := func(s digest.Subscriber, msgID string) digest.Delivery {
		d := digest.Delivery{SubscriberID: s.ID, DigestDate: "2026-11-26", MessageID: msgID,
			Cutoff: time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC)}
		if err := sqlitetest.CreateDelivery(ctx, db, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	deliver(byMsgID, "<digest.1@news.example.org>")
	dv := deliver(verp, "<digest.2@news.example.org>")

	in := bounces.NewIngester(db, signer, 2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tests := []struct {
		name    string
		report  bounces.Report
		action  bounces.Action
		matched string
		subID   int64
	}{
		{"hard, by Message-ID (recipient is an alias)", bounces.Report{Kind: bounces.Hard, Status: "5.1.1", Recipient: "alias@elsewhere.example",
			OriginalMessageID: "<digest.1@news.example.org>"}, bounces.ActionBounced, "message-id", byMsgID.ID},
		{"soft, by recipient", bounces.Report{Kind: bounces.Soft, Status: "4.2.2", Recipient: "B@example.com"}, bounces.ActionSoftCounted, "recipient", soft.ID},
		{"second soft reaches the threshold", bounces.Report{Kind: bounces.Soft, Recipient: "b@example.com"}, bounces.ActionSoftBounced, "recipient", soft.ID},
		{"complaint", bounces.Report{Kind: bounces.Complaint, Recipient: "c@example.com", ReportingMTA: "fbl.example.net"}, bounces.ActionComplained, "recipient", angry.ID},
		{"hard, by signed VERP token", bounces.Report{Kind: bounces.Hard, Status: "5.1.1", Recipient: "someone-else@example.com",
			VERPToken: signer.Sign(bounces.VERPPurpose, dv.ID)}, bounces.ActionBounced, "verp", verp.ID},
		{"forged VERP token falls back to the recipient", bounces.Report{Kind: bounces.Hard, Status: "5.1.1", Recipient: "nobody@example.com",
			VERPToken: "AQAAAAAAAAACxxxxxxxxxxxxxxxxxxxxxx"}, bounces.ActionNoSubscriber, "", 0},
		{"policy refusal does not blame the reader", bounces.Report{Kind: bounces.Hard, Status: "5.7.1", Recipient: "e@example.com"}, bounces.ActionSenderSide, "recipient", policy.ID},
	}
	for _, tt := range tests {
		out, err := in.Ingest(ctx, tt.report)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if out.Action != tt.action || out.MatchedBy != tt.matched || out.SubscriberID != tt.subID {
			t.Errorf("%s: %+v; want %q by %q for subscriber %d", tt.name, out, tt.action, tt.matched, tt.subID)
		}
	}
	for id, want := range map[int64]digest.SubscriberStatus{
		byMsgID.ID: digest.StatusBounced, soft.ID: digest.StatusBounced, angry.ID: digest.StatusUnsubscribed,
		verp.ID: digest.StatusBounced, policy.ID: digest.StatusActive,
	} {
		s, err := db.Subscriber(ctx, id)
		if err != nil || s.Status != want {
			t.Errorf("subscriber %d: %s, %v; want %s", id, s.Status, err, want)
		}
	}
	if _, ok, _ := db.Suppressed(ctx, "c@example.com"); !ok {
		t.Error("the complainer's address is not suppressed")
	}
}
