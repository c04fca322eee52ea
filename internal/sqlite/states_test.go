package sqlite

import (
	"context"
	"maps"
	"testing"

	digest "github.com/newsroom/digest"
)

// TestStatusFiltersRefuseWhatTheyCannotSelect: a status is written into
// the SQL text (for the partial indexes), so anything but a delivery
// status is refused by name, and so is re-queueing a status that is never
// re-queued, instead of selecting nothing.
func TestStatusFiltersRefuseWhatTheyCannotSelect(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"list unknown", func() error {
			_, err := db.ListDeliveries(ctx, DeliveryFilter{Status: "queued' OR 1=1 --"})
			return err
		}},
		{"requeue sent", func() error {
			_, err := db.RequeueDeliveries(ctx, RetryFilter{Status: digest.DeliverySent})
			return err
		}},
		{"requeue sending", func() error {
			_, err := db.RequeueDeliveries(ctx, RetryFilter{Status: digest.DeliverySending})
			return err
		}},
		{"requeue unknown", func() error {
			_, err := db.RequeueDeliveries(ctx, RetryFilter{Status: "lost"})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantFieldError(t, tc.call(), "status") })
	}
}

// TestCountDeliveriesByIndexes: counts come from the partial indexes with
// sent as the rest, so a state a later migration adds (without an index
// here) must be counted as itself, not as sent.
func TestCountDeliveriesByIndexes(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	sub := mustCreateSubscriber(t, db, sampleSubscriber("a@example.com", "lagos"))
	other := mustCreateSubscriber(t, db, sampleSubscriber("b@example.com", "lagos"))
	var ds []digest.Delivery
	for i, date := range []digest.Date{"2026-03-01", "2026-03-02", "2026-03-03"} {
		for _, s := range []digest.Subscriber{sub, other} {
			d := sampleDelivery(s.ID, date, at(5, i))
			d.MessageID = string(date) + "-" + s.Email
			ds = append(ds, mustCreateDelivery(t, db, d))
		}
	}
	set := func(id int64, status string) {
		t.Helper()
		if _, err := db.rw.ExecContext(ctx, `UPDATE deliveries SET status = ? WHERE id = ?`, status, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.rw.ExecContext(ctx, `INSERT INTO delivery_states (status) VALUES ('held')`); err != nil {
		t.Fatal(err)
	}
	set(ds[0].ID, "sent")
	set(ds[1].ID, "held")
	set(ds[2].ID, "sent")
	set(ds[3].ID, "failed")
	// ds[4] and ds[5] stay queued.
	tests := []struct {
		date digest.Date
		want map[digest.DeliveryStatus]int
	}{
		{"", map[digest.DeliveryStatus]int{"sent": 2, "held": 1, "failed": 1, "queued": 2}},
		{"2026-03-01", map[digest.DeliveryStatus]int{"sent": 1, "held": 1}},
		{"2026-03-02", map[digest.DeliveryStatus]int{"sent": 1, "failed": 1}},
		{"2026-03-03", map[digest.DeliveryStatus]int{"queued": 2}},
		{"2026-03-04", map[digest.DeliveryStatus]int{}},
	}
	for _, tc := range tests {
		t.Run(string(tc.date), func(t *testing.T) {
			if got := countDeliveries(t, db, tc.date); !maps.Equal(got, tc.want) {
				t.Errorf("deliveries of %q by status = %v, want %v", tc.date, got, tc.want)
			}
		})
	}
}
