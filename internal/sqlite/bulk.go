package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
)

// Bulk import and export of subscribers. An import of a million rows runs
// as many short transactions of ImportBatch rows each, so `digest serve`
// on the same database waits at most one batch (tens of milliseconds) for
// the write lock, never the whole import. An export pages through the
// table by id, so its memory does not grow with the list.

// ImportBatch is how many rows one import transaction writes.
const ImportBatch = 5000

// exportPage is how many subscribers one export read loads.
const exportPage = 1000

// ImportMode says what an import does with addresses the database already
// knows.
type ImportMode struct {
	// UpdateExisting updates the name, regions, time zone and send time
	// (and the status, when the row gives one) of subscribers who are
	// active or pending. Without it they are left alone.
	UpdateExisting bool
	// Resubscribe reactivates addresses that unsubscribed, bounced,
	// expired or are suppressed (the suppression is lifted), with the
	// row's values and a new consent record. An erased address is never
	// re-added by an import: it takes `subscribers unsuppress` first.
	Resubscribe bool
}

// ImportRow is one validated subscriber to import.
type ImportRow struct {
	// Subscriber is the reader as the file describes them, defaults
	// applied. Its Consent is recorded for a new subscriber and for a
	// resubscription.
	Subscriber digest.Subscriber
	// For an existing subscriber, which fields the row sets; the others
	// keep their current values. Regions are always set.
	SetName, SetTimeZone, SetSendTime, SetStatus bool
}

// ImportAction is what an import does, or would do, with one row.
type ImportAction int

// Import actions.
const (
	// ImportCreate adds a new subscriber.
	ImportCreate ImportAction = iota + 1
	// ImportUpdate changes an existing subscriber (UpdateExisting), or
	// reactivates one (Resubscribe).
	ImportUpdate
	// ImportUnchanged: the subscriber already has the row's values.
	ImportUnchanged
	// ImportSkipExisting: the address is subscribed (active or pending)
	// and UpdateExisting is off.
	ImportSkipExisting
	// ImportSkipInactive: the address unsubscribed, bounced, expired, is
	// suppressed or was erased, and Resubscribe is off (or it was erased).
	ImportSkipInactive
)

// ImportOutcome is what happened to one row, with what the database held
// before, so that a skipped row can be explained.
type ImportOutcome struct {
	Action ImportAction
	// Was is the subscriber's status before the import; "" for an
	// address the database did not have.
	Was digest.SubscriberStatus
	// Suppressed is the suppression reason of a suppressed address
	// ("erased" for an erased one); "" when it is not suppressed.
	Suppressed string
	// Erased reports that the address was erased (GDPR): only a keyed
	// hash of it remains, and an import never brings it back.
	Erased bool
}

// ImportResult sums up an import: one outcome per row, in row order.
type ImportResult struct {
	Outcomes []ImportOutcome
	// Counts by action.
	Created, Updated, Unchanged, Skipped int
}

// Add appends one row's outcome and counts it.
func (r *ImportResult) Add(o ImportOutcome) {
	r.Outcomes = append(r.Outcomes, o)
	switch o.Action {
	case ImportCreate:
		r.Created++
	case ImportUpdate:
		r.Updated++
	case ImportUnchanged:
		r.Unchanged++
	default:
		r.Skipped++
	}
}

// Existing is what the database holds about one address.
type Existing struct {
	// Subscriber is the stored subscriber, with regions; ID 0 when there
	// is none (a suppressed or erased address without a subscriber).
	Subscriber digest.Subscriber
	// Suppressed is the suppression reason, "" when not suppressed.
	Suppressed string
	// Erased: suppressed under the keyed hash of an erasure.
	Erased bool
}

// inactive reports whether the address gets no digests for a reason only
// the reader (or an explicit --resubscribe) may undo.
func (e *Existing) inactive() bool {
	if e.Suppressed != "" || e.Subscriber.ID == 0 {
		return true
	}
	switch e.Subscriber.Status {
	case digest.StatusUnsubscribed, digest.StatusBounced, digest.StatusExpired:
		return true
	}
	return false
}

// Plan decides what importing row does when the database holds e about
// its address (nil: nothing), and returns the subscriber as it would be
// stored. ImportSubscribers applies exactly this decision inside its
// transaction; a dry run calls it with what ExistingSubscribers found.
func (m ImportMode) Plan(row ImportRow, e *Existing) (ImportOutcome, digest.Subscriber) {
	if e == nil {
		return ImportOutcome{Action: ImportCreate}, row.Subscriber
	}
	out := ImportOutcome{Was: e.Subscriber.Status, Suppressed: e.Suppressed, Erased: e.Erased}
	cur := e.Subscriber
	if e.inactive() {
		if !m.Resubscribe || e.Erased {
			out.Action = ImportSkipInactive
			return out, cur
		}
		if cur.ID == 0 {
			out.Action = ImportCreate
			return out, row.Subscriber
		}
		// A resubscription is a new sign-up on the old record: every
		// field the row gives, a fresh consent, active unless the row
		// says otherwise.
		next := merge(cur, row)
		next.Status = digest.StatusActive
		if row.SetStatus {
			next.Status = row.Subscriber.Status
		}
		next.Consent = row.Subscriber.Consent
		out.Action = ImportUpdate
		return out, next
	}
	if !m.UpdateExisting {
		out.Action = ImportSkipExisting
		return out, cur
	}
	next := merge(cur, row)
	if row.SetStatus {
		next.Status = row.Subscriber.Status
	}
	out.Action = ImportUpdate
	if sameProfile(cur, next) {
		out.Action = ImportUnchanged
	}
	return out, next
}

// merge returns cur with the fields row sets.
func merge(cur digest.Subscriber, row ImportRow) digest.Subscriber {
	next := cur
	next.Regions = slices.Clone(row.Subscriber.Regions)
	if row.SetName {
		next.Name = row.Subscriber.Name
	}
	if row.SetTimeZone {
		next.TimeZone = row.Subscriber.TimeZone
	}
	if row.SetSendTime {
		next.SendTime = row.Subscriber.SendTime
	}
	return next
}

// sameProfile reports whether an update would change nothing an import
// sets.
func sameProfile(a, b digest.Subscriber) bool {
	return a.Name == b.Name && slices.Equal(a.Regions, b.Regions) && a.TimeZone == b.TimeZone &&
		a.SendTime == b.SendTime && a.Status == b.Status
}

// ExistingSubscribers returns what the database holds about each of the
// given addresses, keyed by the address as given; addresses it knows
// nothing about are absent. Addresses are compared case-insensitively, as
// everywhere. It reads in batches, each in its own read transaction.
func (db *DB) ExistingSubscribers(ctx context.Context, emails []string) (map[string]Existing, error) {
	found := make(map[string]Existing)
	for batch := range slices.Chunk(emails, ImportBatch) {
		err := db.read(ctx, func(tx *sql.Tx) error {
			known, err := db.loadExisting(ctx, tx, batch)
			if err != nil {
				return err
			}
			for _, e := range batch {
				if k, ok := known[emailKey(e)]; ok {
					found[e] = *k
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("look up %d addresses: %w", len(batch), err)
		}
	}
	return found, nil
}

// loadExisting returns what tx holds about emails, keyed by emailKey.
func (db *DB) loadExisting(ctx context.Context, tx *sql.Tx, emails []string) (map[string]*Existing, error) {
	keys := make([]string, len(emails))
	for i, e := range emails {
		keys[i] = emailKey(e)
	}
	subs, err := queryRows(ctx, tx, scanSubscriber, `SELECT `+subscriberColumns+` FROM subscribers s
		WHERE s.email_key IN (SELECT value FROM json_each(?))`, stringsJSON(keys))
	if err != nil {
		return nil, fmt.Errorf("load subscribers: %w", err)
	}
	if err := loadRegions(ctx, tx, subs); err != nil {
		return nil, err
	}
	known := make(map[string]*Existing, len(subs))
	for _, s := range subs {
		known[emailKey(s.Email)] = &Existing{Subscriber: s}
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
			e = &Existing{}
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

// ImportSubscribers imports rows in transactions of ImportBatch rows,
// deciding each row as ImportMode.Plan does against what the database
// holds at that moment. Rows must be valid (built by subscribers.New); two
// rows with one address are applied in turn. On an error the batches
// already committed stay imported and the result counts them; the error
// names the row's address.
func (db *DB) ImportSubscribers(ctx context.Context, rows []ImportRow, mode ImportMode) (ImportResult, error) {
	res := ImportResult{Outcomes: make([]ImportOutcome, 0, len(rows))}
	var took time.Duration // the last batch's write
	for batch := range slices.Chunk(rows, ImportBatch) {
		if took > 0 {
			if err := yieldLock(ctx, took); err != nil {
				return res, fmt.Errorf("import subscribers: %w", err)
			}
		}
		started := time.Now()
		var outcomes []ImportOutcome
		err := db.write(ctx, func(tx *sql.Tx) error {
			var err error
			outcomes, err = db.importBatch(ctx, tx, batch, mode)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("import subscribers: %w", err)
		}
		took = time.Since(started)
		for _, o := range outcomes {
			res.Add(o)
		}
	}
	return res, nil
}

// yieldLock pauses between two import batches for a tenth of the last
// one's write (5 to 25 ms), so that a writer in another process waiting
// for the lock (the sender recording a delivery) gets it. SQLite's busy
// handler polls, at most every 100 ms, and would rarely catch the lock
// free between two back-to-back transactions; the import is slowed by
// about a tenth.
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

// importStmts are the statements of one import batch, prepared once.
type importStmts struct {
	insert, update, clearRegions, insertRegion, unsuppress *sql.Stmt
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
		// One prepared row per region: measured faster than expanding
		// a JSON array with json_each (12 s against 18 s for a million
		// readers with two regions each).
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

// importBatch applies one batch inside tx.
func (db *DB) importBatch(ctx context.Context, tx *sql.Tx, rows []ImportRow, mode ImportMode) ([]ImportOutcome, error) {
	emails := make([]string, len(rows))
	for i, r := range rows {
		if err := validateSubscriber(&r.Subscriber); err != nil {
			return nil, err
		}
		if err := checkTime(r.Subscriber.Consent.At); err != nil {
			return nil, digest.Invalid(r.Subscriber.Email, "consent", "%v", err)
		}
		emails[i] = r.Subscriber.Email
	}
	known, err := db.loadExisting(ctx, tx, emails)
	if err != nil {
		return nil, err
	}
	st, err := prepareImport(ctx, tx)
	if err != nil {
		return nil, err
	}
	defer st.close()

	now := formatTime(db.now())
	outcomes := make([]ImportOutcome, len(rows))
	for i, row := range rows {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key := emailKey(row.Subscriber.Email)
		e := known[key]
		out, s := mode.Plan(row, e)
		outcomes[i] = out
		switch out.Action {
		case ImportCreate:
			if s.ID, err = st.create(ctx, s, now); err != nil {
				return nil, fmt.Errorf("subscriber %s: %w", s.Email, mapError(err))
			}
		case ImportUpdate:
			resubscribe := e.inactive()
			if err := st.change(ctx, s, resubscribe, now); err != nil {
				return nil, fmt.Errorf("subscriber %s: %w", s.Email, err)
			}
		default:
			continue
		}
		if e != nil && e.Suppressed != "" && !e.Erased {
			if _, err := st.unsuppress.ExecContext(ctx, key); err != nil {
				return nil, fmt.Errorf("unsuppress %s: %w", s.Email, err)
			}
		}
		// A later row with the same address sees this one.
		known[key] = &Existing{Subscriber: s}
	}
	return outcomes, nil
}

func (st *importStmts) create(ctx context.Context, s digest.Subscriber, now string) (int64, error) {
	res, err := st.insert.ExecContext(ctx, s.Email, emailKey(s.Email), s.Name, s.TimeZone, s.SendTime.String(),
		string(s.Status), s.Consent.Source, nullTime(s.Consent.At), s.Consent.IP, s.Consent.UserAgent,
		s.Consent.TextVersion, nullTime(s.Consent.ConfirmedAt), now, now)
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	return id, st.regions(ctx, id, s.Regions)
}

func (st *importStmts) change(ctx context.Context, s digest.Subscriber, resubscribe bool, now string) error {
	c := s.Consent
	_, err := st.update.ExecContext(ctx, s.Name, s.TimeZone, s.SendTime.String(), string(s.Status),
		c.Source, nullTime(c.At), c.IP, c.UserAgent, c.TextVersion, nullTime(c.ConfirmedAt), resubscribe, now, s.ID)
	if err != nil {
		return err
	}
	if _, err := st.clearRegions.ExecContext(ctx, s.ID); err != nil {
		return fmt.Errorf("clear regions: %w", err)
	}
	return st.regions(ctx, s.ID, s.Regions)
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

// EmailKey is the form in which the database compares addresses (Unicode
// lowercase). An import uses it to find duplicates within a file by the
// same rule the database applies.
func EmailKey(email string) string { return emailKey(email) }
