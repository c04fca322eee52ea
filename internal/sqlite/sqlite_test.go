package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	digest "github.com/newsroom/digest"
)

func TestOpenAppliesMigrationsOnceAndReopens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "digest.db")
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open fresh file: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
	if v := schemaVersionOf(t, db); v != len(ms) {
		t.Fatalf("schema version of a fresh file = %d, want %d", v, len(ms))
	}
	s := mustCreateSubscriber(t, db, sampleSubscriber("kept@example.com", "lagos"))
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for i := range 2 {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i+1, err)
		}
		if v := schemaVersionOf(t, db); v != len(ms) {
			t.Errorf("schema version after reopen %d = %d, want %d", i+1, v, len(ms))
		}
		var applied int
		if err := db.rw.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if applied != len(ms) {
			t.Errorf("schema_migrations has %d rows after reopen %d, want %d", applied, i+1, len(ms))
		}
		if _, err := db.Subscriber(ctx, s.ID); err != nil {
			t.Errorf("data lost after reopen %d: %v", i+1, err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "digest.db")
	db := openAt(t, path)
	if _, err := db.rw.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', '')`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a database from a newer binary: err = %v, want a 'newer' error", err)
	}
}

func TestOpenPathNeedingEscapes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd dir?x=1#frag%20")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "digest.db")
	openAt(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created at the literal path %q: %v", path, err)
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	_, err := Open(context.Background(), filepath.Join(t.TempDir(), "no", "such", "dir", "digest.db"))
	if err == nil {
		t.Fatal("Open in a missing directory succeeded")
	}
}

func TestConnectionsHavePragmas(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	for _, tc := range []struct {
		pool   string
		pragma string
		want   string
	}{
		{"rw", "journal_mode", "wal"},
		{"rw", "foreign_keys", "1"},
		{"rw", "busy_timeout", "1000"},
		{"rw", "synchronous", "1"}, // NORMAL
		{"ro", "journal_mode", "wal"},
		{"ro", "foreign_keys", "1"},
		{"ro", "busy_timeout", "5000"},
		{"ro", "query_only", "1"},
	} {
		pool := db.rw
		if tc.pool == "ro" {
			pool = db.ro
		}
		var got string
		if err := pool.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("%s PRAGMA %s: %v", tc.pool, tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("%s PRAGMA %s = %q, want %q", tc.pool, tc.pragma, got, tc.want)
		}
	}
	if _, err := db.ro.ExecContext(ctx, `DELETE FROM subscribers`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name     string
		fs       fstest.MapFS
		versions []int
		wantErr  string
	}{
		{"in order", fstest.MapFS{
			"migrations/0002_b.sql": file("B"),
			"migrations/0001_a.sql": file("A"),
		}, []int{1, 2}, ""},
		{"none", fstest.MapFS{}, nil, ""},
		{"gap", fstest.MapFS{
			"migrations/0001_a.sql": file("A"),
			"migrations/0003_c.sql": file("C"),
		}, nil, "0003_c.sql"},
		{"repeat", fstest.MapFS{
			"migrations/0001_a.sql": file("A"),
			"migrations/0001_b.sql": file("B"),
		}, nil, "expected version 0002"},
		{"no number", fstest.MapFS{"migrations/init.sql": file("A")}, nil, "init.sql"},
		{"short number", fstest.MapFS{"migrations/1_init.sql": file("A")}, nil, "1_init.sql"},
		{"zero", fstest.MapFS{"migrations/0000_init.sql": file("A")}, nil, "0000_init.sql"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := loadMigrations(tc.fs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if len(got) != len(tc.versions) {
				t.Fatalf("versions = %v, want %v", got, tc.versions)
			}
			for i := range got {
				if got[i] != tc.versions[i] {
					t.Fatalf("versions = %v, want %v", got, tc.versions)
				}
			}
		})
	}
}

func TestOpenNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("this is not a database, it is a shopping list\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a text file: err = %v, want an error naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "this is not a database") {
		t.Errorf("Open changed the file it refused: %q", b)
	}
}

// scratchDB is a database with a table of blobs, for tests that write a
// lot: write(n) commits n transactions of 1 MiB each, size the size of
// one of its files ("" for the database, "-wal" for the WAL).
type scratchDB struct {
	*DB
	write func(n int64)
	size  func(suffix string) int64
}

const mib = 1 << 20

func openScratch(t *testing.T) scratchDB {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "digest.db")
	db := openAt(t, path)
	if err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE scratch (b BLOB)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return scratchDB{
		DB: db,
		write: func(n int64) {
			for range n {
				if err := db.write(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO scratch VALUES (randomblob(?))`, mib)
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
		},
		size: func(suffix string) int64 {
			fi, err := os.Stat(path + suffix)
			if err != nil {
				t.Fatal(err)
			}
			return fi.Size()
		},
	}
}

// TestCheckpointer checks that the WAL is copied into the database file
// in the background, without a commit doing it, and that a writer that
// never pauses still sees the WAL start over and be cut back near its
// restart mark, where with no checkpoints at all it would hold everything.
// The writer keeps committing until it has written three marks' worth and
// seen the WAL file shrink: a machine fast enough to write everything
// before the checkpointer's first turn then simply writes on, instead of
// ending before any checkpoint ran.
func TestCheckpointer(t *testing.T) {
	db := openScratch(t)
	mark := int64(walRestartPages) * 4096
	var written, peak int64
	shrank := false
	for written < 3*mark || !shrank {
		if written >= 20*mark {
			t.Fatalf("the WAL never started over while %d bytes were committed without a pause (largest %d bytes)", written, peak)
		}
		db.write(1)
		written += mib
		wal := db.size("-wal")
		shrank = shrank || wal < peak
		peak = max(peak, wal)
	}
	// The checkpointer copies what the last commits wrote a moment later.
	deadline := time.Now().Add(10 * time.Second)
	for db.size("") < written && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := db.size(""); got < written {
		t.Errorf("database file holds %d bytes after %d were committed: the WAL was not copied into it", got, written)
	}
	if got, limit := db.size("-wal"), 2*mark; got > limit {
		t.Errorf("WAL after writing %d bytes = %d bytes, want at most %d", written, got, limit)
	}
	// A RESTART shortens the writer's busy_timeout while it runs; the
	// writer's own waits are as long as before after it.
	var ms int64
	if err := db.rw.QueryRow(`PRAGMA busy_timeout`).Scan(&ms); err != nil || ms != writerBusyTimeout.Milliseconds() {
		t.Errorf("writer's busy_timeout after the restarts = %d (%v), want %d", ms, err, writerBusyTimeout.Milliseconds())
	}
}

// TestCheckpointerWaitsOutALongRead: while a reader holds a snapshot in
// the WAL, the WAL cannot start over, and the writer goes on committing
// (a RESTART gives up after restartWait and leaves the writer alone for
// restartPause). Once the reader is gone, the WAL is brought back near
// its mark.
func TestCheckpointerWaitsOutALongRead(t *testing.T) {
	db := openScratch(t)
	mark := int64(walRestartPages) * 4096
	db.write(1) // the reader's snapshot is in the WAL
	tx, err := db.ro.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM scratch`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("reader sees %d rows (%v), want 1", n, err)
	}
	db.write(2 * mark / mib)
	if got := db.size("-wal"); got < 2*mark {
		t.Errorf("WAL = %d bytes with a reader holding its start, want it to have grown past %d", got, 2*mark)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// Without the reader, the next restart succeeds (after the pause a
	// refused one earns) and the WAL is cut back to its mark.
	deadline := time.Now().Add(20 * time.Second)
	for db.size("-wal") > mark && time.Now().Before(deadline) {
		db.write(4)
		time.Sleep(50 * time.Millisecond)
	}
	if got := db.size("-wal"); got > mark {
		t.Errorf("WAL = %d bytes after the reader left, want at most %d", got, mark)
	}
}

// TestPlanningCache checks that the writer's page cache is large while it
// stores a plan and back to SQLite's default after any other write, so a
// send pass does not carry planning's memory.
func TestPlanningCache(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	// cacheKiB reports the writer's cache inside a transaction of the
	// given kind.
	cacheKiB := func(write func(context.Context, func(*sql.Tx) error) error) int {
		var n int
		if err := write(ctx, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		return -n
	}
	if got := cacheKiB(db.write); got != defaultCacheKiB {
		t.Fatalf("cache before planning = %d KiB, want %d", got, defaultCacheKiB)
	}
	sub := mustCreateSubscriber(t, db, sampleSubscriber("cache@example.com", "lagos"))
	d := sampleDelivery(sub.ID, "2026-11-26", at(6, 0))
	if n, err := db.PlanDeliveries(ctx, []*digest.Delivery{&d}); err != nil || n != 1 {
		t.Fatalf("PlanDeliveries = %d, %v", n, err)
	}
	if got := cacheKiB(db.writePlan); got != planningCacheKiB {
		t.Fatalf("cache while planning = %d KiB, want %d", got, planningCacheKiB)
	}
	mustCreateSubscriber(t, db, sampleSubscriber("after@example.com", "lagos"))
	if got := cacheKiB(db.write); got != defaultCacheKiB {
		t.Fatalf("cache after another write = %d KiB, want %d", got, defaultCacheKiB)
	}
}
