// Package sqlite is digest's storage: the only package that holds SQL. It
// owns the database file, its schema (numbered migrations embedded from
// migrations/ and applied by Open), and the store methods for briefs,
// subscribers and deliveries. Each store method runs in one transaction;
// driver errors are mapped to digest.ErrNotFound and digest.ErrConflict.
//
// Writes go through a pool of exactly one connection, so writers in this
// process queue in Go instead of fighting over SQLite's lock; reads go through
// a separate pool of query-only connections that WAL lets run beside the
// writer; and a checkpointer copies the WAL into the database file on a
// connection of its own (checkpoint.go).
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	digest "github.com/newsroom/digest"
)

// defaultLockWait is how long a write waits for another process (an
// import, an operator's command) to release SQLite's write lock before it
// gives up with an error. It is long because giving up is costly: a sender
// that cannot record a message the SMTP server accepted sends it again
// after recovery.
const defaultLockWait = 2 * time.Minute

// writerBusyTimeout is the writer's busy_timeout: how long SQLite polls for
// a lock before a statement fails with SQLITE_BUSY (BEGIN is retried; see
// beginWrite).
const writerBusyTimeout = time.Second

// DB is an open digest database. It is safe for concurrent use.
type DB struct {
	// Now is the clock used for created_at and updated_at. Open sets it to
	// time.Now; tests replace it before using the DB (it must not be changed
	// while other goroutines use the DB).
	Now func() time.Time
	// HashKey keys the hash under which erased addresses stay suppressed
	// (derived from the config's secret). Without it, erasure is refused
	// and only plain suppressions are checked.
	HashKey []byte

	path     string
	lockWait time.Duration // defaultLockWait; tests shorten it
	rw       *sql.DB       // exactly one connection: every write transaction queues here
	ro       *sql.DB       // query-only connections for reads
	ckpt     *checkpointer
	// planning says the writer's page cache is planningCacheKiB (see
	// writePlan). Only a write transaction reads or sets it: the one
	// connection orders them.
	planning bool
}

// planningCacheKiB is the writer's page cache while it stores a plan, and
// defaultCacheKiB (SQLite's default) otherwise. A page of a pass's plan
// dirties more table and index pages than the default cache holds, which SQLite spills to
// the WAL before the commit when its cache is full, and the next page
// touches most of the same index pages again. The send pass gains nothing
// from the larger cache, so it is not kept for the whole pass, where it
// would only raise the peak memory (BENCHMARKS.md).
const (
	planningCacheKiB = 8192
	defaultCacheKiB  = 2000
)

// Open opens the database at path, creating the file if it is missing, and
// applies any pending migrations before returning. The directory must exist.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	// Every pragma lives in the DSN so every pooled connection gets it, not
	// only the first one. _txlock=immediate takes the write lock at BEGIN,
	// so a read-then-write transaction cannot fail halfway with "database is
	// locked". The write lock is waited for in write (see beginWrite), a
	// second at a time, so busy_timeout is short there. _stmt_cache_size
	// keeps the writer's last 64 statements prepared, keyed by their text:
	// the delivery ledger runs the same few statements for every message,
	// and compiling each one anew cost more than running it. (The driver's
	// cache needs no care from callers; a DB-level Prepare on rw would, as
	// it waits for the one connection that a transaction may hold.)
	// synchronous=NORMAL syncs the WAL only at checkpoints: a power cut
	// (not a process kill) can undo the commits since the last one, and
	// the digests they recorded as sent go again (README, "Crashes,
	// restarts and stopping").
	rw := sql.OpenDB(writerConnector{dsn: "file:" + escapePath(path) +
		"?_journal_mode=WAL&_busy_timeout=" + strconv.FormatInt(writerBusyTimeout.Milliseconds(), 10) +
		"&_txlock=immediate&_foreign_keys=on&_synchronous=NORMAL&_stmt_cache_size=64"})
	rw.SetMaxOpenConns(1)
	rw.SetMaxIdleConns(1)
	rw.SetConnMaxIdleTime(0)
	rw.SetConnMaxLifetime(0)

	db := &DB{Now: time.Now, lockWait: defaultLockWait, path: path, rw: rw}
	if err := db.migrate(ctx); err != nil {
		rw.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}

	// Readers: deferred BEGIN (an immediate one would take the write lock
	// even for a SELECT) and query_only, so a bug cannot write through the
	// read pool. WAL mode is a property of the file, already set above.
	ro, err := sql.Open("sqlite3", "file:"+escapePath(path)+
		"?_busy_timeout=5000&_txlock=deferred&_foreign_keys=on&_query_only=1&_synchronous=NORMAL")
	if err != nil {
		rw.Close()
		return nil, fmt.Errorf("open database %s for reading: %w", path, err)
	}
	ro.SetMaxOpenConns(max(4, runtime.NumCPU()))
	ro.SetMaxIdleConns(max(4, runtime.NumCPU()))
	if err := ro.PingContext(ctx); err != nil {
		ro.Close()
		rw.Close()
		return nil, fmt.Errorf("open database %s for reading: %w", path, err)
	}
	db.ro = ro
	// synchronous=NORMAL: a checkpoint syncs the WAL before it copies and
	// the database file after. A PASSIVE checkpoint never calls the busy
	// handler: one that finds another running (another process's) gives
	// up at once, and a later commit brings another try. The busy_timeout
	// covers the connection's own reads of the schema.
	db.ckpt, err = startCheckpointer("file:"+escapePath(path)+"?_busy_timeout=200&_synchronous=NORMAL", rw)
	if err != nil {
		ro.Close()
		rw.Close()
		return nil, fmt.Errorf("open database %s for checkpoints: %w", path, err)
	}
	return db, nil
}

// Close closes both connection pools.
func (db *DB) Close() error {
	var errs []error
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.close())
	}
	if db.ro != nil {
		errs = append(errs, db.ro.Close())
	}
	errs = append(errs, db.rw.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database %s: %w", db.path, err)
	}
	return nil
}

// writerConnector opens the writer's connection with the settings the DSN
// cannot carry: every new connection gets them, should database/sql ever
// replace the one it holds.
type writerConnector struct{ dsn string }

func (c writerConnector) Connect(context.Context) (driver.Conn, error) { return c.Driver().Open(c.dsn) }

func (c writerConnector) Driver() driver.Driver {
	return &sqlite3.SQLiteDriver{ConnectHook: func(conn *sqlite3.SQLiteConn) error {
		// The checkpointer copies the WAL, never the writer's commits;
		// when it has made the writer start the WAL over, the file is
		// cut back to the size it is allowed (see checkpointer).
		if _, err := conn.Exec("PRAGMA wal_autocheckpoint = 0", nil); err != nil {
			return fmt.Errorf("set wal_autocheckpoint: %w", err)
		}
		if _, err := conn.Exec(fmt.Sprintf("PRAGMA journal_size_limit = %d", walRestartPages*4096), nil); err != nil {
			return fmt.Errorf("set journal_size_limit: %w", err)
		}
		return nil
	}}
}

// escapePath makes path safe inside a "file:" URI: SQLite percent-decodes the
// path, and '?' and '#' would end it.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// now returns the store's clock in UTC, without a monotonic reading, so that
// what a method sets on its argument equals what a later read returns.
func (db *DB) now() time.Time { return db.Now().UTC() }

// write runs fn in a write transaction, committing when fn returns nil.
func (db *DB) write(ctx context.Context, fn func(*sql.Tx) error) error {
	return db.writeWithCache(ctx, false, fn)
}

// writePlan is write for storing a page of a plan: the writer's page cache
// is planningCacheKiB until a write of any other kind.
func (db *DB) writePlan(ctx context.Context, fn func(*sql.Tx) error) error {
	return db.writeWithCache(ctx, true, fn)
}

func (db *DB) writeWithCache(ctx context.Context, planning bool, fn func(*sql.Tx) error) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	if planning != db.planning {
		size := defaultCacheKiB
		if planning {
			size = planningCacheKiB
		}
		// The cache size belongs to the connection, not the transaction:
		// it holds even if fn rolls back.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", size)); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("set the page cache to %d KiB: %w", size, err)
		}
		db.planning = planning
	}
	if err := finishTx(tx, fn); err != nil {
		return err
	}
	if db.ckpt != nil { // nil while Open migrates
		db.ckpt.committed()
	}
	return nil
}

// read runs fn in a read transaction, so that the several queries that load
// one record (a brief and its signals) see one snapshot.
func (db *DB) read(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.ro.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return finishTx(tx, fn)
}

// beginWrite takes SQLite's write lock (BEGIN IMMEDIATE), waiting up to
// lockWait while another process holds it. SQLite's own busy handler polls
// for the lock, and a writer that commits and begins again at once (a long
// import) can win it over and over: busy_timeout alone would then fail a
// write that only had to wait its turn. With an immediate BEGIN the lock
// is only ever waited for here, before fn runs, so retrying is safe.
func (db *DB) beginWrite(ctx context.Context) (*sql.Tx, error) {
	deadline := time.Now().Add(db.lockWait)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		tx, err := db.rw.BeginTx(ctx, nil)
		if err == nil {
			return tx, nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("begin transaction: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("begin transaction: %w (%w)", err, ctx.Err())
		case <-time.After(pause):
		}
	}
}

// isBusy reports whether err says another connection holds a lock.
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// finishTx runs fn in tx and commits, or rolls back when fn fails.
func finishTx(tx *sql.Tx, fn func(*sql.Tx) error) error {
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error from fn is the one worth reporting
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// mapError turns constraint violations that callers can act on into domain
// errors, by error code rather than message text. Other errors pass through.
func mapError(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.ExtendedCode {
		case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
			return fmt.Errorf("%w (%w)", digest.ErrConflict, err)
		}
	}
	return err
}

// notFound maps sql.ErrNoRows to digest.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return digest.ErrNotFound
	}
	return err
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// queryRows runs query in tx and scans every row with scan.
func queryRows[T any](ctx context.Context, tx *sql.Tx, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
