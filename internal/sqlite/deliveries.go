package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-sqlite3"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
)

// DeliveryFilter narrows ListDeliveries. The zero value lists every delivery.
type DeliveryFilter struct {
	Status       digest.DeliveryStatus // only this status; "" for all
	Date         digest.Date           // only this digest date; "" for all
	SubscriberID int64                 // only this subscriber's; 0 for all
}

// PlanDeliveries stores new queued deliveries in one transaction, skipping
// any whose subscriber already has a delivery for that date (a pass that
// raced another, or a day already planned). It sets ID, CreatedAt and
// UpdatedAt of each one it created and leaves ID zero on the skipped ones.
// Every delivery is validated before anything is written: one that could
// not be stored faithfully fails the call, naming it, and nothing is
// stored. A pass calls it once per page of a few thousand readers, and the
// page's rows go in with one statement (see insertAll). All the work that
// needs no lock (checking, ordering, encoding the rows) is done before the
// write transaction begins.
func (db *DB) PlanDeliveries(ctx context.Context, ds []*digest.Delivery) (created int, err error) {
	var dates dateCheck
	for _, d := range ds {
		if d.Status == "" {
			d.Status = digest.DeliveryQueued
		}
		if err := validateDelivery(d, &dates, func() string {
			return fmt.Sprintf("delivery for subscriber %d on %s", d.SubscriberID, d.DigestDate)
		}); err != nil {
			return 0, err
		}
	}
	if len(ds) == 0 {
		return 0, nil
	}
	// Rows go in in claim order, (due_at, then reader), so that their ids
	// follow it: a pass claims and records neighbouring rows, and its
	// events' index entries are neighbours too. In the order of readers,
	// the deliveries claimed together sat on as many pages as there are
	// send times in a page of readers (a ledger commit wrote 19 WAL pages
	// instead of 11.5; see BenchmarkSettlePages).
	// A page naming a reader twice for a day stores the first it names:
	// the repeats are left out before the order changes (their ID stays 0).
	seen := make(map[readerDay]struct{}, len(ds))
	inOrder := make([]*digest.Delivery, 0, len(ds))
	for _, d := range ds {
		k := readerDay{d.SubscriberID, d.DigestDate}
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			inOrder = append(inOrder, d)
		}
	}
	if !slices.IsSortedFunc(inOrder, outbox.ClaimOrder) { // a pass hands its pages over in this order
		slices.SortStableFunc(inOrder, outbox.ClaimOrder)
	}
	// A text that a JSON string cannot carry faithfully (invalid UTF-8, a
	// control character) sends the page in row by row.
	rows, plain, err := encodeRows(inOrder)
	if err != nil {
		return 0, fmt.Errorf("plan deliveries: %w", err)
	}
	now := db.now()
	err = db.writePlan(ctx, func(tx *sql.Tx) error {
		w := newDeliveryWriter(tx, now)
		defer w.close()
		var err error
		if plain {
			created, err = w.insertAll(ctx, inOrder, rows)
		} else {
			created, err = w.insertEach(ctx, inOrder)
		}
		if err != nil {
			return err
		}
		return w.flush(ctx)
	})
	if err != nil {
		for _, d := range ds {
			d.ID = 0
		}
		return 0, fmt.Errorf("plan deliveries: %w", mapError(err))
	}
	return created, nil
}

// deliveryWriter inserts new deliveries with their brief ids in one
// transaction, each with its brief ids in its brief_ids column. A page of
// a pass goes in with one INSERT ... SELECT over a JSON array of the rows
// (insertAll): a statement per row cost more in binding its eleven
// arguments and crossing into SQLite than SQLite spent storing the row.
// The dates each brief was planned for are collected and written by flush
// in one statement.
//
// A delivery's creation is not written to delivery_events: its created_at
// says when it was planned, and DeliveryEvents shows it as the first
// event, which spares a second B-tree insert for every delivery planned.
type deliveryWriter struct {
	tx    *sql.Tx
	now   time.Time
	stamp string    // now, as stored
	row   *sql.Stmt // the one-row insert, prepared when first needed
	// dates are the brief_dates rows to write: by digest date, the briefs
	// planned into a digest of that date. A page holds two or three dates
	// and a hundred-odd briefs, but some fifteen brief ids per delivery.
	dates map[digest.Date]map[int64]struct{}
	last  *digest.Delivery // the last one inserted whose briefs went into dates
}

// newDeliveryWriter returns a writer for tx.
func newDeliveryWriter(tx *sql.Tx, now time.Time) *deliveryWriter {
	return &deliveryWriter{tx: tx, now: now, stamp: formatTime(now), dates: map[digest.Date]map[int64]struct{}{}}
}

func (w *deliveryWriter) close() {
	if w.row != nil {
		w.row.Close()
	}
}

// skipExisting is the conflict clause of the writer's inserts: a delivery
// for a subscriber and date that already has one is left out (its ID
// stays zero). Only that conflict is skipped: a Message-ID already in use,
// or any other constraint, is an error (INSERT OR IGNORE would have
// dropped the reader's digest without a word).
const skipExisting = ` ON CONFLICT (subscriber_id, digest_date) DO NOTHING`

// insert inserts d, which must be queued, with its brief ids, and sets its
// ID and times; the dates of its briefs wait for flush, which must run
// before the commit.
func (w *deliveryWriter) insert(ctx context.Context, d *digest.Delivery) (inserted bool, err error) {
	if w.row == nil {
		if w.row, err = w.tx.PrepareContext(ctx, `INSERT INTO deliveries (subscriber_id, digest_date, message_id, status, attempts, error,
				cutoff, due_at, created_at, updated_at, brief_ids)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`+skipExisting); err != nil {
			return false, fmt.Errorf("prepare delivery insert: %w", err)
		}
	}
	res, err := w.row.ExecContext(ctx,
		d.SubscriberID, string(d.DigestDate), d.MessageID, string(d.Status), d.Attempts, d.Error,
		formatTime(d.Cutoff), nullTime(d.DueAt), w.stamp, w.stamp, int64sJSON(d.BriefIDs))
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return false, err
	}
	w.inserted(d, id)
	return true, nil
}

// inserted records that d was stored with the given id.
func (w *deliveryWriter) inserted(d *digest.Delivery, id int64) {
	d.ID, d.CreatedAt, d.UpdatedAt = id, w.now, w.now
	// Deliveries in claim order come in runs with the same date and
	// briefs (readers of one zone, send time and regions): a run's
	// briefs are noted once.
	if w.last != nil && d.DigestDate == w.last.DigestDate && slices.Equal(d.BriefIDs, w.last.BriefIDs) {
		return
	}
	w.last = d
	briefs := w.dates[d.DigestDate]
	if briefs == nil {
		briefs = map[int64]struct{}{}
		w.dates[d.DigestDate] = briefs
	}
	for _, b := range d.BriefIDs {
		briefs[b] = struct{}{}
	}
}

// insertEach inserts ds one statement at a time, naming the delivery that
// fails.
func (w *deliveryWriter) insertEach(ctx context.Context, ds []*digest.Delivery) (created int, err error) {
	for _, d := range ds {
		ok, err := w.insert(ctx, d)
		if err != nil {
			return 0, fmt.Errorf("plan delivery for subscriber %d on %s: %w", d.SubscriberID, d.DigestDate, err)
		}
		if ok {
			created++
		}
	}
	return created, nil
}

// readerDay is a subscriber and a digest date: at most one delivery each.
type readerDay struct {
	sub  int64
	date digest.Date
}

// insertAll inserts ds, which must be queued and validated and name each
// subscriber and date once, with one statement, and sets the IDs and times
// of those it inserted. rows is ds as encodeRows encodes them. Each row is
// given its id: the ids after the table's largest, in the order of ds, so
// that a row's id is known without reading it back (a RETURNING clause
// would be scanned a row per delivery through database/sql, a visible
// share of storing a large plan). The write lock is held,
// so nobody else takes those ids. A row skipped because its reader
// already has a delivery that day leaves its id unused; only then are the
// stored ids read back, to tell which.
//
// When the statement breaks a constraint (a Message-ID in use, a
// subscriber that does not exist), SQLite undoes the statement alone, and
// the rows go in again one by one, so that the error names the delivery.
func (w *deliveryWriter) insertAll(ctx context.Context, ds []*digest.Delivery, rows string) (created int, err error) {
	var last int64
	if err := w.tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM deliveries`).Scan(&last); err != nil {
		return 0, fmt.Errorf("last delivery id: %w", err)
	}
	first := last + 1
	res, err := w.tx.ExecContext(ctx, `
		INSERT INTO deliveries (id, subscriber_id, digest_date, message_id, status, attempts, error,
			cutoff, due_at, created_at, updated_at, brief_ids)
		SELECT ?4 + r.key, r.value ->> 's', r.value ->> 'd', r.value ->> 'm', ?1, r.value ->> 'a', r.value ->> 'e',
			r.value ->> 'c', r.value ->> 'u', ?2, ?2, r.value ->> 'b'
		FROM jsonb_each(?3) r WHERE true`+skipExisting,
		string(digest.DeliveryQueued), w.stamp, rows, first)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if isConstraint(err) {
		return w.insertEach(ctx, ds)
	}
	if err != nil {
		return 0, err
	}
	if n < int64(len(ds)) {
		return w.readInserted(ctx, ds, first)
	}
	for i, d := range ds {
		w.inserted(d, first+int64(i))
	}
	return len(ds), nil
}

// readInserted sets the IDs and times of the deliveries of ds that
// insertAll stored, ds[i] with id first+i, when it skipped some.
func (w *deliveryWriter) readInserted(ctx context.Context, ds []*digest.Delivery, first int64) (created int, err error) {
	rows, err := w.tx.QueryContext(ctx, `SELECT id FROM deliveries WHERE id BETWEEN ? AND ? ORDER BY id`,
		first, first+int64(len(ds))-1)
	if err != nil {
		return 0, fmt.Errorf("read inserted deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, fmt.Errorf("read inserted deliveries: %w", err)
		}
		w.inserted(ds[id-first], id)
		created++
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read inserted deliveries: %w", err)
	}
	return created, nil
}

// plannedRow is one new delivery as insertAll reads it from its JSON
// parameter; a missing "u" is a delivery without a due time (NULL).
type plannedRow struct {
	Subscriber int64  `json:"s"`
	Date       string `json:"d"`
	MessageID  string `json:"m"`
	Attempts   int    `json:"a"`
	Error      string `json:"e"`
	Cutoff     string `json:"c"`
	DueAt      string `json:"u,omitempty"`
	BriefIDs   string `json:"b"` // the brief_ids column's text
}

// encodeRows returns ds as the JSON array insertAll reads, and false when a
// text field holds something a JSON string does not carry to SQLite
// unchanged (plainText).
func encodeRows(ds []*digest.Delivery) (string, bool, error) {
	size := 2
	for _, d := range ds {
		if !plainText(d.MessageID) || !plainText(d.Error) {
			return "", false, nil
		}
		// About the row's length, for ids of up to seven digits.
		size += 150 + len(d.MessageID) + len(d.Error) + 8*len(d.BriefIDs)
	}
	// A page's rows are large. They are encoded one at a
	// time into a builder, whose String does not copy: encoding the page
	// as one slice would have encoding/json build a second copy of it,
	// grown by doubling, for every page.
	var b strings.Builder
	b.Grow(size)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // Message-IDs are <...>: no need for \u003c
	// Readers of one zone and send time share their cut-off and due time,
	// and deliveries in claim order come in runs with the same briefs
	// (readers of one zone, send time and regions): each distinct instant
	// is formatted once, and each run's briefs encoded once.
	stamps := map[time.Time]string{}
	stamp := func(t time.Time) string {
		t = t.UTC()
		s, ok := stamps[t]
		if !ok {
			s = formatTime(t)
			stamps[t] = s
		}
		return s
	}
	var (
		last   []int64
		briefs string
		r      plannedRow // one for the page: Encode boxes a pointer, not a copy per row
	)
	b.WriteByte('[')
	for i, d := range ds {
		if i == 0 || !slices.Equal(d.BriefIDs, last) {
			last, briefs = d.BriefIDs, int64sJSON(d.BriefIDs)
		}
		r = plannedRow{Subscriber: d.SubscriberID, Date: string(d.DigestDate), MessageID: d.MessageID,
			Attempts: d.Attempts, Error: d.Error, Cutoff: stamp(d.Cutoff), BriefIDs: briefs}
		if !d.DueAt.IsZero() {
			r.DueAt = stamp(d.DueAt)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		if err := enc.Encode(&r); err != nil {
			return "", false, fmt.Errorf("encode delivery for subscriber %d on %s: %w", d.SubscriberID, d.DigestDate, err)
		}
	}
	b.WriteByte(']')
	return b.String(), true, nil
}

// isConstraint reports whether err is a constraint violation, after which
// SQLite has undone the failing statement and the transaction goes on.
func isConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

// plainText reports whether s is valid UTF-8 without control characters:
// text that a JSON string carries to SQLite unchanged.
func plainText(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// flush records the dates the inserted deliveries' briefs were planned
// for. A brief that does not exist fails it, naming the brief: no foreign
// key guards brief_ids, so this is where a plan naming a deleted brief is
// refused.
func (w *deliveryWriter) flush(ctx context.Context) error {
	type briefDate struct {
		Brief int64       `json:"b"`
		Date  digest.Date `json:"d"`
	}
	var (
		briefs []int64
		rows   []briefDate
	)
	for date, ids := range w.dates {
		for b := range ids {
			rows = append(rows, briefDate{b, date})
			briefs = append(briefs, b)
		}
	}
	clear(w.dates)
	w.last = nil
	if len(rows) == 0 {
		return nil
	}
	slices.Sort(briefs)
	if err := checkBriefsExist(ctx, w.tx, slices.Compact(briefs)); err != nil {
		return err
	}
	list, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("record brief dates: %w", err)
	}
	if _, err := w.tx.ExecContext(ctx, `
		INSERT INTO brief_dates (brief_id, digest_date)
		SELECT j.value ->> 'b', j.value ->> 'd' FROM json_each(?) j WHERE true
		ON CONFLICT DO NOTHING`, string(list)); err != nil {
		return fmt.Errorf("record brief dates: %w", err)
	}
	return nil
}

// validateDelivery refuses what the schema could not store faithfully,
// naming the record (built only then: a pass validates a million).
func validateDelivery(d *digest.Delivery, dates *dateCheck, record func() string) error {
	switch {
	case d.SubscriberID <= 0:
		return digest.Invalid(record(), "subscriber_id", "missing")
	case !dates.valid(d.DigestDate):
		return digest.Invalid(record(), "digest_date", "%q is not a date in YYYY-MM-DD form", d.DigestDate)
	case d.MessageID == "":
		return digest.Invalid(record(), "message_id", "missing")
	case d.Status != digest.DeliveryQueued:
		return digest.Invalid(record(), "status", "a new delivery is %s, not %q", digest.DeliveryQueued, d.Status)
	case d.Attempts < 0:
		return digest.Invalid(record(), "attempts", "negative")
	}
	if !d.DueAt.IsZero() {
		if err := checkTime(d.DueAt); err != nil {
			return digest.Invalid(record(), "due_at", "%v", err)
		}
	}
	return validatePlan(record, d.BriefIDs, d.Cutoff)
}

// validatePlan checks the briefs and cut-off of a delivery.
func validatePlan(record func() string, briefIDs []int64, cutoff time.Time) error {
	if cutoff.IsZero() {
		return digest.Invalid(record(), "cutoff", "missing")
	}
	if err := checkTime(cutoff); err != nil {
		return digest.Invalid(record(), "cutoff", "%v", err)
	}
	// A digest carries a few dozen briefs: comparing each with those
	// before it costs less than a map, which a longer list gets.
	var seen map[int64]bool
	if len(briefIDs) > 64 {
		seen = make(map[int64]bool, len(briefIDs))
	}
	for i, id := range briefIDs {
		if seen != nil && seen[id] || seen == nil && slices.Contains(briefIDs[:i], id) {
			return digest.Invalid(record(), "brief_ids", "brief %d listed twice", id)
		}
		if seen != nil {
			seen[id] = true
		}
	}
	return nil
}

// dateCheck is validDate remembering the last date it accepted: a page of
// a plan names two or three dates for thousands of deliveries, and each
// run of one date is parsed once instead of once per delivery.
type dateCheck struct{ last digest.Date }

func (c *dateCheck) valid(d digest.Date) bool {
	if d != "" && d == c.last {
		return true
	}
	if !validDate(d) {
		return false
	}
	c.last = d
	return true
}

func validDate(d digest.Date) bool {
	t, err := time.Parse(time.DateOnly, string(d))
	return err == nil && digest.DateOf(t) == d
}

// checkBriefsExist fails with digest.ErrNotFound, naming the first missing
// brief, so a bad plan is reported as such rather than as a foreign key
// violation.
func checkBriefsExist(ctx context.Context, tx *sql.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	var missing int64
	err := tx.QueryRowContext(ctx, `
		SELECT j.value FROM json_each(?) j
		WHERE NOT EXISTS (SELECT 1 FROM briefs b WHERE b.id = j.value)
		ORDER BY j.key LIMIT 1`, int64sJSON(ids)).Scan(&missing)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("check briefs: %w", err)
	}
	return fmt.Errorf("brief %d: %w", missing, digest.ErrNotFound)
}

// Delivery returns the delivery with the given id, or digest.ErrNotFound.
func (db *DB) Delivery(ctx context.Context, id int64) (digest.Delivery, error) {
	ds, err := db.queryDeliveries(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id)
	if err == nil && len(ds) == 0 {
		err = digest.ErrNotFound
	}
	if err != nil {
		return digest.Delivery{}, fmt.Errorf("delivery %d: %w", id, err)
	}
	return ds[0], nil
}

// ListDeliveries returns the deliveries that match f, ordered by id. A
// status that is not a delivery status is refused, naming the field.
func (db *DB) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]digest.Delivery, error) {
	q, args, err := listDeliveriesQuery(f)
	if err != nil {
		return nil, err
	}
	ds, err := db.queryDeliveries(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return ds, nil
}

// listDeliveriesQuery returns ListDeliveries' query for f, with its
// arguments. A status other than sent is read through its partial index,
// named: with ORDER BY id the planner would rather scan the whole table in
// id order than sort the few rows the index holds. A reader's deliveries
// are found by the (subscriber_id, digest_date) index instead, fewer
// still; sent ones, most of the table, by date or by a scan.
func listDeliveriesQuery(f DeliveryFilter) (string, []any, error) {
	from := "deliveries"
	var c conditions
	if f.Status != "" {
		cond, err := statusIs("deliveries filter", f.Status)
		if err != nil {
			return "", nil, err
		}
		c.add(cond)
		if idx := stateIndex(f.Status); idx != "" && f.SubscriberID == 0 {
			from += " INDEXED BY " + idx
		}
	}
	if f.Date != "" {
		c.add("digest_date = ?", string(f.Date))
	}
	if f.SubscriberID != 0 {
		c.add("subscriber_id = ?", f.SubscriberID)
	}
	return `SELECT ` + deliveryColumns + ` FROM ` + from + ` ` + c.where() + ` ORDER BY id`, c.args, nil
}

// deliveryColumns are the columns scanDelivery reads, brief_ids last.
const deliveryColumns = `id, subscriber_id, digest_date, message_id, status, attempts, error,
	cutoff, due_at, next_attempt_at, created_at, updated_at, sent_at, brief_ids`

// queryDeliveries runs a query selecting deliveryColumns in a read
// transaction.
func (db *DB) queryDeliveries(ctx context.Context, query string, args ...any) ([]digest.Delivery, error) {
	var ds []digest.Delivery
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		ds, err = queryRows(ctx, tx, scanDelivery, query, args...)
		return err
	})
	return ds, err
}

func scanDelivery(s scanner) (digest.Delivery, error) {
	var r deliveryRow
	if err := s.Scan(r.dest()...); err != nil {
		return digest.Delivery{}, fmt.Errorf("scan delivery: %w", err)
	}
	return r.delivery()
}

// deliveryRow receives the columns of deliveryColumns, so that a query can
// scan them beside other columns in one Scan (readClaims).
type deliveryRow struct {
	d                      digest.Delivery
	date, status, briefIDs string
}

// dest returns the scan destinations of deliveryColumns, in order.
func (r *deliveryRow) dest() []any {
	d := &r.d
	return []any{&d.ID, &d.SubscriberID, &r.date, &d.MessageID, &r.status, &d.Attempts, &d.Error,
		timeCol{&d.Cutoff}, timeCol{&d.DueAt}, timeCol{&d.NextAttemptAt}, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt}, timeCol{&d.SentAt},
		&r.briefIDs}
}

// delivery returns the delivery scanned.
func (r *deliveryRow) delivery() (digest.Delivery, error) {
	d := r.d
	d.DigestDate, d.Status = digest.Date(r.date), digest.DeliveryStatus(r.status)
	var err error
	if d.BriefIDs, err = parseIDList(r.briefIDs); err != nil {
		return digest.Delivery{}, fmt.Errorf("delivery %d: %w", d.ID, err)
	}
	return d, nil
}
