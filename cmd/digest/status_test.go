package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/sqlite/sqlitetest"
	"github.com/spf13/cobra"
)

// runStatus runs `digest --config cfg status args...` in-process. It builds
// the root from statusCmd itself, so the test does not depend on how
// root.go registers the command.
func (c *cli) runStatus(cfg string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }, configPath: cfg}
	root := &cobra.Command{Use: "digest", SilenceUsage: true, SilenceErrors: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.statusCmd())
	root.SetArgs(append([]string{"status"}, args...))
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	var ue usageError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ue):
		return 2, out.String(), err.Error()
	}
	return 1, out.String(), err.Error()
}

func TestStatus(t *testing.T) {
	c := newCLI(t)
	cfg := c.config(startSink(t), "127.0.0.1:18080")
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c.write("briefs/l1.md", briefWith("l1", "lagos", "2026-11-26T11:00:00Z"))
	c.write("briefs/l0.md", briefWith("l0", "lagos", "2026-11-25T06:00:00Z")) // 30 h ago
	c.write("briefs/b1.md", briefWith("b1", "bxl", "2026-11-26T10:00:00Z"))
	if code, _, stderr := c.run("--config", cfg, "briefs", "import", filepath.Join(c.dir, "briefs")); code != 0 {
		t.Fatal(stderr)
	}

	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(c.dir, "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, s := range []struct {
		email, zone, send string
		status            digest.SubscriberStatus
		regions           []string
	}{
		{"a@x.org", "Africa/Lagos", "13:30", digest.StatusActive, []string{"lagos", "bxl"}},  // 12:30Z: hour 0
		{"b@x.org", "Africa/Lagos", "13:30", digest.StatusActive, []string{"lagos"}},         // hour 0
		{"c@x.org", "America/New_York", "06:00", digest.StatusActive, []string{"dc"}},        // 11:00Z passed: tomorrow, hour 23
		{"d@x.org", "Asia/Singapore", "06:00", digest.StatusActive, []string{"sg", "lagos"}}, // 22:00Z: hour 10
		{"e@x.org", "Europe/Brussels", "07:00", digest.StatusPending, []string{"bxl"}},
		{"f@x.org", "America/New_York", "07:00", digest.StatusUnsubscribed, []string{"dc"}},
	} {
		st, _ := digest.ParseTimeOfDay(s.send)
		sub := digest.Subscriber{Email: s.email, Regions: s.regions, TimeZone: s.zone, SendTime: st, Status: s.status}
		if err := db.CreateSubscriber(ctx, &sub); err != nil {
			t.Fatal(err)
		}
		ids[s.email] = sub.ID
	}
	l1, _ := db.BriefRecordBySlug(ctx, "l1")
	for i, d := range []struct {
		email string
		date  digest.Date
		due   time.Time
		sent  bool
	}{
		{"a@x.org", "2026-11-25", now.Add(-23*time.Hour - 30*time.Minute), true},
		{"a@x.org", "2026-11-26", now.Add(30 * time.Minute), false},
		{"b@x.org", "2026-11-26", now.Add(-90 * time.Minute), false},
	} {
		dl := digest.Delivery{SubscriberID: ids[d.email], DigestDate: d.date, BriefIDs: []int64{l1.ID},
			MessageID: fmt.Sprintf("<%d@x.org>", i), Status: digest.DeliveryQueued, Cutoff: d.due, DueAt: d.due}
		if err := sqlitetest.CreateDelivery(ctx, db, &dl); err != nil {
			t.Fatal(err)
		}
		if d.sent {
			if err := sqlitetest.RecordSent(ctx, db, dl.ID, d.due, "250 ok"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.AcquireLease(ctx, "sender", "mailhost:77", now.Add(-10*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	st, err := db.Status(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	schema := st.SchemaVersion
	db.Close()

	code, stdout, stderr := c.runStatus(cfg, "--format", "json", "--now", now.Format(time.RFC3339))
	var got statusJSON
	if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
		t.Fatalf("status: exit %d\n%s%s", code, stdout, stderr)
	}
	due := make([]int, 24)
	due[0], due[10], due[23] = 2, 1, 1
	var gotDue []int
	for i, h := range got.DueByHour {
		gotDue = append(gotDue, h.Readers)
		if want := now.Add(time.Duration(i) * time.Hour); !h.From.Equal(want) {
			t.Errorf("due_by_hour[%d].from = %v, want %v", i, h.From, want)
		}
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"database.path", got.Database.Path, filepath.Join(c.dir, "digest.db")},
		{"database.schema_version", got.Database.SchemaVersion, schema},
		{"database.sqlite_version", got.Database.SQLiteVersion != "", true},
		{"database.size_bytes", got.Database.SizeBytes > 0, true},
		{"subscribers", fmt.Sprint(got.Subscribers), "map[active:4 bounced:0 expired:0 pending:1 unsubscribed:1]"},
		{"active_by_region", fmt.Sprint(got.ActiveByRegion), "map[beijing:0 bxl:1 dc:1 lagos:3 riyadh:0 sg:1]"},
		{"briefs_last_24h", fmt.Sprint(got.BriefsLast24h), "map[beijing:0 bxl:1 dc:0 lagos:1 riyadh:0 sg:0]"},
		{"deliveries", fmt.Sprint(got.Deliveries), "[{2026-11-26 map[queued:2]} {2026-11-25 map[sent:1]}]"},
		{"queue", fmt.Sprintf("%d %d %v", got.Queue.Queued, got.Queue.Deferred, got.Queue.OldestQueuedDue), fmt.Sprintf("2 0 %v", ptr(now.Add(-90*time.Minute)))},
		{"sender", fmt.Sprint(*got.Sender), fmt.Sprint(leaseJSON{Holder: "mailhost:77", ExpiresAt: now.Add(50 * time.Second), Live: true})},
		{"next_passes", fmt.Sprint(got.NextPasses), fmt.Sprint([]time.Time{now.Add(5 * time.Minute), now.Add(10 * time.Minute), now.Add(15 * time.Minute)})},
		{"due_by_hour", fmt.Sprint(gotDue), fmt.Sprint(due)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v\nwant %v", ch.field, ch.got, ch.want)
		}
	}

	code, stdout, _ = c.runStatus(cfg, "--now", now.Add(2*time.Minute).Format(time.RFC3339))
	for _, w := range []string{fmt.Sprintf("schema version %d", schema), "subscribers  6: pending 1, active 4, unsubscribed 1, bounced 0, expired 0",
		"2026-11-26   queued 2", "2026-11-25   sent 1", "queue        2 queued, 0 deferred; oldest queued due 2026-11-26 10:30:00Z",
		"none running; last held by mailhost:77", "next passes  12:05Z, 12:10Z, 12:15Z", "Nov 26 12:02–13:02Z"} {
		if code != 0 || !strings.Contains(stdout, w) {
			t.Errorf("status table lacks %q:\n%s", w, stdout)
		}
	}
	for _, row := range []string{"lagos 3 1", "bxl 1 1", "dc 1 0", "sg 1 0", "riyadh 0 0"} {
		if !hasRow(stdout, row) {
			t.Errorf("status table lacks the region row %q (region, active readers, briefs):\n%s", row, stdout)
		}
	}
	if code, _, stderr := c.runStatus(cfg, "--format", "xml"); code != 2 || !strings.Contains(stderr, "--format") {
		t.Errorf("bad format: exit %d %q", code, stderr)
	}
}

func ptr[T any](v T) *T { return &v }

// hasRow reports whether some line of out has exactly the
// whitespace-separated fields of row.
func hasRow(out, row string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(l), " ") == row {
			return true
		}
	}
	return false
}
