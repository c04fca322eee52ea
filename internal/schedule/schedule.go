// Package schedule runs the digest pass on a cron schedule. It is a thin
// wrapper over robfig/cron/v3, which is unmaintained and has sharp edges
// (panics on malformed CRON_TZ prefixes, no panic recovery by default, DST
// skips and doubles in local zones), so the rest of the project never sees it.
//
// The scheduler only decides when to look; who is due is decided from the
// database with DST-correct arithmetic in each reader's zone. Ticks run in
// UTC for that reason.
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Parse validates a standard 5-field cron spec or descriptor (@every 5m,
// @hourly) and returns it as a cron.Schedule. It never panics: robfig/cron
// panics on some malformed CRON_TZ= prefixes.
func Parse(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("invalid schedule %q: %v", spec, r)
		}
	}()
	s, err = cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("invalid schedule %q: %w", spec, err)
	}
	return s, nil
}

// Next returns the next n instants after `after` at which a Scheduler on
// spec would start a pass, in UTC as the scheduler ticks; fewer when the
// schedule stops firing (a date that never comes again).
func Next(spec string, after time.Time, n int) ([]time.Time, error) {
	sched, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	out := make([]time.Time, 0, n)
	for t := after.UTC(); len(out) < n; {
		if t = sched.Next(t); t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out, nil
}

// Job is one run of the scheduled work; ctx is cancelled when the scheduler
// stops and the job should wind down.
type Job func(ctx context.Context) error

// Scheduler runs a Job on a cron schedule: never two runs at once (a tick
// that finds the previous run still going is skipped and logged), and a
// panicking run is logged instead of killing the daemon.
type Scheduler struct {
	cron   *cron.Cron
	job    Job
	logger *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	running bool
	wg      sync.WaitGroup // runs in progress, whether started by a tick or by Run
}

// New returns a scheduler that runs job on spec (in UTC) once started.
func New(spec string, job Job, logger *slog.Logger) (*Scheduler, error) {
	sched, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	s := &Scheduler{job: job, logger: logger}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// Skip before Recover: the other order stops the job for good after one
	// panic (LIBRARY-NOTES). Our own skip/recover below are the ones that
	// log through slog; the cron chain is a second line of defence.
	cl := cronLogger{logger}
	s.cron = cron.New(
		cron.WithLocation(time.UTC),
		cron.WithChain(cron.SkipIfStillRunning(cl), cron.Recover(cl)),
	)
	s.cron.Schedule(sched, cron.FuncJob(s.Run))
	return s, nil
}

// Start starts ticking in the background.
func (s *Scheduler) Start() { s.cron.Start() }

// Run runs the job once now, unless a run is already in progress, and
// recovers from a panic in it. The cron ticks call it; so can callers who
// want a pass at start-up.
func (s *Scheduler) Run() {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		s.logger.Warn("previous pass still running; skipping this tick")
		return
	}
	s.running = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("pass panicked; the scheduler keeps running", "panic", fmt.Sprint(r))
		}
	}()
	if err := s.job(s.ctx); err != nil {
		s.logger.Error("pass failed", "err", err)
	}
}

// busy reports whether a run is in progress.
func (s *Scheduler) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// Next returns when the job runs next.
func (s *Scheduler) Next() time.Time {
	entries := s.cron.Entries()
	if len(entries) == 0 {
		return time.Time{}
	}
	return entries[0].Next
}

// Stop stops ticking and cancels the running job's context, so that it
// stops taking new work, then waits for it to return until ctx is done.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.cron.Stop()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop scheduler: running pass did not finish in time: %w", ctx.Err())
	}
}

// cronLogger adapts slog to cron.Logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
