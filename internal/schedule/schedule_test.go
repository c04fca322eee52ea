package schedule

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	from := time.Date(2026, 11, 26, 5, 2, 0, 0, time.UTC)
	tests := []struct {
		spec    string
		next    time.Time
		wantErr string
	}{
		{spec: "*/5 * * * *", next: time.Date(2026, 11, 26, 5, 5, 0, 0, time.UTC)},
		{spec: "@hourly", next: time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)},
		{spec: "@every 1m", next: time.Date(2026, 11, 26, 5, 3, 0, 0, time.UTC)},
		{spec: "* * *", wantErr: "invalid schedule"},
		{spec: "CRON_TZ=UTC", wantErr: "invalid schedule"}, // panics inside robfig/cron
		{spec: "TZ=", wantErr: "invalid schedule"},
		{spec: "61 * * * *", wantErr: "invalid schedule"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := Parse(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(from); !got.Equal(tt.next) {
				t.Errorf("next after %v = %v, want %v", from, got, tt.next)
			}
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRunRecoversFromPanic(t *testing.T) {
	var calls atomic.Int32
	s, err := New("@hourly", func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	s.Run() // must not panic
	s.Run()
	if got := calls.Load(); got != 2 {
		t.Fatalf("job ran %d times, want 2 (a panic must not stop later runs)", got)
	}
}

func TestRunSkipsWhileRunning(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	s, err := New("@hourly", func(ctx context.Context) error {
		calls.Add(1)
		close(started)
		<-release
		return nil
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Run(); close(done) }()
	<-started
	s.Run() // returns at once: the first run is still going
	close(release)
	<-done
	if got := calls.Load(); got != 1 {
		t.Fatalf("job ran %d times, want 1", got)
	}
}

func TestStopCancelsThenWaits(t *testing.T) {
	started := make(chan struct{})
	finish := make(chan struct{})
	var sawCancel atomic.Bool
	s, err := New("@hourly", func(ctx context.Context) error {
		close(started)
		<-ctx.Done() // told to stop taking work...
		sawCancel.Store(true)
		<-finish // ...and finishing what is in flight
		return ctx.Err()
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	done := make(chan struct{})
	go func() { s.Run(); close(done) }()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while the job was still finishing", err)
	case <-done:
		t.Fatal("job returned before being told")
	default:
	}
	close(finish)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if !sawCancel.Load() {
		t.Error("the job's context was not cancelled")
	}
	<-done

	// A job that never finishes: Stop gives up when its context ends.
	block := make(chan struct{})
	defer close(block)
	s2, _ := New("@hourly", func(ctx context.Context) error { <-block; return nil }, discard())
	go s2.Run()
	for !s2.busy() {
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s2.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop of a stuck job = %v, want context.Canceled", err)
	}
}

func TestNext(t *testing.T) {
	brussels, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(h, m int) time.Time { return time.Date(2026, 11, 26, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		spec  string
		after time.Time
		n     int
		want  []time.Time
	}{
		{"every five minutes", "*/5 * * * *", utc(5, 2), 3, []time.Time{utc(5, 5), utc(5, 10), utc(5, 15)}},
		{"on a tick is after it", "*/5 * * * *", utc(5, 5), 1, []time.Time{utc(5, 10)}},
		// The scheduler ticks in UTC, so an instant given in another zone
		// gives the same passes, in UTC.
		{"hour field read in UTC", "0 6 * * *", utc(5, 2).In(brussels), 2,
			[]time.Time{utc(6, 0), utc(6, 0).AddDate(0, 0, 1)}},
		{"never fires again", "0 0 30 2 *", utc(5, 2), 3, []time.Time{}},
		{"none asked", "@hourly", utc(5, 2), 0, []time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Next(tt.spec, tt.after, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Next = %v, want %v", got, tt.want)
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) || got[i].Location() != time.UTC {
					t.Errorf("pass %d = %v, want %v in UTC", i, got[i], tt.want[i])
				}
			}
		})
	}
	if _, err := Next("CRON_TZ=UTC", utc(5, 2), 3); err == nil || !strings.Contains(err.Error(), "invalid schedule") {
		t.Errorf("a malformed spec: %v", err)
	}
}
