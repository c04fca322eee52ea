package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/schedule"
	"github.com/spf13/cobra"
)

// Grace periods for an orderly shutdown.
const (
	passShutdownGrace = 60 * time.Second
	httpShutdownGrace = 10 * time.Second
)

func (a *app) serveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: passes on the cron schedule, and the unsubscribe pages",
		Long: `Run the daemon. A pass runs at start-up and then on the configured cron
schedule (default every 5 minutes, in UTC); each pass sends the readers whose
local send time has come. The HTTP server answers one-click unsubscribes
(RFC 8058), the unsubscribe confirmation page, the preferences page, the
double opt-in confirmation page and /healthz. Before each pass, sign-ups
not confirmed within optin.expire_after become expired.

SIGINT or SIGTERM stops the scheduler, lets a running pass finish (up to a
minute), then closes the HTTP server and the database.`,
		Example: `  DIGEST_SECRET=... DIGEST_SMTP_PASSWORD=... digest serve --config digest.yaml`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serve(cmd.Context())
		},
	}
}

func (a *app) serve(ctx context.Context) error {
	cfg, logger, pl, err := a.openPipeline(ctx)
	if err != nil {
		return err
	}
	defer pl.Close()
	// One sender per database: wait for any other to finish, then hold the
	// lease for the life of the daemon.
	held, leaseCtx, err := holdSenderLease(ctx, pl.db, true, logger)
	if err != nil {
		return err
	}
	defer held.Release()
	sched, err := schedule.New(cfg.Schedule, func(ctx context.Context) error {
		now := time.Now()
		// Lapse unconfirmed sign-ups first; a failure here must not stop
		// the digests of everyone else.
		if err := expirePending(ctx, pl.db, cfg, now, logger); err != nil {
			logger.Error("expire pending subscribers failed", "err", err)
		}
		_, err := pl.outbox.Run(ctx, now, delivery.RunOptions{MaxItems: -1}) // nobody reads a daemon's items
		return err
	}, logger.With("component", "scheduler"))
	if err != nil {
		return fmt.Errorf("schedule: %w", err)
	}

	srv := &http.Server{
		Handler:           httpHandler(pages(cfg, pl.db, pl.signer, logger).Handler(), pl.metrics.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()

	sched.Start()
	go sched.Run() // catch up at start-up instead of waiting for the first tick
	logger.Info("serving", "http", ln.Addr().String(), "schedule", cfg.Schedule, "next_pass", sched.Next().Format(time.RFC3339), "database", cfg.Database)

	var errs []error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-httpErr:
		errs = append(errs, fmt.Errorf("http server: %w", err))
	case <-leaseCtx.Done():
		if ctx.Err() == nil {
			errs = append(errs, errors.New("lost the sender lease to another process"))
		}
	}

	// Reverse order of start: no new passes, let the running one finish,
	// then stop answering HTTP; the deferred closes release SMTP and SQLite.
	sctx, cancel := context.WithTimeout(context.Background(), passShutdownGrace)
	defer cancel()
	if err := sched.Stop(sctx); err != nil {
		errs = append(errs, err)
	}
	hctx, hcancel := context.WithTimeout(context.Background(), httpShutdownGrace)
	defer hcancel()
	if err := srv.Shutdown(hctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	logger.Info("stopped")
	return errors.Join(errs...)
}

// httpHandler serves the reader-facing pages and, at /metrics, the
// Prometheus metrics. A proxy in front should forward only the reader
// paths (/unsubscribe/, /preferences/, /confirm/).
func httpHandler(pages, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/", pages)
	return mux
}
