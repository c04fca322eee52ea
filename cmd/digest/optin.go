package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/optin"
	"github.com/newsroom/digest/internal/server"
	"github.com/newsroom/digest/internal/sqlite"
)

// invitations sends double opt-in confirmation emails over the configured
// SMTP server, one connection for as many invitations as the command sends.
// `subscribers add --confirm` uses it for one reader; an import with
// --confirm builds one with newInvitations and calls Invite for each
// pending subscriber it stored, then Close.
type invitations struct {
	inviter *optin.Inviter
	close   func() error
}

// newInvitations checks everything an invitation needs (templates, the
// link secret, the SMTP settings) without connecting, so that a
// configuration mistake is reported before any subscriber is stored.
func newInvitations(cfg *config.Config, logger *slog.Logger) (*invitations, error) {
	renderer, err := newRenderer(cfg)
	if err != nil {
		return nil, err
	}
	lb, _, err := newLinks(cfg)
	if err != nil {
		return nil, err
	}
	signer, err := newDKIM(cfg)
	if err != nil {
		return nil, err
	}
	sender, err := newSender(cfg, signer, logger)
	if err != nil {
		return nil, err
	}
	inviter, err := optin.New(renderer, sender, lb, optin.Options{From: cfg.From, ExpireAfter: cfg.OptIn.ExpireAfter})
	if err != nil {
		return nil, err
	}
	return &invitations{inviter: inviter, close: sender.Close}, nil
}

// Invite emails sub, a stored pending subscriber, their confirmation link.
// On failure the subscriber stays pending: the caller says so.
func (i *invitations) Invite(ctx context.Context, sub digest.Subscriber) error {
	return i.inviter.Invite(ctx, sub)
}

// Close ends the SMTP session.
func (i *invitations) Close() error { return i.close() }

// pages builds the HTTP side of `digest serve` from the configuration.
func pages(cfg *config.Config, db *sqlite.DB, tokens server.Tokens, logger *slog.Logger) *server.Server {
	return server.New(db, tokens, server.Options{
		PublisherName:      senderName(cfg.From),
		Regions:            cfg.Regions,
		PublicURL:          cfg.BaseURL,
		BehindProxy:        cfg.HTTP.BehindProxy,
		ConsentTextVersion: cfg.OptIn.ConsentTextVersion,
	}, logger.With("component", "http"))
}

// expirePending lapses the sign-ups not confirmed within
// optin.expire_after of now. `digest serve` runs it before each pass, so a
// lapsed reader's link stops working within one schedule interval.
func expirePending(ctx context.Context, db *sqlite.DB, cfg *config.Config, now time.Time, logger *slog.Logger) error {
	n, err := optin.Expire(ctx, db, now, cfg.OptIn.ExpireAfter)
	if err != nil {
		return fmt.Errorf("expire unconfirmed sign-ups: %w", err)
	}
	if n > 0 {
		logger.Info("unconfirmed sign-ups expired", "count", n, "expire_after", cfg.OptIn.ExpireAfter.String())
	}
	return nil
}
