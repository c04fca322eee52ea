package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/mail"
	"os"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/dkim"
	"github.com/newsroom/digest/internal/links"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/metrics"
	"github.com/newsroom/digest/internal/render"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/token"
	"github.com/newsroom/digest/internal/verp"
	"github.com/newsroom/digest/templates"
)

// templatesFS is the embedded templates, or templates_dir when configured.
func templatesFS(cfg *config.Config) fs.FS {
	if cfg.TemplatesDir != "" {
		return os.DirFS(cfg.TemplatesDir)
	}
	return templates.FS
}

// newRenderer parses the templates once; a template error stops start-up.
func newRenderer(cfg *config.Config) (*render.Renderer, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	r, err := render.New(templatesFS(cfg), render.Options{
		Regions:       cfg.Regions,
		PublisherName: from.Name,
		PostalAddress: cfg.PostalAddress,
	})
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return r, nil
}

// newDKIM loads the DKIM key once, at start-up; nil when signing is off.
func newDKIM(cfg *config.Config) (*dkim.Signer, error) {
	if !cfg.DKIM.Enabled() {
		return nil, nil
	}
	key, err := dkim.LoadKey(cfg.DKIM.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("dkim.private_key_file: %w", err)
	}
	signer, err := dkim.NewSigner(cfg.DKIM.Domain, cfg.DKIM.Selector, key)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return signer, nil
}

func newSender(cfg *config.Config, signer *dkim.Signer, logger *slog.Logger) (*mailer.Sender, error) {
	return mailer.NewSender(mailer.Config{
		Host:     cfg.SMTP.Host,
		Port:     cfg.SMTP.Port,
		TLS:      cfg.SMTP.TLS,
		Username: cfg.SMTP.Username,
		Password: cfg.SMTP.Password,
		Timeout:  cfg.SMTP.Timeout,
		HELO:     cfg.SMTP.HELO,
		DKIM:     signer,
	}, logger.With("component", "smtp"))
}

func newLinks(cfg *config.Config) (*links.Builder, *token.Signer, error) {
	signer, err := token.NewSigner([]byte(cfg.Secret))
	if err != nil {
		return nil, nil, fmt.Errorf("secret: %w", err)
	}
	return links.New(cfg.BaseURL, signer), signer, nil
}

// newOutbox wires the delivery outbox from its parts. Each worker of a pass opens
// its own SMTP sender.
func newOutbox(cfg *config.Config, db *sqlite.DB, r delivery.Renderer, l delivery.Links, tokens *token.Signer,
	obs delivery.Observer, logger *slog.Logger) (*delivery.Outbox, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	signer, err := newDKIM(cfg)
	if err != nil {
		return nil, err
	}
	opts := delivery.Options{
		Regions:             cfg.Regions,
		From:                cfg.From,
		ListID:              cfg.ListID,
		MessageIDDomain:     domain,
		FirstDigestLookback: cfg.FirstDigestLookback,
		LateBriefGrace:      cfg.LateBriefGrace,
		Concurrency:         cfg.Delivery.Concurrency,
		Rate:                cfg.Delivery.Rate,
		MaxAttempts:         cfg.Delivery.MaxAttempts,
		RetryWindow:         cfg.Delivery.RetryWindow,
		MaxLateness:         cfg.Delivery.MaxLateness,
		ShutdownGrace:       cfg.Delivery.ShutdownGrace,
		Holder:              delivery.Holder(),
	}
	if cfg.BounceAddress != "" {
		// VERP: an asynchronous bounce comes back to an address that names
		// its delivery, with a signature so a forged one is ignored.
		if _, err := verp.Address(cfg.BounceAddress, tokens.Sign(links.PurposeBounce, 1)); err != nil {
			return nil, fmt.Errorf("bounce_address: %w", err)
		}
		opts.EnvelopeFrom = func(deliveryID int64) string {
			addr, _ := verp.Address(cfg.BounceAddress, tokens.Sign(links.PurposeBounce, deliveryID))
			return addr
		}
	}
	newSender := func() (delivery.Sender, error) { return newSender(cfg, signer, logger) }
	return delivery.New(db, r, newSender, l, opts, logger.With("component", "pass"), time.Now, obs), nil
}

// senderName is the display name of the From address ("The Regional Brief").
func senderName(from string) string {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return ""
	}
	return a.Name
}

// openPipeline is the start of every command that works with the real
// configuration: the logger, the config file (required) and the pipeline.
// The caller closes the pipeline.
func (a *app) openPipeline(ctx context.Context) (*config.Config, *slog.Logger, *pipeline, error) {
	o, err := a.open(ctx, need{configFile: true, logger: true})
	if err != nil {
		return nil, nil, nil, err
	}
	pl, err := newPipeline(ctx, o.cfg, o.logger)
	if err != nil {
		return nil, nil, nil, err
	}
	return o.cfg, o.logger, pl, nil
}

// pipeline is everything a pass needs, built from a config in the order
// that reports a configuration mistake (templates, secret, SMTP settings)
// before anything is opened. Close releases it.
type pipeline struct {
	db      *sqlite.DB
	signer  *token.Signer
	outbox  *delivery.Outbox
	metrics *metrics.Metrics
}

func newPipeline(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*pipeline, error) {
	renderer, err := newRenderer(cfg)
	if err != nil {
		return nil, err
	}
	lb, signer, err := newLinks(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := newSender(cfg, nil, logger); err != nil { // checks the settings; connects nothing
		return nil, err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m := metrics.New()
	ob, err := newOutbox(cfg, db, renderer, lb, signer, m, logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &pipeline{db: db, signer: signer, outbox: ob, metrics: m}, nil
}

// Close closes the database.
func (p *pipeline) Close() error { return p.db.Close() }

// leaseTTL is how long the sender lease lasts without renewal: a process
// that dies holds the database for at most this long.
const leaseTTL = time.Minute

// holdSenderLease makes this process the database's only sender.
func holdSenderLease(ctx context.Context, db *sqlite.DB, wait bool, logger *slog.Logger) (*delivery.HeldLease, context.Context, error) {
	held, leaseCtx, err := delivery.HoldLease(ctx, db, delivery.SenderLease, delivery.Holder(), leaseTTL, wait, 15*time.Second, logger)
	var busy *digest.LeaseHeldError
	if errors.As(err, &busy) {
		return nil, nil, fmt.Errorf("another digest sender (%s) is working on this database until %s; run again later, or pass --wait",
			busy.Lease.Holder, busy.Lease.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return held, leaseCtx, err
}

// sampleConfig is the configuration of `digest demo` and `digest bench`:
// the embedded defaults, a database at dbPath, an SMTP server without TLS
// at host:port, and a random secret. The caller adjusts it and calls
// ApplyDerived.
func sampleConfig(dbPath, host string, port int) *config.Config {
	cfg := config.Default()
	cfg.Database = dbPath
	cfg.From = "The Regional Brief <digest@news.example.org>"
	cfg.BaseURL = "https://news.example.org/digest"
	cfg.PostalAddress = "The Regional Brief, 1 Example Square, Example City"
	cfg.Secret = randomSecret()
	cfg.SMTP = config.SMTP{Host: host, Port: port, TLS: config.TLSNone, Timeout: 30 * time.Second}
	return cfg
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
