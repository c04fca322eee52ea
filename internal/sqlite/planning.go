package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	digest "github.com/newsroom/digest"
)

// Reads for planning a digest pass over many readers. A pass pages through
// the active readers by id, a few thousand at a time, and asks for each
// page's recent deliveries in one go; the brief heads it chooses from are
// loaded once per pass. Choosing is not done here: digest.Selection does
// it from what these return. Each call is one short read transaction, and only
// the columns planning needs are read, so planning a million readers costs
// a few hundred queries rather than a few million, and its memory does not
// grow with the list.

// ActivePage returns up to limit active subscribers with an id above
// afterID, in id order: the keyset page of a pass. Only what planning and
// its report need is loaded: ID, Email, Name, Regions (in the reader's
// order), TimeZone, SendTime, Status and Watermark; consent and the
// created/updated times stay zero. Readers of a page with the same
// regions share one Regions slice (its capacity is its length, so an
// append copies it); planning only reads it.
func (db *DB) ActivePage(ctx context.Context, afterID int64, limit int) ([]digest.Subscriber, error) {
	if limit <= 0 {
		return nil, nil
	}
	var subs []digest.Subscriber
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		subs, err = activePage(ctx, tx, afterID, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("active subscribers after id %d: %w", afterID, err)
	}
	return subs, nil
}

// activePage reads the subscribers of a page with their regions. Each
// reader's regions come with their row, as one JSON array, because a row
// per region would multiply the rows read through database/sql, which is
// most of the time of reading the list. Readers share a
// handful of send times, zones, region lists and (readers of one zone and
// send time) watermarks, so each distinct text is parsed once per page.
func activePage(ctx context.Context, tx *sql.Tx, afterID int64, limit int) ([]digest.Subscriber, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT s.id, s.email, s.name, s.time_zone, s.send_time, s.watermark,
			(SELECT json_group_array(r.region ORDER BY r.position) FROM subscriber_regions r WHERE r.subscriber_id = s.id)
		FROM subscribers s
		WHERE s.status = ? AND s.id > ? ORDER BY s.id LIMIT ?`, string(digest.StatusActive), afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	subs := make([]digest.Subscriber, 0, limit)
	var (
		sendTimes  = map[string]digest.TimeOfDay{}
		zones      = map[string]string{}
		regions    = map[string][]string{}
		watermarks = map[string]time.Time{}
	)
	var zone, st, watermark, list sql.RawBytes
	for rows.Next() {
		// Scanned in place: a local Subscriber escapes through Scan's
		// pointers, one heap copy per reader.
		subs = append(subs, digest.Subscriber{Status: digest.StatusActive})
		s := &subs[len(subs)-1]
		if err := rows.Scan(&s.ID, &s.Email, &s.Name, &zone, &st, &watermark, &list); err != nil {
			return nil, fmt.Errorf("scan subscriber: %w", err)
		}
		var ok bool
		if s.TimeZone, ok = zones[string(zone)]; !ok {
			s.TimeZone = string(zone)
			zones[s.TimeZone] = s.TimeZone
		}
		if s.SendTime, ok = sendTimes[string(st)]; !ok {
			if s.SendTime, err = digest.ParseTimeOfDay(string(st)); err != nil {
				return nil, fmt.Errorf("subscriber %d: send_time: %w", s.ID, err)
			}
			sendTimes[string(st)] = s.SendTime
		}
		if watermark != nil {
			if s.Watermark, ok = watermarks[string(watermark)]; !ok {
				if s.Watermark, err = parseTime(string(watermark)); err != nil {
					return nil, fmt.Errorf("subscriber %d: watermark: %w", s.ID, err)
				}
				watermarks[string(watermark)] = s.Watermark
			}
		}
		if s.Regions, ok = regions[string(list)]; !ok {
			if s.Regions, err = parseRegionList(list); err != nil {
				return nil, fmt.Errorf("subscriber %d: regions: %w", s.ID, err)
			}
			regions[string(list)] = s.Regions
		}
	}
	return subs, rows.Err()
}

// parseRegionList parses a reader's regions as activePage reads them: a
// JSON array of strings, nil when empty, with capacity equal to length.
func parseRegionList(list []byte) ([]string, error) {
	var codes []string
	if err := json.Unmarshal(list, &codes); err != nil {
		return nil, fmt.Errorf("%q: %w", list, err)
	}
	if len(codes) == 0 {
		return nil, nil
	}
	return codes[:len(codes):len(codes)], nil
}

// RecentDeliveries returns, for the given subscribers, every delivery
// dated on or after since (any status: what decides whether a reader's
// digest for a day exists), and every sent delivery cut off after
// sentAfter (the history digest.Selection reads: which briefs they
// already had), each once, by subscriber and then id, so that each
// reader's are neighbours. BriefIDs are loaded only for the sent
// deliveries cut off after sentAfter; the others carry none, since
// choosing briefs never needs them and a second pass of a day would
// otherwise read every brief id planned that day.
func (db *DB) RecentDeliveries(ctx context.Context, subscriberIDs []int64, since digest.Date, sentAfter time.Time) ([]digest.Delivery, error) {
	if len(subscriberIDs) == 0 {
		return nil, nil
	}
	bound := boundTime(sentAfter)
	var ds []digest.Delivery
	err := db.read(ctx, func(tx *sql.Tx) error {
		// CROSS JOIN keeps the readers outside, so the (subscriber_id,
		// digest_date) unique index finds each reader's few rows and both
		// conditions are checked on those. Left to itself the planner reads
		// the OR through the date index: every delivery of the last day,
		// for every page.
		rows, err := tx.QueryContext(ctx, `
			SELECT d.id, d.subscriber_id, d.digest_date, d.message_id, d.status, d.attempts, d.error, d.cutoff, d.next_attempt_at,
				d.brief_ids
			FROM json_each(?) j CROSS JOIN deliveries d ON d.subscriber_id = j.value
			WHERE d.digest_date >= ? OR (d.status = ? AND d.cutoff > ?)
			ORDER BY d.subscriber_id, d.id`,
			int64sJSON(subscriberIDs), string(since), string(digest.DeliverySent), bound)
		if err != nil {
			return err
		}
		defer rows.Close()
		// A page's readers have a delivery or two each in the window.
		ds = make([]digest.Delivery, 0, len(subscriberIDs))
		var (
			date, status, cutoff sql.RawBytes
			briefIDs             sql.RawBytes // parsed only when wanted: no copy otherwise
			// Dates, statuses and cut-offs repeat across a page (readers of
			// one zone and send time share their cut-off): each distinct
			// text is copied or parsed once.
			texts   = interner{}
			cutoffs = map[string]time.Time{}
		)
		for rows.Next() {
			// Scanned in place: a local Delivery escapes through Scan's
			// pointers, one heap copy per row.
			ds = append(ds, digest.Delivery{})
			d := &ds[len(ds)-1]
			if err := rows.Scan(&d.ID, &d.SubscriberID, &date, &d.MessageID, &status, &d.Attempts, &d.Error,
				&cutoff, timeCol{&d.NextAttemptAt}, &briefIDs); err != nil {
				return fmt.Errorf("scan delivery: %w", err)
			}
			d.DigestDate = digest.Date(texts.intern(date))
			d.Status = digest.DeliveryStatus(texts.intern(status))
			var ok bool
			if d.Cutoff, ok = cutoffs[string(cutoff)]; !ok {
				if d.Cutoff, err = parseTime(string(cutoff)); err != nil {
					return fmt.Errorf("delivery %d: cutoff: %w", d.ID, err)
				}
				cutoffs[string(cutoff)] = d.Cutoff
			}
			// The same text comparison as the query.
			if d.Status == digest.DeliverySent && string(cutoff) > bound {
				if d.BriefIDs, err = parseIDList(string(briefIDs)); err != nil {
					return fmt.Errorf("delivery %d: %w", d.ID, err)
				}
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("recent deliveries of %d subscribers since %s: %w", len(subscriberIDs), since, err)
	}
	return ds, nil
}

// BriefHeads returns the heads of the briefs published in (after, upTo],
// removed ones included (marked so), in no particular order: what
// digest.Candidates are built from, without every brief's text and
// signals.
func (db *DB) BriefHeads(ctx context.Context, after, upTo time.Time) ([]digest.BriefHead, error) {
	var hs []digest.BriefHead
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		hs, err = queryRows(ctx, tx, func(s scanner) (digest.BriefHead, error) {
			var h digest.BriefHead
			err := s.Scan(&h.ID, &h.Region, timeCol{&h.PublishedAt}, &h.Removed)
			return h, err
		}, `
			SELECT id, region, published_at, removed_at IS NOT NULL FROM briefs
			WHERE published_at > ? AND published_at <= ?`,
			boundTime(after), boundTime(upTo))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("brief heads published after %s up to %s: %w",
			after.UTC().Format(time.RFC3339), upTo.UTC().Format(time.RFC3339), err)
	}
	return hs, nil
}

// interner hands out one string per distinct text, so that texts read
// again and again (dates, statuses) are copied out of SQLite's buffer once.
type interner map[string]string

func (in interner) intern(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}
