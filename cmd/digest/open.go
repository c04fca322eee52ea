package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/sqlite"
)

// Every command opens what it works on here, in one order: the logger,
// the config, the database.

const defaultConfigFile = "digest.yaml"

// need says what a command opens.
type need struct {
	// configFile: a real config file is required (sending, serving,
	// secrets); without it the embedded defaults do when there is none.
	configFile bool
	logger     bool // build the logger (checks --log-level)
	db         bool // open the database
}

// opened is what a command works on. Close releases it.
type opened struct {
	cfg    *config.Config
	logger *slog.Logger // nil unless needed
	db     *sqlite.DB   // nil until opened
}

// open opens what n asks for. A command that checks its flags against
// the config before it touches the database opens without db and calls
// openDB after.
func (a *app) open(ctx context.Context, n need) (*opened, error) {
	o := &opened{}
	var err error
	if n.logger {
		if o.logger, err = a.logger(); err != nil {
			return nil, err
		}
	}
	if o.cfg, err = a.loadConfig(n.configFile); err != nil {
		return nil, err
	}
	if n.db {
		if err := o.openDB(ctx); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// openDB opens the configured database, applying migrations.
func (o *opened) openDB(ctx context.Context) error {
	db, err := openDB(ctx, o.cfg)
	o.db = db
	return err
}

// Close closes the database, if it was opened.
func (o *opened) Close() error {
	if o.db == nil {
		return nil
	}
	return o.db.Close()
}

// loadConfig reads --config, or ./digest.yaml when present. Commands that
// only touch the database may run on the embedded defaults (fileRequired
// false); sending and serving need a real config.
func (a *app) loadConfig(fileRequired bool) (*config.Config, error) {
	path := a.configPath
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			path = defaultConfigFile
		}
	}
	if path == "" {
		if fileRequired {
			return nil, usageError{errors.New("no config file: pass --config FILE or create ./digest.yaml (start from config.example.yaml)")}
		}
		return config.Default(), nil
	}
	return config.Load(path, a.getenv)
}

// logger builds the one logger of the process: text on a terminal, JSON
// otherwise (for log collectors).
func (a *app) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	opts := &slog.HandlerOptions{Level: level}
	if isTerminal(a.stderr) {
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
}

// openDB opens the database of cfg, applying migrations, with the key of
// erased addresses derived from the secret.
func openDB(ctx context.Context, cfg *config.Config) (*sqlite.DB, error) {
	db, err := sqlite.Open(ctx, cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", cfg.Database, err)
	}
	if cfg.Secret != "" {
		db.HashKey = erasureKey(cfg.Secret)
	}
	return db, nil
}

// erasureKey derives the key of the hashes that keep erased addresses
// suppressed from the secret, so no second secret has to be managed.
// Changing the secret makes earlier erasures unmatchable.
func erasureKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("digest erasure hash v1"))
	return m.Sum(nil)
}
