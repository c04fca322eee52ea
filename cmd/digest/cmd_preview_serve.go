package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/preview"
)

// defaultPreviewAddr is where `digest preview --serve` listens when given
// no address: loopback, one port above `digest serve`'s default.
const defaultPreviewAddr = "127.0.0.1:8081"

// previewServeOptions are the flags of `digest preview --serve` beyond the
// address.
type previewServeOptions struct {
	// AllowRemote lets addr bind a non-loopback interface (a flag such as
	// --allow-remote). The page shows readers' addresses and has no login:
	// without this, a non-loopback address is a usage error, and the Host
	// check that stops DNS rebinding stays on.
	AllowRemote bool
	// BriefsDir, when set, is watched (with its subdirectories) along with
	// templates_dir: a change reloads open pages. Briefs reach previews
	// through the database, so this is the directory editors import from.
	BriefsDir string
	// Lint checks every preview; nil for none.
	Lint preview.Linter
	// onListen, when set, gets the bound address once the server accepts
	// connections (tests listen on port 0).
	onListen func(net.Addr)
}

// previewServe serves the editor preview page on addr (defaultPreviewAddr
// when empty) until ctx is done: pick a reader or a region mix and an
// instant, and see what a pass would send. It sends and records nothing.
// When templates_dir is configured, a change there parses the templates
// again (a template error is shown on the page, and the last good
// templates stay in use) and reloads open pages; so does a change under
// opts.BriefsDir.
func (a *app) previewServe(ctx context.Context, addr string, opts previewServeOptions) error {
	if addr == "" {
		addr = defaultPreviewAddr
	}
	if !preview.IsLoopbackAddr(addr) && !opts.AllowRemote {
		return usageError{fmt.Errorf("preview address %s is not a loopback address: the page shows readers' data and has no login; "+
			"use 127.0.0.1:PORT (and an SSH tunnel), or allow it explicitly", addr)}
	}
	cfg, logger, pl, err := a.openPipeline(ctx)
	if err != nil {
		return err
	}
	defer pl.Close()
	logger = logger.With("component", "preview")

	pv := &reloadingPreviewer{pass: pl.outbox}
	reload := func(context.Context) error {
		renderer, err := newRenderer(cfg)
		if err != nil {
			return err
		}
		lb, signer, err := newLinks(cfg)
		if err != nil {
			return err
		}
		pass, err := newOutbox(cfg, pl.db, renderer, lb, signer, pl.metrics, logger)
		if err != nil {
			return err
		}
		pv.set(pass)
		logger.Info("templates reloaded", "dir", cfg.TemplatesDir)
		return nil
	}
	if cfg.TemplatesDir == "" {
		reload = nil // the embedded templates cannot change
	}
	srv := preview.New(pv, pl.db, opts.Lint, preview.Options{
		Regions: cfg.Regions, SendTime: cfg.SendTime, AllowAnyHost: opts.AllowRemote,
	}, logger)

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watched, err := srv.Watch(watchCtx, reload, cfg.TemplatesDir, opts.BriefsDir)
	if err != nil {
		return err
	}
	defer func() { stopWatch(); <-watched }()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("preview listen %s: %w", addr, err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: /events is a stream that stays open while a
		// page is.
		IdleTimeout: 2 * time.Minute,
		// Shutdown does not wait for streams: end them with the server.
		BaseContext: func(net.Listener) context.Context { return watchCtx },
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- hs.Serve(ln) }()
	a.say("preview: http://%s/ (Ctrl-C stops)", ln.Addr())
	if opts.onListen != nil {
		opts.onListen(ln.Addr())
	}
	logger.Info("serving preview", "http", ln.Addr().String(), "templates_dir", cfg.TemplatesDir, "briefs_dir", opts.BriefsDir)

	var errs []error
	select {
	case <-ctx.Done():
	case err := <-httpErr:
		errs = append(errs, fmt.Errorf("preview http server: %w", err))
	}
	stopWatch() // ends the /events streams, so Shutdown need not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), httpShutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("preview http shutdown: %w", err))
	}
	return errors.Join(errs...)
}

// reloadingPreviewer previews through the pass of the templates parsed
// last: a reload swaps the pass while requests use the one they started
// with.
type reloadingPreviewer struct {
	mu   sync.RWMutex
	pass *delivery.Outbox
}

func (r *reloadingPreviewer) set(p *delivery.Outbox) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pass = p
}

// Preview implements preview.Previewer.
func (r *reloadingPreviewer) Preview(ctx context.Context, sub digest.Subscriber, at time.Time) (delivery.Preview, error) {
	r.mu.RLock()
	p := r.pass
	r.mu.RUnlock()
	return p.Preview(ctx, sub, at)
}
