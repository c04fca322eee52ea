package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The writer never checkpoints: a checkpointer copies the WAL into the
// database file on a connection of its own, while the writer goes on
// committing. With SQLite's automatic checkpoints, the commit that crossed
// the mark did the copy and its two fsyncs with the write lock held, so
// storing a plan waited on them and a send pass's ledger stalled every
// worker at each mark (BENCHMARKS.md has the measurement).
//
// A PASSIVE checkpoint runs beside the writer and the readers, but cannot
// restart the WAL: SQLite writes it from the beginning again only when a
// write transaction begins with every frame copied, which a writer that
// commits page after page rarely lets happen. So once the WAL holds
// walRestartPages, the checkpointer runs a RESTART checkpoint on the
// writer's connection, in its turn between two write transactions (on a
// connection of its own, SQLite's busy handler would poll for the write
// lock and lose it to a writer that begins again at once). It copies what
// the PASSIVE ones left, which is little, waits for the readers to leave
// the WAL (at most restartWait), and makes the next transaction start the
// WAL over;
// journal_size_limit then cuts the file back, so the WAL stays near
// walRestartPages pages however much is written.
const (
	// checkpointEvery is how long the checkpointer lets commits pile up
	// before it copies them. Each checkpoint that finds new frames syncs
	// the WAL and the database file, and copies each page once however
	// many commits rewrote it; commits younger than this are what a power
	// cut can undo (README, "Crashes"). A longer wait means fewer
	// checkpoints; this one is short enough that a power cut undoes little.
	checkpointEvery = 250 * time.Millisecond
	// walRestartPages is the size of the WAL (in 4 KiB pages: 64 MiB) at
	// which the checkpointer holds the writer back to restart it.
	walRestartPages = 16384
	// restartWait bounds how long a RESTART waits for readers to leave
	// the WAL, with the writer held back; restartPause is how long the
	// checkpointer leaves the writer alone after a RESTART that gave up
	// (a long read, an operator's report, is under way).
	restartWait  = 100 * time.Millisecond
	restartPause = time.Second
)

// checkpointer runs the checkpoints of one DB. Commits wake it; it
// stops when stop is called.
type checkpointer struct {
	conn   *sql.DB // one connection, used only here: PASSIVE checkpoints
	writer *sql.DB // the writer's pool: RESTART checkpoints
	wake   chan struct{}
	stop   context.CancelFunc
	done   chan struct{}

	err error // the first failure other than SQLITE_BUSY; read once done is closed
}

// startCheckpointer opens the checkpointer's connection to the database
// at dsn and starts it; writer is the pool of the database's writer.
func startCheckpointer(dsn string, writer *sql.DB) (*checkpointer, error) {
	conn, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxIdleTime(0)
	conn.SetConnMaxLifetime(0)
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{conn: conn, writer: writer, wake: make(chan struct{}, 1), stop: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

// committed tells the checkpointer that a write transaction committed.
// It never blocks.
func (c *checkpointer) committed() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	// restarted is the size of the WAL at the last RESTART that finished:
	// until a writer starts it over, the WAL still reports that size, and
	// restarting it again would only hold the writer back again.
	restarted := -1
	var pausedUntil time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		// Let the commits of the next moment join this checkpoint.
		select {
		case <-ctx.Done():
			return
		case <-time.After(checkpointEvery):
		}
		frames, _, err := checkpoint(ctx, c.conn, "PASSIVE")
		if err == nil && frames >= walRestartPages && frames != restarted && time.Now().After(pausedUntil) {
			var busy bool
			switch frames, busy, err = c.restart(ctx); {
			case err == nil && busy:
				pausedUntil = time.Now().Add(restartPause)
			case err == nil:
				restarted = frames
			}
		}
		if err != nil && ctx.Err() == nil && c.err == nil {
			c.err = err
		}
	}
}

// checkpoint runs one checkpoint of the given mode on conn and returns how many
// frames the WAL held, and whether it could not finish: another
// checkpoint was running, or a RESTART could not get the writer or the
// readers out of the way in time. That is not an error; a later commit
// brings another try.
func checkpoint(ctx context.Context, conn interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, mode string) (frames int, busy bool, err error) {
	var blocked, copied int
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&blocked, &frames, &copied)
	if isBusy(err) {
		return frames, true, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("%s checkpoint: %w", mode, err)
	}
	return frames, blocked != 0, nil
}

// restart runs a RESTART checkpoint on the writer's connection, waiting
// at most restartWait for readers (its busy_timeout, set back after).
func (c *checkpointer) restart(ctx context.Context) (frames int, busy bool, err error) {
	conn, err := c.writer.Conn(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("RESTART checkpoint: %w", err)
	}
	defer conn.Close()
	setWait := func(d time.Duration) error {
		_, err := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA busy_timeout = %d", d.Milliseconds()))
		return err
	}
	if err := setWait(restartWait); err != nil {
		return 0, false, fmt.Errorf("RESTART checkpoint: %w", err)
	}
	frames, busy, err = checkpoint(ctx, conn, "RESTART")
	if werr := setWait(writerBusyTimeout); werr != nil && err == nil {
		err = fmt.Errorf("RESTART checkpoint: %w", werr)
	}
	return frames, busy, err
}

// close stops the checkpointer and closes its connection, returning the
// first checkpoint that failed.
func (c *checkpointer) close() error {
	c.stop()
	<-c.done
	return errors.Join(c.err, c.conn.Close())
}
