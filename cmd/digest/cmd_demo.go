package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/demo"
	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/newsroom/digest/internal/subscribers"
	"github.com/spf13/cobra"
)

// demoNow is the instant the demo pass runs at: the sample briefs were
// written for the day before it.
const demoNow = "2026-11-26T12:00:00Z"

func (a *app) demoCmd() *cobra.Command {
	var (
		out     string
		nowFlag string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole pass on sample data through an SMTP server inside the process",
		Long: `Run one complete pass on embedded defaults, with nothing to install: a fresh
SQLite database in the output directory, sample briefs for every region, a
dozen sample subscribers in different zones, and an SMTP server on 127.0.0.1
inside this process that accepts and stores what it receives. The messages go
through the real SMTP path; each is written as DIR/<n>.eml and its HTML part as
DIR/<n>.html.`,
		Example: `  go run ./cmd/digest demo
  digest demo --out /tmp/digest-demo`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			now, err := parseInstant("now", nowFlag)
			if err != nil {
				return err
			}
			return a.demo(cmd.Context(), out, now)
		},
	}
	cmd.Flags().StringVar(&out, "out", "demo-out", "directory for the database and the received messages")
	cmd.Flags().StringVar(&nowFlag, "now", demoNow, "the instant the pass runs at (RFC 3339)")
	return cmd
}

func (a *app) demo(ctx context.Context, out string, now time.Time) error {
	logger, err := a.logger()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("demo output: %w", err)
	}
	if err := cleanDemoDir(out); err != nil {
		return err
	}

	sink, err := smtpsink.Start(ctx, smtpsink.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		return fmt.Errorf("start demo smtp server: %w", err)
	}
	defer sink.Close()

	cfg := sampleConfig(filepath.Join(out, "demo.db"), sink.Host(), sink.Port())
	cfg.ListID = "The Regional Brief <digest.news.example.org>"
	cfg.PostalAddress = "The Regional Brief, 1 Example Square, Example City 10001"
	cfg.SMTP.Timeout = 10 * time.Second
	cfg.ApplyDerived()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo config: %w", err)
	}

	pl, err := newPipeline(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer pl.Close()
	bs, subs, err := demo.Load(ctx, pl.db, subscribers.Defaults{SendTime: cfg.SendTime, Regions: cfg.Regions})
	if err != nil {
		return err
	}
	rep, err := pl.outbox.Run(ctx, now, delivery.RunOptions{})
	if err != nil {
		return err
	}
	received := sink.Messages()
	return a.writeDemo(out, now, len(bs), len(subs), rep, received)
}

// writeDemo writes each received message and its HTML part, and prints the
// table a newcomer reads first.
func (a *app) writeDemo(out string, now time.Time, nBriefs, nSubs int, rep delivery.Report, received []smtpsink.Received) error {
	byID := map[string]delivery.Item{}
	for _, it := range rep.Items {
		if it.MessageID != "" {
			byID[it.MessageID] = it
		}
	}
	// Workers deliver in parallel, so arrival order varies; number the
	// files in subscriber order, so every run writes the same N.eml.
	subOf := func(r smtpsink.Received) int64 { return byID[r.MessageID()].Subscriber.ID }
	slices.SortStableFunc(received, func(x, y smtpsink.Received) int { return cmp.Compare(subOf(x), subOf(y)) })
	fmt.Fprintf(a.stdout, "digest demo: %d sample briefs, %d subscribers, pass at %s, SMTP server on 127.0.0.1 inside this process\n\n",
		nBriefs, nSubs, now.UTC().Format(time.RFC3339))
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "#\tSUBSCRIBER\tREGIONS\tLOCAL TIME\tBRIEFS\tSIZE\tFILE")
	for i, r := range received {
		n := i + 1
		msg, parts, err := demo.Parts(r.Data)
		if err != nil {
			return fmt.Errorf("received message %d: %w", n, err)
		}
		emlPath := filepath.Join(out, fmt.Sprintf("%d.eml", n))
		if err := os.WriteFile(emlPath, r.Data, 0o644); err != nil {
			return err
		}
		htmlPath := filepath.Join(out, fmt.Sprintf("%d.html", n))
		if p, ok := demo.PartOf(parts, "text/html"); ok {
			if err := os.WriteFile(htmlPath, p.Body, 0o644); err != nil {
				return err
			}
		}
		it := byID[msg.Header.Get("Message-Id")]
		local := "-"
		if loc, err := time.LoadLocation(it.Subscriber.TimeZone); err == nil {
			local = now.In(loc).Format("15:04 MST")
		}
		to := strings.Join(r.To, ",")
		if it.Subscriber.Name != "" {
			to = it.Subscriber.Name + " <" + to + ">"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%.1f KB\t%s\n", n, to, strings.Join(it.Subscriber.Regions, ","), local,
			len(it.BriefIDs), float64(len(r.Data))/1024, htmlPath)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, it := range rep.Items {
		switch it.Outcome {
		case delivery.OutcomeNotDue:
			loc, _ := time.LoadLocation(it.Subscriber.TimeZone)
			fmt.Fprintf(a.stdout, "not due yet: %s (it is %s in %s; sends at %s)\n", it.Subscriber.Email,
				now.In(loc).Format("15:04"), it.Subscriber.TimeZone, it.Subscriber.SendTime)
		case delivery.OutcomeNothingNew:
			fmt.Fprintf(a.stdout, "nothing new: %s\n", it.Subscriber.Email)
		case delivery.OutcomeFailed, delivery.OutcomeDeferred:
			fmt.Fprintf(a.stdout, "FAILED: %s: %v\n", it.Subscriber.Email, it.Err)
		}
	}
	fmt.Fprintf(a.stdout, "\n%d messages received by the SMTP server. Open %s in a browser, or %s in a mail client.\n",
		len(received), filepath.Join(out, "1.html"), filepath.Join(out, "1.eml"))
	fmt.Fprintf(a.stdout, "Run it again with a later --now (e.g. %s) to see who is due then.\n", now.Add(12*time.Hour).UTC().Format(time.RFC3339))
	if rep.Count(delivery.OutcomeFailed)+rep.Count(delivery.OutcomeDeferred) > 0 {
		return errQuietFailure
	}
	return nil
}

// cleanDemoDir removes what an earlier demo run wrote, so the database is
// fresh and no stale message is mistaken for this run's.
func cleanDemoDir(dir string) error {
	var errs []error
	for _, pat := range []string{"*.eml", "*.html", "demo.db", "demo.db-wal", "demo.db-shm"} {
		matches, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, m := range matches {
			if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
