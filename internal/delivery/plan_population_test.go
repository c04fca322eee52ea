package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/sqlite"
)

// population describes a made-up readership for the planning benchmark:
// readers in many zones with one to three regions (a few with a code the
// newsroom does not publish), first-timers, readers with yesterday's
// digest sent (and a few of its briefs stored too late to make it),
// readers whose watermark is ten days old, and readers whose digest for
// today exists already in every state.
type population struct {
	readers int
	briefs  int       // spread over the five days before now
	now     time.Time // the pass instant the population is made for
	seed    uint64
}

// storedTime is sqlite's text form of an instant (see timetext.go there).
const storedTime = "2006-01-02T15:04:05.000000000Z"

func stored(t time.Time) string { return t.UTC().Format(storedTime) }

var populationZones = []string{
	"America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York", "America/Sao_Paulo",
	"Atlantic/Azores", "Europe/London", "Europe/Brussels", "Africa/Lagos", "Europe/Athens", "Asia/Riyadh",
	"Asia/Dubai", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Singapore", "Asia/Shanghai", "Asia/Tokyo",
	"Australia/Adelaide", "Pacific/Auckland", "Pacific/Honolulu",
}

// head is a brief as the population knows it.
type head struct {
	id        int64
	region    string
	published time.Time
	removed   bool
}

// fill writes the population into a new database at path, with bulk SQL in
// one transaction (the store's own methods would take minutes for a
// million readers), after sqlite.Open has created the schema.
func (pop population) fill(tb testing.TB, path string) {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=OFF&_foreign_keys=on")
	if err != nil {
		tb.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	prep := func(q string) *sql.Stmt {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			tb.Fatal(err)
		}
		return st
	}
	must := func(_ sql.Result, err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(pop.seed, 42))
	regions := config.Default().Regions
	created := stored(pop.now.Add(-30 * 24 * time.Hour))

	// Briefs: spread over five days, in random regions, some removed.
	insBrief := prep(`INSERT INTO briefs (id, slug, region, headline, published_at, created_at, updated_at, removed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	heads := make([]head, pop.briefs)
	span := 5 * 24 * time.Hour
	for i := range heads {
		h := head{
			id:        int64(i + 1),
			region:    regions[rng.IntN(len(regions))].Code,
			published: pop.now.Add(-span + time.Duration(rng.Int64N(int64(span)))).Truncate(time.Second),
			removed:   i%17 == 5,
		}
		if i%9 == 0 && i > 0 { // the same instant as another brief: the id breaks the tie
			h.published = heads[i-1].published
		}
		heads[i] = h
		var removed any
		if h.removed {
			removed = stored(h.published.Add(time.Hour))
		}
		must(insBrief.ExecContext(ctx, h.id, fmt.Sprintf("brief-%d", h.id), h.region, "Headline "+fmt.Sprint(h.id),
			stored(h.published), created, created, removed))
	}

	insSub := prep(`INSERT INTO subscribers (id, email, email_key, name, time_zone, send_time, status, watermark, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	setWatermark := prep(`UPDATE subscribers SET watermark = ? WHERE id = ?`)
	insRegion := prep(`INSERT INTO subscriber_regions (subscriber_id, position, region) VALUES (?, ?, ?)`)
	// A delivery's briefs are a JSON array in planned order (brief_ids), and
	// brief_dates notes the dates that carry each brief, as the store
	// writes them.
	insDelivery := prep(`INSERT INTO deliveries (id, subscriber_id, digest_date, message_id, status, attempts, error,
			cutoff, due_at, next_attempt_at, created_at, updated_at, sent_at, brief_ids)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	insBriefDates := prep(`INSERT INTO brief_dates (brief_id, digest_date) SELECT value, ? FROM json_each(?) WHERE true
		ON CONFLICT DO NOTHING`)

	var deliveryID int64
	addDelivery := func(sub int64, date digest.Date, status digest.DeliveryStatus, cutoff time.Time, next time.Time, briefs []int64) {
		deliveryID++
		var sentAt, nextAt any
		if status == digest.DeliverySent {
			sentAt = stored(cutoff.Add(time.Minute))
		}
		if !next.IsZero() {
			nextAt = stored(next)
		}
		errText := ""
		if status != digest.DeliverySent && status != digest.DeliveryQueued {
			errText = "550 mailbox unavailable"
		}
		ids, err := json.Marshal(append([]int64{}, briefs...))
		if err != nil {
			tb.Fatal(err)
		}
		must(insDelivery.ExecContext(ctx, deliveryID, sub, string(date), fmt.Sprintf("<bench.%d@example.org>", deliveryID),
			string(status), 1, errText, stored(cutoff), stored(cutoff), nextAt, stored(cutoff), stored(cutoff), sentAt, string(ids)))
		must(insBriefDates.ExecContext(ctx, string(date), string(ids)))
	}
	// carried is what a digest cut off at cutoff, reaching back to from,
	// carried: the briefs of the regions then published, less one in seven
	// (stored too late to make it).
	carried := func(codes []string, from, cutoff time.Time) []int64 {
		var ids []int64
		for _, h := range heads {
			if h.published.After(from) && !h.published.After(cutoff) && rng.IntN(7) != 0 {
				for _, c := range codes {
					if c == h.region {
						ids = append(ids, h.id)
						break
					}
				}
			}
		}
		return ids
	}

	for i := 1; i <= pop.readers; i++ {
		id := int64(i)
		zone := populationZones[rng.IntN(len(populationZones))]
		loc, err := time.LoadLocation(zone)
		if err != nil {
			tb.Fatal(err)
		}
		send := digest.TimeOfDay{Hour: 4 + rng.IntN(6), Minute: 15 * rng.IntN(4)}
		k := 1 + rng.IntN(3)
		codes := make([]string, 0, k)
		for _, p := range rng.Perm(len(regions))[:k] {
			codes = append(codes, regions[p].Code)
		}
		if i%50 == 7 {
			codes = append(codes, "atlantis") // a code the newsroom does not publish
		}
		local := pop.now.In(loc)
		today := digest.DateOf(local)
		y, m, d := local.Date()
		yesterdayDue := send.On(y, m, d-1, loc)
		yesterdayCut := yesterdayDue.Add(time.Duration(rng.IntN(40)) * time.Minute).Truncate(time.Microsecond)

		must(insSub.ExecContext(ctx, id, fmt.Sprintf("reader%d@example.org", i), fmt.Sprintf("reader%d@example.org", i),
			fmt.Sprintf("Reader %d", i), zone, fmt.Sprintf("%02d:%02d", send.Hour, send.Minute), "active", nil, created, created))
		for pos, c := range codes {
			must(insRegion.ExecContext(ctx, id, pos, c))
		}
		var watermark any
		switch r := rng.IntN(100); {
		case r < 40: // first digest to come
		case r < 85: // yesterday's digest went out
			watermark = stored(yesterdayCut)
			addDelivery(id, digest.DateOf(yesterdayDue), digest.DeliverySent, yesterdayCut, time.Time{},
				carried(codes, yesterdayCut.Add(-30*time.Hour), yesterdayCut))
		case r < 90: // nothing new for ten days: an old watermark
			old := yesterdayCut.Add(-9 * 24 * time.Hour)
			watermark = stored(old)
			addDelivery(id, digest.DateOf(old.In(loc)), digest.DeliverySent, old, time.Time{}, nil)
		default: // today's digest exists already
			todayCut := send.On(y, m, d, loc).Add(time.Minute)
			if todayCut.After(pop.now) {
				todayCut = pop.now.Add(-time.Minute)
			}
			watermark = stored(yesterdayCut)
			addDelivery(id, digest.DateOf(yesterdayDue), digest.DeliverySent, yesterdayCut, time.Time{},
				carried(codes, yesterdayCut.Add(-30*time.Hour), yesterdayCut))
			states := []digest.DeliveryStatus{digest.DeliveryQueued, digest.DeliverySent, digest.DeliveryFailed,
				digest.DeliveryDeferred, digest.DeliveryExpired, digest.DeliverySuppressed}
			st := states[rng.IntN(len(states))]
			var next time.Time
			if st == digest.DeliveryDeferred {
				next = pop.now.Add(time.Duration(rng.IntN(120)-60) * time.Minute)
			}
			addDelivery(id, today, st, todayCut, next, carried(codes, yesterdayCut, todayCut))
			if st == digest.DeliverySent {
				watermark = stored(todayCut)
			}
		}
		if watermark != nil {
			must(setWatermark.ExecContext(ctx, watermark, id))
		}
	}
	// A few readers who get nothing, between the active ones.
	must(tx.ExecContext(ctx, `UPDATE subscribers SET status = 'unsubscribed' WHERE id % 97 = 3`))
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		tb.Fatal(err)
	}
}

// newPlanPass returns a pass over store for planning only: it never
// renders or sends.
func newPlanPass(tb testing.TB, store Store, now time.Time) *Outbox {
	tb.Helper()
	return New(store, nil, nil, nil, Options{
		Regions:             config.Default().Regions,
		MessageIDDomain:     "news.example.org",
		FirstDigestLookback: 24 * time.Hour,
		LateBriefGrace:      6 * time.Hour,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return now }, nil)
}
