package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	digest "github.com/newsroom/digest"
)

// SubscriberFilter narrows ListSubscribers. The zero value lists everyone.
type SubscriberFilter struct {
	Status        digest.SubscriberStatus // only this status; "" for all
	Region        string                  // only readers who chose this region; "" for all
	CreatedAfter  time.Time               // only readers who joined at or after this; zero for all
	CreatedBefore time.Time               // only readers who joined before this; zero for all
	// Search keeps readers whose email or name contains it, case-
	// insensitively (ASCII case folding, as SQLite's LIKE does).
	Search string
	Limit  int // at most this many; 0 for all
}

// CreateSubscriber stores a new subscriber and sets s.ID, s.CreatedAt and
// s.UpdatedAt. It fails with digest.ErrConflict when the address is taken,
// compared case-insensitively.
func (db *DB) CreateSubscriber(ctx context.Context, s *digest.Subscriber) error {
	if err := validateSubscriber(s); err != nil {
		return err
	}
	now := db.now()
	var id int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO subscribers (email, email_key, name, time_zone, send_time, status,
				watermark, consent_source, consent_at, consent_ip, consent_user_agent, consent_text_version,
				confirmed_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.Email, digest.EmailKey(s.Email), s.Name, s.TimeZone, s.SendTime.String(), string(s.Status),
			nullTime(s.Watermark), s.Consent.Source, nullTime(s.Consent.At), s.Consent.IP, s.Consent.UserAgent,
			s.Consent.TextVersion, nullTime(s.Consent.ConfirmedAt), formatTime(now), formatTime(now))
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		return insertRegions(ctx, tx, id, s.Regions)
	})
	if err != nil {
		return fmt.Errorf("create subscriber %s: %w", s.Email, mapError(err))
	}
	s.ID, s.CreatedAt, s.UpdatedAt = id, now, now
	return nil
}

// validateSubscriber refuses what the schema could not store faithfully,
// naming the address and the field.
func validateSubscriber(s *digest.Subscriber) error {
	switch {
	case s.Email == "":
		return digest.Invalid("subscriber", "email", "missing")
	case !utf8.ValidString(s.Email):
		return digest.Invalid(fmt.Sprintf("%q", s.Email), "email", "not valid UTF-8")
	case !s.Status.Valid():
		return digest.Invalid(s.Email, "status", "unknown status %q", s.Status)
	case s.SendTime.Hour < 0 || s.SendTime.Hour > 23 || s.SendTime.Minute < 0 || s.SendTime.Minute > 59:
		return digest.Invalid(s.Email, "send_time", "%02d:%02d is not between 00:00 and 23:59",
			s.SendTime.Hour, s.SendTime.Minute)
	}
	if !s.Watermark.IsZero() {
		if err := checkTime(s.Watermark); err != nil {
			return digest.Invalid(s.Email, "watermark", "%v", err)
		}
	}
	seen := make(map[string]bool, len(s.Regions))
	for _, r := range s.Regions {
		switch {
		case r == "":
			return digest.Invalid(s.Email, "regions", "empty region code")
		case seen[r]:
			return digest.Invalid(s.Email, "regions", "region %q listed twice", r)
		}
		seen[r] = true
	}
	return nil
}

func insertRegions(ctx context.Context, tx *sql.Tx, subscriberID int64, regions []string) error {
	if len(regions) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx,
		`INSERT INTO subscriber_regions (subscriber_id, position, region) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("insert regions: %w", err)
	}
	defer stmt.Close()
	for i, r := range regions {
		if _, err := stmt.ExecContext(ctx, subscriberID, i, r); err != nil {
			return fmt.Errorf("insert region %q: %w", r, err)
		}
	}
	return nil
}

// Subscriber returns the subscriber with the given id, or digest.ErrNotFound.
func (db *DB) Subscriber(ctx context.Context, id int64) (digest.Subscriber, error) {
	ss, err := db.querySubscribers(ctx, `SELECT `+subscriberColumns+` FROM subscribers s WHERE s.id = ?`, id)
	if err == nil && len(ss) == 0 {
		err = digest.ErrNotFound
	}
	if err != nil {
		return digest.Subscriber{}, fmt.Errorf("subscriber %d: %w", id, err)
	}
	return ss[0], nil
}

// SubscriberByEmail returns the subscriber with the given address, compared
// case-insensitively, or digest.ErrNotFound.
func (db *DB) SubscriberByEmail(ctx context.Context, email string) (digest.Subscriber, error) {
	ss, err := db.querySubscribers(ctx,
		`SELECT `+subscriberColumns+` FROM subscribers s WHERE s.email_key = ?`, digest.EmailKey(email))
	if err == nil && len(ss) == 0 {
		err = digest.ErrNotFound
	}
	if err != nil {
		return digest.Subscriber{}, fmt.Errorf("subscriber %s: %w", email, err)
	}
	return ss[0], nil
}

// ListSubscribers returns the subscribers that match f, ordered by id.
func (db *DB) ListSubscribers(ctx context.Context, f SubscriberFilter) ([]digest.Subscriber, error) {
	c := filterConditions(f)
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	ss, err := db.querySubscribers(ctx,
		`SELECT `+subscriberColumns+` FROM subscribers s `+c.where()+` ORDER BY s.id LIMIT ?`, append(c.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list subscribers: %w", err)
	}
	return ss, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Unsubscribe sets the subscriber's status to unsubscribed. It is idempotent:
// for a subscriber already unsubscribed it changes nothing and reports
// changed == false. It fails with digest.ErrNotFound when there is no such
// subscriber.
func (db *DB) Unsubscribe(ctx context.Context, id int64) (changed bool, err error) {
	err = db.write(ctx, func(tx *sql.Tx) error {
		status, err := subscriberStatus(ctx, tx, id)
		if err != nil || status == digest.StatusUnsubscribed {
			return err
		}
		changed = true
		return setStatus(ctx, tx, id, digest.StatusUnsubscribed, db.now())
	})
	if err != nil {
		return false, fmt.Errorf("unsubscribe subscriber %d: %w", id, err)
	}
	return changed, nil
}

const subscriberColumns = `s.id, s.email, s.name, s.time_zone, s.send_time, s.status, s.watermark,
	s.consent_source, s.consent_at, s.consent_ip, s.consent_user_agent, s.consent_text_version, s.confirmed_at,
	s.created_at, s.updated_at`

// querySubscribers runs a query selecting subscriberColumns from
// "subscribers s" and loads each subscriber's regions, in one read
// transaction.
func (db *DB) querySubscribers(ctx context.Context, query string, args ...any) ([]digest.Subscriber, error) {
	var ss []digest.Subscriber
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		if ss, err = queryRows(ctx, tx, scanSubscriber, query, args...); err != nil {
			return err
		}
		return loadRegions(ctx, tx, ss)
	})
	return ss, err
}

func scanSubscriber(sc scanner) (digest.Subscriber, error) {
	var r subscriberRow
	if err := sc.Scan(r.dest()...); err != nil {
		return digest.Subscriber{}, fmt.Errorf("scan subscriber: %w", err)
	}
	return r.subscriber()
}

// subscriberRow receives the columns of subscriberColumns, so that a query
// can scan them beside other columns in one Scan (readClaims).
type subscriberRow struct {
	s                digest.Subscriber
	sendTime, status string
}

// dest returns the scan destinations of subscriberColumns, in order.
func (r *subscriberRow) dest() []any {
	s := &r.s
	return []any{&s.ID, &s.Email, &s.Name, &s.TimeZone, &r.sendTime, &r.status, timeCol{&s.Watermark},
		&s.Consent.Source, timeCol{&s.Consent.At}, &s.Consent.IP, &s.Consent.UserAgent, &s.Consent.TextVersion,
		timeCol{&s.Consent.ConfirmedAt}, timeCol{&s.CreatedAt}, timeCol{&s.UpdatedAt}}
}

// subscriber returns the subscriber scanned, without regions.
func (r *subscriberRow) subscriber() (digest.Subscriber, error) {
	s := r.s
	s.Status = digest.SubscriberStatus(r.status)
	var err error
	if s.SendTime, err = digest.ParseTimeOfDay(r.sendTime); err != nil {
		return digest.Subscriber{}, fmt.Errorf("subscriber %d: send_time: %w", s.ID, err)
	}
	return s, nil
}

// loadRegions fills in the regions of ss, in each reader's order; a reader
// may appear more than once. It is on the send pass's hot path (claims),
// so the rows are joined from json_each and put in order in Go: IN over a
// subquery and ORDER BY would each cost SQLite a temporary table.
func loadRegions(ctx context.Context, tx *sql.Tx, ss []digest.Subscriber) error {
	if len(ss) == 0 {
		return nil
	}
	index := make(map[int64][]int, len(ss)) // reader id → its places in ss
	ids := make([]int64, 0, len(ss))
	for i, s := range ss {
		if _, seen := index[s.ID]; !seen {
			ids = append(ids, s.ID)
		}
		index[s.ID] = append(index[s.ID], i)
	}
	type row struct {
		id, pos int64
		region  string
	}
	rows, err := queryRows(ctx, tx, func(sc scanner) (row, error) {
		var r row
		return r, sc.Scan(&r.id, &r.pos, &r.region)
	}, `SELECT r.subscriber_id, r.position, r.region FROM json_each(?) j
		JOIN subscriber_regions r ON r.subscriber_id = j.value`, int64sJSON(ids))
	if err != nil {
		return fmt.Errorf("load regions: %w", err)
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.pos, b.pos)) })
	for _, r := range rows {
		for _, i := range index[r.id] {
			ss[i].Regions = append(ss[i].Regions, r.region)
		}
	}
	return nil
}
