package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/subscribers"
)

// Bulk import and export of subscribers. An import runs as many short
// transactions, one per batch the caller gives (subscribers.Import), each
// deciding its rows against what it reads inside the transaction. An
// export pages through the table by id, so its memory does not grow with
// the list.

// exportPage is how many subscribers one export read loads.
const exportPage = 1000

// ExistingSubscribers returns what the database holds about each of the
// given addresses, keyed by digest.EmailKey; addresses it knows nothing
// about are absent. It reads in one read transaction.
func (db *DB) ExistingSubscribers(ctx context.Context, emails []string) (map[string]*subscribers.Existing, error) {
	var known map[string]*subscribers.Existing
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		known, err = db.loadExisting(ctx, tx, emails)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("look up %d addresses: %w", len(emails), err)
	}
	return known, nil
}

// loadExisting returns what tx holds about emails, keyed by digest.EmailKey.
func (db *DB) loadExisting(ctx context.Context, tx *sql.Tx, emails []string) (map[string]*subscribers.Existing, error) {
	keys := make([]string, len(emails))
	for i, e := range emails {
		keys[i] = digest.EmailKey(e)
	}
	subs, err := queryRows(ctx, tx, scanSubscriber, `SELECT `+subscriberColumns+` FROM subscribers s
		WHERE s.email_key IN (SELECT value FROM json_each(?))`, stringsJSON(keys))
	if err != nil {
		return nil, fmt.Errorf("load subscribers: %w", err)
	}
	if err := loadRegions(ctx, tx, subs); err != nil {
		return nil, err
	}
	known := make(map[string]*subscribers.Existing, len(subs))
	for _, s := range subs {
		known[digest.EmailKey(s.Email)] = &subscribers.Existing{Subscriber: s}
	}

	supp, err := db.loadSuppressions(ctx, tx, emails, keys)
	if err != nil {
		return nil, err
	}
	for i, k := range keys {
		reason, erased := "", false
		if r, ok := supp.lookup(k); ok {
			reason = r
		} else if supp.erased && len(db.HashKey) > 0 {
			reason, erased = supp.lookup(erasedKey(db.HashKey, emails[i]))
		}
		if reason == "" {
			continue
		}
		e := known[k]
		if e == nil {
			e = &subscribers.Existing{}
			known[k] = e
		}
		e.Suppressed, e.Erased = reason, erased
	}
	return known, nil
}

// suppressionSet maps suppression keys to reasons.
type suppressionSet struct {
	reasons map[string]string
	erased  bool // holds erased (hashed) keys, so hashing an address may find it
}

func (s suppressionSet) lookup(key string) (string, bool) {
	r, ok := s.reasons[key]
	return r, ok
}

// loadSuppressions returns the suppressions that may concern emails
// (whose keys are keys). Suppression lists are short next to an import:
// when the table has no more rows than the batch, it is read whole, and
// an erased address is hashed only if the table holds any. Otherwise the
// batch's keys, plain and hashed, are looked up.
func (db *DB) loadSuppressions(ctx context.Context, tx *sql.Tx, emails, keys []string) (suppressionSet, error) {
	set := suppressionSet{reasons: map[string]string{}}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM suppressions`).Scan(&n); err != nil {
		return set, fmt.Errorf("count suppressions: %w", err)
	}
	if n == 0 {
		return set, nil
	}
	query, args := `SELECT email_key, reason FROM suppressions`, []any(nil)
	if n > len(keys) {
		lookFor := slices.Clone(keys)
		if len(db.HashKey) > 0 {
			for _, e := range emails {
				lookFor = append(lookFor, erasedKey(db.HashKey, e))
			}
		}
		query += ` WHERE email_key IN (SELECT value FROM json_each(?))`
		args = append(args, stringsJSON(lookFor))
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return set, fmt.Errorf("load suppressions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, reason string
		if err := rows.Scan(&k, &reason); err != nil {
			return set, fmt.Errorf("scan suppression: %w", err)
		}
		set.reasons[k] = reason
		set.erased = set.erased || strings.HasPrefix(k, erasedPrefix)
	}
	if err := rows.Err(); err != nil {
		return set, fmt.Errorf("load suppressions: %w", err)
	}
	return set, nil
}

// ImportBatch runs apply in one write transaction with what the database
// holds about emails when it begins (keyed by digest.EmailKey); apply
// decides and stores through w. It implements subscribers.ImportStore: the
// rule of what an import does lives there, and this stores it. After the
// commit it pauses briefly (yieldLock), so a writer in another process
// gets the lock between two batches.
func (db *DB) ImportBatch(ctx context.Context, emails []string, apply func(known map[string]*subscribers.Existing, w subscribers.ImportWriter) error) error {
	started := time.Now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		known, err := db.loadExisting(ctx, tx, emails)
		if err != nil {
			return err
		}
		st, err := prepareImport(ctx, tx)
		if err != nil {
			return err
		}
		defer st.close()
		st.now = formatTime(db.now())
		return apply(known, st)
	})
	if err != nil {
		return fmt.Errorf("import subscribers: %w", err)
	}
	if err := yieldLock(ctx, time.Since(started)); err != nil {
		return fmt.Errorf("import subscribers: %w", err)
	}
	return nil
}

// yieldLock pauses after an import batch for a tenth of its write (5 to
// 25 ms), so that a writer in another process waiting for the lock (the
// sender recording a delivery) gets it. SQLite's busy handler polls, at
// most every 100 ms, and would rarely catch the lock free between two
// back-to-back transactions; the import is slowed by about a tenth.
func yieldLock(ctx context.Context, last time.Duration) error {
	t := time.NewTimer(min(max(last/10, 5*time.Millisecond), 25*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// importStmts are the statements of one import batch, prepared once; they
// are the batch's subscribers.ImportWriter.
type importStmts struct {
	insert, update, clearRegions, insertRegion, unsuppress *sql.Stmt
	now                                                    string // the batch's updated_at
}

func prepareImport(ctx context.Context, tx *sql.Tx) (*importStmts, error) {
	var st importStmts
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&st.insert, `INSERT INTO subscribers (email, email_key, name, time_zone, send_time, status,
			consent_source, consent_at, consent_ip, consent_user_agent, consent_text_version, confirmed_at,
			created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.update, `UPDATE subscribers SET name = ?, time_zone = ?, send_time = ?, status = ?,
			consent_source = ?, consent_at = ?, consent_ip = ?, consent_user_agent = ?, consent_text_version = ?,
			confirmed_at = ?, soft_bounces = CASE WHEN ? THEN 0 ELSE soft_bounces END, updated_at = ?
			WHERE id = ?`},
		{&st.clearRegions, `DELETE FROM subscriber_regions WHERE subscriber_id = ?`},
		// One prepared row per region: measured faster than expanding a
		// JSON array with json_each.
		{&st.insertRegion, `INSERT INTO subscriber_regions (subscriber_id, position, region) VALUES (?, ?, ?)`},
		{&st.unsuppress, `DELETE FROM suppressions WHERE email_key = ?`},
	} {
		s, err := tx.PrepareContext(ctx, p.query)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("prepare import: %w", err)
		}
		*p.dst = s
	}
	return &st, nil
}

func (st *importStmts) close() {
	for _, s := range []*sql.Stmt{st.insert, st.update, st.clearRegions, st.insertRegion, st.unsuppress} {
		if s != nil {
			s.Close()
		}
	}
}

// storable refuses a subscriber the database cannot store as given.
func storable(s *digest.Subscriber) error {
	if err := validateSubscriber(s); err != nil {
		return err
	}
	if err := checkTime(s.Consent.At); err != nil {
		return digest.Invalid(s.Email, "consent", "%v", err)
	}
	return nil
}

// Create implements subscribers.ImportWriter.
func (st *importStmts) Create(ctx context.Context, s *digest.Subscriber) error {
	if err := storable(s); err != nil {
		return err
	}
	res, err := st.insert.ExecContext(ctx, s.Email, digest.EmailKey(s.Email), s.Name, s.TimeZone, s.SendTime.String(),
		string(s.Status), s.Consent.Source, nullTime(s.Consent.At), s.Consent.IP, s.Consent.UserAgent,
		s.Consent.TextVersion, nullTime(s.Consent.ConfirmedAt), st.now, st.now)
	if err != nil {
		return fmt.Errorf("subscriber %s: %w", s.Email, mapError(err))
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("subscriber %s: %w", s.Email, err)
	}
	s.ID = id
	if err := st.regions(ctx, id, s.Regions); err != nil {
		return fmt.Errorf("subscriber %s: %w", s.Email, err)
	}
	return nil
}

// Update implements subscribers.ImportWriter.
func (st *importStmts) Update(ctx context.Context, s digest.Subscriber, resetBounces bool) error {
	if err := storable(&s); err != nil {
		return err
	}
	c := s.Consent
	_, err := st.update.ExecContext(ctx, s.Name, s.TimeZone, s.SendTime.String(), string(s.Status),
		c.Source, nullTime(c.At), c.IP, c.UserAgent, c.TextVersion, nullTime(c.ConfirmedAt), resetBounces, st.now, s.ID)
	if err != nil {
		return fmt.Errorf("subscriber %s: %w", s.Email, err)
	}
	if _, err := st.clearRegions.ExecContext(ctx, s.ID); err != nil {
		return fmt.Errorf("subscriber %s: clear regions: %w", s.Email, err)
	}
	if err := st.regions(ctx, s.ID, s.Regions); err != nil {
		return fmt.Errorf("subscriber %s: %w", s.Email, err)
	}
	return nil
}

// Unsuppress implements subscribers.ImportWriter.
func (st *importStmts) Unsuppress(ctx context.Context, email string) error {
	if _, err := st.unsuppress.ExecContext(ctx, digest.EmailKey(email)); err != nil {
		return fmt.Errorf("unsuppress %s: %w", email, err)
	}
	return nil
}

func (st *importStmts) regions(ctx context.Context, id int64, regions []string) error {
	for i, r := range regions {
		if _, err := st.insertRegion.ExecContext(ctx, id, i, r); err != nil {
			return fmt.Errorf("insert region %q: %w", r, err)
		}
	}
	return nil
}

// StreamSubscribers calls fn with every subscriber that matches f (every
// field of it, Limit included), in id order, with their regions. It reads
// a page at a time, each page in its own short read transaction, so
// memory stays constant however long the list and a slow fn (a pipe to a
// slow reader) holds no transaction open. The stream is not one snapshot:
// a subscriber added during it with a higher id is included, and one
// changed during it is seen as it was when its page was read. An error
// from fn stops the stream and is returned.
func (db *DB) StreamSubscribers(ctx context.Context, f SubscriberFilter, fn func(digest.Subscriber) error) error {
	c := filterConditions(f)
	c.add("s.id > ?", nil) // the keyset cursor, set per page
	cursor := len(c.args) - 1
	query := `SELECT ` + subscriberColumns + ` FROM subscribers s ` + c.where() + ` ORDER BY s.id LIMIT ?`
	var after int64
	left := f.Limit
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page := exportPage
		if f.Limit > 0 {
			page = min(page, left)
		}
		if page == 0 {
			return nil
		}
		args := slices.Clone(c.args)
		args[cursor] = after
		subs, err := db.querySubscribers(ctx, query, append(args, page)...)
		if err != nil {
			return fmt.Errorf("stream subscribers after id %d: %w", after, err)
		}
		for _, s := range subs {
			if err := fn(s); err != nil {
				return err
			}
		}
		if len(subs) < page {
			return nil
		}
		after, left = subs[len(subs)-1].ID, left-len(subs)
	}
}

// filterConditions is the WHERE clause of f, on "subscribers s", shared by
// ListSubscribers and StreamSubscribers so the two cannot drift apart.
func filterConditions(f SubscriberFilter) conditions {
	var c conditions
	if f.Status != "" {
		c.add("s.status = ?", string(f.Status))
	}
	if f.Region != "" {
		c.add("EXISTS (SELECT 1 FROM subscriber_regions r WHERE r.subscriber_id = s.id AND r.region = ?)", f.Region)
	}
	if !f.CreatedAfter.IsZero() {
		c.add("s.created_at >= ?", boundTime(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		c.add("s.created_at < ?", boundTime(f.CreatedBefore))
	}
	if f.Search != "" {
		// The pattern is a bound value with LIKE's wildcards escaped: what
		// an operator types is matched literally.
		like := "%" + likeEscaper.Replace(f.Search) + "%"
		c.add(`(s.email LIKE ? ESCAPE '\' OR s.name LIKE ? ESCAPE '\')`, like, like)
	}
	return c
}
