package bounces_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/bounces"
	"github.com/newsroom/digest/internal/sqlite"
)

// IngestAll accounts for every message of every path: a report acted on,
// one that matches nobody, a message that is no report, an unreadable one,
// and a report read from stdin.
func TestIngestAll(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := digest.Subscriber{Email: "kijitora@example.org", Regions: []string{"lagos"}, TimeZone: "Africa/Lagos",
		SendTime: digest.TimeOfDay{Hour: 6}, Status: digest.StatusActive}
	if err := db.CreateSubscriber(ctx, &s); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.eml")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("\x00\x01not mail", 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	bounce, err := os.ReadFile(filepath.Join("testdata", "fixtures", "lhost-postfix-01.eml"))
	if err != nil {
		t.Fatal(err)
	}
	in := bounces.NewIngester(db, nil, 2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sum, err := in.IngestAll(ctx, []string{
		filepath.Join("testdata", "fixtures", "lhost-postfix-01.eml"),
		filepath.Join("testdata", "fixtures", "is-not-bounce-01.eml"),
		garbage,
		"-",
	}, strings.NewReader(strings.ReplaceAll(string(bounce), "kijitora@example.org", "nobody@example.org")))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Acted != 1 || sum.Unmatched != 1 || sum.Skipped != 1 || sum.Unreadable != 1 || len(sum.Items) != 4 {
		t.Fatalf("summary %+v", sum)
	}
	first := sum.Items[0]
	if first.Err != nil || first.Outcome.Email != s.Email || first.Outcome.Action != bounces.ActionBounced {
		t.Errorf("first item %+v", first)
	}
	if !errors.Is(sum.Items[1].Err, bounces.ErrNotABounce) || sum.Items[2].Err == nil || errors.Is(sum.Items[2].Err, bounces.ErrNotABounce) {
		t.Errorf("skipped %+v, unreadable %+v", sum.Items[1], sum.Items[2])
	}
	if last := sum.Items[3]; last.Source != "stdin" || last.Outcome.Action != bounces.ActionNoSubscriber {
		t.Errorf("stdin item %+v", last)
	}
	got, err := db.SubscriberByEmail(ctx, s.Email)
	if err != nil || got.Status != digest.StatusBounced {
		t.Errorf("after ingesting: %+v %v", got, err)
	}
}
