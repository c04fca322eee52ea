package sqlite

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

func TestEraseSubscriber(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	db := f.db
	if err := db.EraseSubscriber(ctx, f.sub.Email); !errors.Is(err, errNoHashKey) {
		t.Fatalf("erase without a key: %v, want errNoHashKey", err)
	}
	db.HashKey = []byte("0123456789abcdef0123456789abcdef")
	d := mustCreateDelivery(t, db, sampleDelivery(f.sub.ID, "2026-03-01", at(7, 0), f.briefs[0]))
	if err := db.MarkDeliverySent(ctx, d.ID, at(7, 1), "250 ok"); err != nil {
		t.Fatal(err)
	}
	if err := db.EraseSubscriber(ctx, strings.ToUpper(f.sub.Email)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SubscriberByEmail(ctx, f.sub.Email); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("subscriber still there: %v", err)
	}
	if _, err := db.Delivery(ctx, d.ID); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("delivery still there: %v", err)
	}
	// Nothing in the database still spells the address.
	var n int
	for _, q := range []string{
		`SELECT COUNT(*) FROM subscribers WHERE email_key LIKE '%reader%'`,
		`SELECT COUNT(*) FROM suppressions WHERE email_key LIKE '%reader%'`,
	} {
		if err := db.ro.QueryRowContext(ctx, q).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s = %d, %v", q, n, err)
		}
	}
	if reason, ok, err := db.Suppressed(ctx, f.sub.Email); err != nil || !ok || reason != "erased" {
		t.Errorf("erased address: suppressed %v (%q, %v), want suppressed as erased", ok, reason, err)
	}
	// Without the key the hash cannot be matched, and is not guessable.
	other, _ := Open(ctx, db.path)
	defer other.Close()
	if _, ok, _ := other.Suppressed(ctx, f.sub.Email); ok {
		t.Errorf("the erased address was found without the key")
	}
	if removed, err := db.Unsuppress(ctx, f.sub.Email); err != nil || !removed {
		t.Errorf("unsuppress of an erased address with the key: %v %v", removed, err)
	}
}

func TestSuppressUnsuppress(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	s := mustCreateSubscriber(t, db, sampleSubscriber("Spam.Hater@example.com", "lagos"))
	if err := db.Suppress(ctx, "spam.hater@EXAMPLE.com", "asked by phone"); err != nil {
		t.Fatal(err)
	}
	got, _ := db.Subscriber(ctx, s.ID)
	if got.Status != digest.StatusUnsubscribed {
		t.Errorf("suppressed subscriber is %s, want unsubscribed", got.Status)
	}
	if reason, ok, _ := db.Suppressed(ctx, "spam.hater@example.com"); !ok || reason != "asked by phone" {
		t.Errorf("Suppressed = %q %v", reason, ok)
	}
	if err := db.Suppress(ctx, "nobody@example.com", "pre-emptive"); err != nil {
		t.Errorf("suppressing an address with no subscriber: %v", err)
	}
	if removed, err := db.Unsuppress(ctx, "spam.hater@example.com"); err != nil || !removed {
		t.Errorf("Unsuppress = %v %v", removed, err)
	}
	if got, _ := db.Subscriber(ctx, s.ID); got.Status != digest.StatusUnsubscribed {
		t.Errorf("unsuppress resubscribed the reader (%s)", got.Status)
	}
	if removed, _ := db.Unsuppress(ctx, "spam.hater@example.com"); removed {
		t.Errorf("second unsuppress reported a removal")
	}
}

func TestListSubscribersFilters(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	clock := at(6, 0)
	db.Now = func() time.Time { clock = clock.Add(time.Hour); return clock }
	for _, s := range []digest.Subscriber{
		sampleSubscriber("ada@example.com", "lagos", "bxl"),
		sampleSubscriber("ben_x@example.org", "bxl"),
		sampleSubscriber("cy%@example.net", "sg"),
	} {
		s.Name = "Name of " + s.Email
		mustCreateSubscriber(t, db, s)
	}
	emails := func(f SubscriberFilter) string {
		ss, err := db.ListSubscribers(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range ss {
			out = append(out, s.Email)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name string
		f    SubscriberFilter
		want string
	}{
		{"all", SubscriberFilter{}, "ada@example.com ben_x@example.org cy%@example.net"},
		{"region", SubscriberFilter{Region: "bxl"}, "ada@example.com ben_x@example.org"},
		{"search is case-insensitive", SubscriberFilter{Search: "EXAMPLE.ORG"}, "ben_x@example.org"},
		{"_ is literal", SubscriberFilter{Search: "n_x"}, "ben_x@example.org"},
		{"% is literal", SubscriberFilter{Search: "y%@"}, "cy%@example.net"},
		{"search matches names", SubscriberFilter{Search: "name of ada"}, "ada@example.com"},
		{"created after", SubscriberFilter{CreatedAfter: at(8, 0)}, "ben_x@example.org cy%@example.net"},
		{"created before", SubscriberFilter{CreatedBefore: at(8, 0)}, "ada@example.com"},
		{"limit", SubscriberFilter{Limit: 2}, "ada@example.com ben_x@example.org"},
		{"injection attempt is just text", SubscriberFilter{Search: "' OR 1=1 --"}, ""},
	} {
		if got := emails(tc.f); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
