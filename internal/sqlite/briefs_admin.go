package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"time"

	digest "github.com/newsroom/digest"
)

// BriefChange says what SaveBriefs did, or would do, to one brief.
type BriefChange string

// What SaveBriefs does to a brief.
const (
	BriefAdded     BriefChange = "added"     // a new slug
	BriefUpdated   BriefChange = "updated"   // a known slug whose fields changed
	BriefUnchanged BriefChange = "unchanged" // a known slug, every field equal: nothing written
	BriefRestored  BriefChange = "restored"  // a removed brief re-added: it is live again (and updated if it changed)
)

// SaveOptions tunes SaveBriefs.
type SaveOptions struct {
	// DryRun compares without writing.
	DryRun bool
	// Rewrite stores a brief even when nothing changed (bumping its
	// updated_at) and reports it as updated: what `briefs add` has always
	// done with a file it is given again.
	Rewrite bool
}

// SaveBriefs stores bs by slug in one transaction: all of them or, on any
// error, none. A new slug is added; a known one is updated when any field
// (signals and sources included) differs, and left alone otherwise, so
// re-importing an unchanged directory writes nothing and keeps updated_at.
// A brief marked removed comes back (removed_at is cleared). It returns
// what happened to each brief, in the order of bs, and sets the ID,
// CreatedAt and UpdatedAt of each.
func (db *DB) SaveBriefs(ctx context.Context, bs []digest.Brief, opts SaveOptions) ([]BriefChange, error) {
	for i := range bs {
		if err := validateBrief(&bs[i]); err != nil {
			return nil, err
		}
	}
	now := db.now()
	changes := make([]BriefChange, len(bs))
	run := db.write
	if opts.DryRun {
		run = db.read
	}
	err := run(ctx, func(tx *sql.Tx) error {
		stored, err := storedBriefs(ctx, tx, bs)
		if err != nil {
			return err
		}
		for i := range bs {
			b := &bs[i]
			old, known := stored[b.Slug]
			switch {
			case !known:
				changes[i] = BriefAdded
			case !old.removedAt.IsZero():
				changes[i] = BriefRestored
			case opts.Rewrite || !sameBrief(old.Brief, *b):
				changes[i] = BriefUpdated
			default:
				changes[i] = BriefUnchanged
			}
			if opts.DryRun || changes[i] == BriefUnchanged {
				if known {
					b.ID, b.CreatedAt, b.UpdatedAt = old.ID, old.CreatedAt, old.UpdatedAt
				}
				continue
			}
			if err := saveBrief(ctx, tx, b, old, known, now); err != nil {
				return fmt.Errorf("brief %q: %w", b.Slug, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("save briefs: %w", mapError(err))
	}
	return changes, nil
}

// storedBrief is a stored brief with its removal mark.
type storedBrief struct {
	digest.Brief
	removedAt time.Time
}

// storedBriefs loads the stored briefs with the slugs of bs, fully, by slug.
func storedBriefs(ctx context.Context, tx *sql.Tx, bs []digest.Brief) (map[string]storedBrief, error) {
	slugs := make([]string, len(bs))
	for i, b := range bs {
		slugs[i] = b.Slug
	}
	var removed []time.Time
	rows, err := queryRows(ctx, tx, func(s scanner) (digest.Brief, error) {
		var r time.Time
		b, err := scanBriefWith(s, timeCol{&r})
		removed = append(removed, r)
		return b, err
	}, `SELECT `+briefColumns+`, removed_at FROM briefs WHERE slug IN (SELECT value FROM json_each(?))`, stringsJSON(slugs))
	if err != nil {
		return nil, fmt.Errorf("load stored briefs: %w", err)
	}
	if err := loadSignals(ctx, tx, rows); err != nil {
		return nil, err
	}
	out := make(map[string]storedBrief, len(rows))
	for i, b := range rows {
		out[b.Slug] = storedBrief{Brief: b, removedAt: removed[i]}
	}
	return out, nil
}

// saveBrief inserts b, or replaces the stored brief old and clears its
// removal mark.
func saveBrief(ctx context.Context, tx *sql.Tx, b *digest.Brief, old storedBrief, known bool, now time.Time) error {
	if !known {
		id, err := insertBrief(ctx, tx, b, now)
		if err != nil {
			return err
		}
		b.ID, b.CreatedAt, b.UpdatedAt = id, now, now
		return insertSignals(ctx, tx, id, b.Signals)
	}
	if err := updateBrief(ctx, tx, old.ID, b, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE briefs SET removed_at = NULL WHERE id = ?`, old.ID); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	b.ID, b.CreatedAt, b.UpdatedAt = old.ID, old.CreatedAt, now
	return insertSignals(ctx, tx, old.ID, b.Signals)
}

// sameBrief reports whether a and b have equal content; ids and
// timestamps of their own do not count, nor does an empty list versus none.
func sameBrief(a, b digest.Brief) bool {
	norm := func(b digest.Brief) digest.Brief {
		b.ID, b.CreatedAt, b.UpdatedAt, b.PublishedAt = 0, time.Time{}, time.Time{}, time.Time{}
		if len(b.Signals) == 0 {
			b.Signals = nil
		}
		b.Signals = append([]digest.Signal(nil), b.Signals...) // normalise a copy, not the caller's
		for i := range b.Signals {
			if len(b.Signals[i].Sources) == 0 {
				b.Signals[i].Sources = nil
			}
		}
		return b
	}
	return a.PublishedAt.Equal(b.PublishedAt) && reflect.DeepEqual(norm(a), norm(b))
}

// BriefListFilter narrows ListBriefSummaries.
type BriefListFilter struct {
	Region         string    // only this region; "" for all
	Since          time.Time // only briefs published at or after this instant; zero for all
	Limit          int       // at most this many, newest first; 0 for no limit
	IncludeRemoved bool      // list removed briefs too
}

// BriefSummary is one line of a brief listing.
type BriefSummary struct {
	ID          int64
	Slug        string
	Region      string
	Headline    string
	PublishedAt time.Time
	Signals     int       // how many signals it has
	SentTo      int       // how many sent deliveries carried it: readers who got it
	RemovedAt   time.Time // zero unless removed
}

// ListBriefSummaries lists briefs newest first (by published_at, then id),
// without their bodies, with the counts an editor asks about. Removed
// briefs are left out unless f.IncludeRemoved.
func (db *DB) ListBriefSummaries(ctx context.Context, f BriefListFilter) ([]BriefSummary, error) {
	var c conditions
	if f.Region != "" {
		c.add("b.region = ?", f.Region)
	}
	if !f.Since.IsZero() {
		c.add("b.published_at >= ?", boundTime(f.Since))
	}
	if !f.IncludeRemoved {
		c.add("b.removed_at IS NULL")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	var out []BriefSummary
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = queryRows(ctx, tx, func(s scanner) (BriefSummary, error) {
			var b BriefSummary
			err := s.Scan(&b.ID, &b.Slug, &b.Region, &b.Headline, timeCol{&b.PublishedAt}, timeCol{&b.RemovedAt}, &b.Signals)
			return b, err
		}, `SELECT b.id, b.slug, b.region, b.headline, b.published_at, b.removed_at,
				(SELECT COUNT(*) FROM brief_signals s WHERE s.brief_id = b.id)
			FROM briefs b `+c.where()+` ORDER BY b.published_at DESC, b.id DESC LIMIT ?`,
			append(c.args, limit)...)
		if err != nil || len(out) == 0 {
			return err
		}
		return countSent(ctx, tx, out)
	})
	if err != nil {
		return nil, fmt.Errorf("list briefs: %w", err)
	}
	return out, nil
}

// countSent sets SentTo of each summary. The sent deliveries of every date
// any of the briefs was planned for are read once, through
// deliveries_date, and their brief ids counted together: one pass over
// those days' deliveries for the whole listing, not one per brief.
func countSent(ctx context.Context, tx *sql.Tx, out []BriefSummary) error {
	ids := make([]int64, len(out))
	at := make(map[int64]int, len(out))
	for i, b := range out {
		ids[i], at[b.ID] = b.ID, i
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT j.value, COUNT(*)
		FROM deliveries d, json_each(d.brief_ids) j
		WHERE d.digest_date IN (
				SELECT digest_date FROM brief_dates WHERE brief_id IN (SELECT value FROM json_each(?1)))
			AND d.status = 'sent'
			AND j.value IN (SELECT value FROM json_each(?1))
		GROUP BY j.value`, int64sJSON(ids))
	if err != nil {
		return fmt.Errorf("count sent deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return fmt.Errorf("count sent deliveries: %w", err)
		}
		out[at[id]].SentTo = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count sent deliveries: %w", err)
	}
	return nil
}

// carriers selects from deliveries d the ones whose brief_ids hold the
// brief ?1: those of the dates brief_dates lists for it (read through
// deliveries_date), looked inside. Every use binds the brief id as ?1.
const carriers = `deliveries d
	WHERE d.digest_date IN (SELECT digest_date FROM brief_dates WHERE brief_id = ?1)
		AND EXISTS (SELECT 1 FROM json_each(d.brief_ids) WHERE value = ?1)`

// BriefRecord is a brief with what the store knows about it beyond its
// content.
type BriefRecord struct {
	digest.Brief
	RemovedAt time.Time // zero unless removed
	// Deliveries counts the deliveries that carry the brief, by status.
	Deliveries map[digest.DeliveryStatus]int
	// FirstSentAt and LastSentAt bound when sent deliveries carried it;
	// zero when none did.
	FirstSentAt, LastSentAt time.Time
}

// BriefRecordBySlug returns the brief with the given slug, removed or not,
// with its delivery statistics, or digest.ErrNotFound.
func (db *DB) BriefRecordBySlug(ctx context.Context, slug string) (BriefRecord, error) {
	rec := BriefRecord{Deliveries: map[digest.DeliveryStatus]int{}}
	err := db.read(ctx, func(tx *sql.Tx) error {
		bs, err := queryRows(ctx, tx, func(s scanner) (digest.Brief, error) {
			return scanBriefWith(s, timeCol{&rec.RemovedAt})
		}, `SELECT `+briefColumns+`, removed_at FROM briefs WHERE slug = ?`, slug)
		if err != nil {
			return err
		}
		if len(bs) == 0 {
			return digest.ErrNotFound
		}
		if err := loadSignals(ctx, tx, bs); err != nil {
			return err
		}
		rec.Brief = bs[0]
		rows, err := tx.QueryContext(ctx, `
			SELECT d.status, COUNT(*), MIN(d.sent_at), MAX(d.sent_at) FROM `+carriers+`
			GROUP BY d.status`, rec.ID)
		if err != nil {
			return fmt.Errorf("count deliveries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				status      string
				n           int
				first, last time.Time
			)
			if err := rows.Scan(&status, &n, timeCol{&first}, timeCol{&last}); err != nil {
				return fmt.Errorf("count deliveries: %w", err)
			}
			rec.Deliveries[digest.DeliveryStatus(status)] = n
			if digest.DeliveryStatus(status) == digest.DeliverySent {
				rec.FirstSentAt, rec.LastSentAt = first, last
			}
		}
		return rows.Err()
	})
	if err != nil {
		return BriefRecord{}, fmt.Errorf("brief %q: %w", slug, err)
	}
	return rec, nil
}

// scanBriefWith scans briefColumns followed by the extra destinations.
func scanBriefWith(s scanner, extra ...any) (digest.Brief, error) {
	return scanBrief(scanFunc(func(dest ...any) error { return s.Scan(append(dest, extra...)...) }))
}

// scanFunc adapts a function to the scanner interface.
type scanFunc func(dest ...any) error

// Scan implements scanner.
func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// BriefRemoval says what RemoveBrief did.
type BriefRemoval struct {
	// Deleted: no delivery record referenced the brief, so it is gone.
	Deleted bool
	// RemovedAt is when the brief was marked removed (now, or earlier when
	// it already was); zero when Deleted.
	RemovedAt time.Time
	// AlreadyRemoved: it was marked removed before this call.
	AlreadyRemoved bool
	// Carried is how many delivery records (sent, failed, expired,
	// suppressed or being sent) keep referencing it.
	Carried int
	// Unplanned is how many queued or deferred deliveries it was taken
	// out of, so they go out without it.
	Unplanned int
	// Suppressed is how many of those carried nothing else and were
	// suppressed instead of going out empty.
	Suppressed int
}

// RemoveBrief withdraws the brief with the given slug so that no future
// digest carries it. In one transaction it takes the brief out of queued
// and deferred deliveries (not yet accepted by any server; one left with no
// briefs is suppressed), then deletes the brief if no delivery record still
// references it, or else marks it removed: a sent digest's record must keep
// saying what the reader received, and its brief_ids name the brief. A delivery being sent at this moment cannot be recalled. Removing
// a removed brief changes nothing. It fails with digest.ErrNotFound for an
// unknown slug.
func (db *DB) RemoveBrief(ctx context.Context, slug string) (BriefRemoval, error) {
	var r BriefRemoval
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id, removed_at FROM briefs WHERE slug = ?`, slug).
			Scan(&id, timeCol{&r.RemovedAt})
		if err != nil {
			return notFound(err)
		}
		r.AlreadyRemoved = !r.RemovedAt.IsZero()
		if err := unplanBrief(ctx, tx, id, now, slug, &r); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+carriers, id).Scan(&r.Carried); err != nil {
			return fmt.Errorf("count deliveries: %w", err)
		}
		if r.Carried == 0 {
			// The signals and sources go with it (ON DELETE CASCADE).
			r.Deleted, r.RemovedAt, r.AlreadyRemoved = true, time.Time{}, false
			_, err := tx.ExecContext(ctx, `DELETE FROM briefs WHERE id = ?`, id)
			return err
		}
		if r.AlreadyRemoved {
			return nil
		}
		r.RemovedAt = now
		_, err = tx.ExecContext(ctx, `UPDATE briefs SET removed_at = ?, updated_at = ? WHERE id = ?`,
			formatTime(now), formatTime(now), id)
		return err
	})
	if err != nil {
		return BriefRemoval{}, fmt.Errorf("remove brief %q: %w", slug, err)
	}
	return r, nil
}

// unplanBrief takes brief id out of the queued and deferred deliveries that
// carry it, and suppresses those left with nothing to say.
func unplanBrief(ctx context.Context, tx *sql.Tx, id int64, now time.Time, slug string, r *BriefRemoval) error {
	type planned struct {
		id     int64
		briefs string
	}
	ds, err := queryRows(ctx, tx, func(s scanner) (planned, error) {
		var p planned
		return p, s.Scan(&p.id, &p.briefs)
	}, `SELECT d.id, d.brief_ids FROM `+carriers+` AND d.status IN (?2, ?3) ORDER BY d.id`,
		id, string(digest.DeliveryQueued), string(digest.DeliveryDeferred))
	if err != nil {
		return fmt.Errorf("find planned deliveries: %w", err)
	}
	for _, d := range ds {
		briefs, err := parseIDList(d.briefs)
		if err != nil {
			return fmt.Errorf("delivery %d: %w", d.id, err)
		}
		left := slices.DeleteFunc(briefs, func(b int64) bool { return b == id })
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET brief_ids = ? WHERE id = ?`,
			int64sJSON(left), d.id); err != nil {
			return fmt.Errorf("take brief out of delivery %d: %w", d.id, err)
		}
		r.Unplanned++
		if len(left) > 0 {
			continue
		}
		reason := fmt.Sprintf("brief %s was removed and it carried nothing else", slug)
		_, _, err = transition(ctx, tx, d.id, now, []digest.DeliveryStatus{digest.DeliveryQueued, digest.DeliveryDeferred},
			digest.DeliverySuppressed, reason, "error = ?, next_attempt_at = NULL", reason)
		if err != nil {
			return fmt.Errorf("suppress delivery %d: %w", d.id, err)
		}
		r.Suppressed++
	}
	return nil
}
