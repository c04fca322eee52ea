package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	digest "github.com/newsroom/digest"
)

// holdWriteLock takes SQLite's write lock on path from a connection of its
// own, as another process would, and returns the function that releases it.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	other, err := sql.Open("sqlite3", "file:"+escapePath(path)+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	return func() { _ = tx.Rollback() }
}

// A write waits for another process's transaction for longer than SQLite's
// busy_timeout (one second) and then succeeds, instead of failing with
// "database is locked" while the other side merely runs long.
func TestWriteWaitsOutAnotherWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digest.db")
	db := openAt(t, path)
	release := holdWriteLock(t, path)
	const held = 2500 * time.Millisecond
	go func() {
		time.Sleep(held)
		release()
	}()
	start := time.Now()
	s := digest.Subscriber{Email: "ada@example.com", Regions: []string{"lagos"}, TimeZone: "UTC", Status: digest.StatusActive}
	if err := db.CreateSubscriber(context.Background(), &s); err != nil {
		t.Fatalf("write beside a %v transaction: %v", held, err)
	}
	if waited := time.Since(start); waited < held {
		t.Errorf("the write finished after %v, while the other transaction held the lock for %v", waited, held)
	}
	if _, err := db.SubscriberByEmail(context.Background(), "ada@example.com"); err != nil {
		t.Errorf("the subscriber written after the wait: %v", err)
	}
}

// Past lockWait the write gives up with the driver's busy error, and writes
// nothing.
func TestWriteGivesUpAfterLockWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digest.db")
	db := openAt(t, path)
	db.lockWait = 300 * time.Millisecond
	release := holdWriteLock(t, path)
	defer release()
	s := digest.Subscriber{Email: "ada@example.com", Regions: []string{"lagos"}, TimeZone: "UTC", Status: digest.StatusActive}
	err := db.CreateSubscriber(context.Background(), &s)
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrBusy {
		t.Fatalf("write while another process holds the lock past lockWait: %v, want SQLITE_BUSY", err)
	}
	release()
	if _, err := db.SubscriberByEmail(context.Background(), "ada@example.com"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("after a failed write: %v, want the subscriber absent", err)
	}
}

// A context that ends stops the wait (within the driver's one-second busy
// poll) instead of waiting out lockWait.
func TestWriteWaitStopsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digest.db")
	db := openAt(t, path)
	release := holdWriteLock(t, path)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	s := digest.Subscriber{Email: "ada@example.com", Regions: []string{"lagos"}, TimeZone: "UTC", Status: digest.StatusActive}
	start := time.Now()
	if err := db.CreateSubscriber(ctx, &s); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write with a context that ends while waiting: %v, want its deadline", err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("the write waited %v after its context ended", waited)
	}
}
