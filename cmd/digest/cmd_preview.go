package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/lint"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/preview"
	"github.com/newsroom/digest/internal/subscribers"
	"github.com/spf13/cobra"
)

// previewTarget is who a preview is for: a stored reader or a region mix.
type previewTarget struct {
	email, regions, zone, at string
}

func (a *app) previewCmd() *cobra.Command {
	var (
		t        previewTarget
		format   string
		out      string
		sendTest string
		serve    string
		serveOpt previewServeOptions
	)
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Show exactly what a reader, or a region mix, would get",
		Long: `Work out what a pass would send a reader at a given time, with the same
selection and rendering as a real pass (same templates, same order, same
headers), and print it. Nothing is recorded and nothing is sent.

Pick the reader with --subscriber EMAIL (their watermark and the digests
they already had count), or a region mix with --regions (a made-up reader
who has had nothing yet; --timezone defaults to the first region's).

--send-test ADDRESS emails that preview to an editor over the configured
SMTP server, with "[TEST]" before the subject. It is not recorded as a
delivery and moves no watermark.

--serve[=ADDR] serves the editor's preview page instead (default
127.0.0.1:8081; a non-loopback address needs --allow-remote): pick a reader
or a region mix and a time, and see the email at desktop and phone width,
the text part, subject, preheader, size against Gmail's 102 KB limit, the
lint findings, and each brief with why it is included. The page reloads by
itself when a file in templates_dir or --briefs-dir changes.`,
		Example: `  digest preview --subscriber ada@example.com --format text
  digest preview --regions lagos,bxl --at 2026-11-26T06:00:00Z --format html --out /tmp/ada.html
  digest preview --regions sg --format eml > sg.eml
  digest preview --subscriber ada@example.com --send-test editor@example.org
  digest preview --serve                       # http://127.0.0.1:8081
  digest preview --serve=127.0.0.1:9000 --briefs-dir briefs/`,
		Args: func(cmd *cobra.Command, args []string) error {
			// --serve's address is optional, so it can only be given
			// with "=": a separate word is an argument.
			if len(args) == 1 && cmd.Flags().Changed("serve") {
				return usageError{fmt.Errorf("--serve takes its address after '=': --serve=%s", args[0])}
			}
			return exactArgs(0)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("serve") {
				o, err := a.open(cmd.Context(), need{configFile: true})
				if err != nil {
					return err
				}
				serveOpt.Lint = previewLinter(o.cfg.PostalAddress)
				return a.previewServe(cmd.Context(), serve, serveOpt)
			}
			switch format {
			case "html", "text", "eml":
			default:
				return usageError{fmt.Errorf("--format: %q is not one of html, text, eml", format)}
			}
			return a.preview(cmd.Context(), t, format, out, sendTest)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&t.email, "subscriber", "", "preview for this stored subscriber (email)")
	fl.StringVar(&t.regions, "regions", "", "preview for a region mix, e.g. lagos,bxl")
	fl.StringVar(&t.zone, "timezone", "", "time zone of the region mix (default: the first region's)")
	fl.StringVar(&t.at, "at", "", "preview as of this RFC 3339 time (default: now)")
	fl.StringVar(&format, "format", "html", "html, text or eml")
	fl.StringVar(&out, "out", "", "write to this file instead of standard output")
	fl.StringVar(&sendTest, "send-test", "", "email the preview to this address, subject prefixed [TEST]")
	fl.StringVar(&serve, "serve", "", "serve the editor's preview page on this address (default 127.0.0.1:8081)")
	fl.Lookup("serve").NoOptDefVal = defaultPreviewAddr
	fl.BoolVar(&serveOpt.AllowRemote, "allow-remote", false, "with --serve: allow a non-loopback address (the page shows subscriber data)")
	fl.StringVar(&serveOpt.BriefsDir, "briefs-dir", "", "with --serve: reload the page when files here change")
	return cmd
}

// previewReader resolves who a preview is for, after checking that the
// flags name one reader.
func previewReader(ctx context.Context, cfg *config.Config, db preview.ReaderFinder, t previewTarget) (digest.Subscriber, error) {
	switch {
	case t.email != "" && t.regions != "":
		return digest.Subscriber{}, usageError{errors.New("give --subscriber or --regions, not both")}
	case t.email != "" && t.zone != "":
		return digest.Subscriber{}, usageError{errors.New("--timezone goes with --regions; a subscriber has their own")}
	case t.email == "" && t.regions == "":
		return digest.Subscriber{}, usageError{errors.New("say whose digest: --subscriber EMAIL or --regions a,b")}
	}
	target := preview.Target{Email: t.email, Regions: splitList(t.regions), TimeZone: t.zone}
	s, err := target.Resolve(ctx, db, subscribers.Defaults{SendTime: cfg.SendTime, Regions: cfg.Regions})
	var fe *digest.FieldError
	switch {
	case errors.Is(err, digest.ErrNotFound):
		return digest.Subscriber{}, subscriberNotFound(t.email, err)
	case errors.As(err, &fe):
		return digest.Subscriber{}, usageError{err}
	}
	return s, err
}

func (a *app) preview(ctx context.Context, t previewTarget, format, out, sendTest string) error {
	at, err := parseInstant("at", t.at)
	if err != nil {
		return err
	}
	if sendTest != "" {
		if _, err := subscribers.ValidateEmail(sendTest); err != nil {
			return usageError{fmt.Errorf("--send-test: %w", err)}
		}
	}
	cfg, logger, pl, err := a.openPipeline(ctx)
	if err != nil {
		return err
	}
	defer pl.Close()
	sub, err := previewReader(ctx, cfg, pl.db, t)
	if err != nil {
		return err
	}
	pv, err := pl.outbox.Preview(ctx, sub, at)
	if err != nil {
		return err
	}
	if len(pv.Briefs) == 0 {
		return fmt.Errorf("nothing new for %s at %s (briefs of %s published after %s): a pass would send no digest",
			sub.Email, at.UTC().Format(time.RFC3339), strings.Join(sub.Regions, ","), pv.After.UTC().Format(time.RFC3339))
	}
	if !pv.Due {
		fmt.Fprintf(a.stderr, "digest: note: at %s it is before %s's send time (%s local); a pass would not send yet\n",
			at.UTC().Format(time.RFC3339), sub.Email, pv.DueAt.Format("15:04 MST"))
	}
	if sendTest != "" {
		return a.sendTest(ctx, cfg, logger, pv, sendTest)
	}

	var buf bytes.Buffer
	switch format {
	case "html":
		buf.WriteString(pv.Output.HTML)
	case "text":
		buf.WriteString(pv.Output.Text)
	case "eml":
		signer, err := newDKIM(cfg)
		if err != nil {
			return err
		}
		if err := mailer.WriteSignedTo(&buf, pv.Message, signer); err != nil {
			return err
		}
	}
	if out == "" {
		_, err := a.stdout.Write(buf.Bytes())
		return err
	}
	if err := writeFileAtomic(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	a.say("wrote %s (%d briefs, %.1f KB of HTML) for %s\n", out, len(pv.Briefs), float64(len(pv.Output.HTML))/1024, sub.Email)
	return nil
}

// sendTest emails a preview to an editor: "[TEST]" before the subject, a
// Message-ID of its own, nothing recorded.
func (a *app) sendTest(ctx context.Context, cfg *config.Config, logger *slog.Logger, pv delivery.Preview, to string) error {
	signer, err := newDKIM(cfg)
	if err != nil {
		return err
	}
	sender, err := newSender(cfg, signer, logger)
	if err != nil {
		return err
	}
	defer sender.Close()
	m, err := pv.TestMessage(to, time.Now())
	if err != nil {
		return err
	}
	if err := sender.Send(ctx, m); err != nil {
		return fmt.Errorf("send test to %s: %w", to, err)
	}
	a.say("sent a test of %s's digest (%d briefs) to %s\n", pv.Subscriber.Email, len(pv.Briefs), to)
	return nil
}

// previewLinter runs the digest linter on a preview for the editor page.
func previewLinter(postalAddress string) preview.Linter {
	return func(pv delivery.Preview) []preview.Finding {
		var out []preview.Finding
		for _, f := range lint.CheckPreview(pv, postalAddress) {
			out = append(out, preview.Finding{Severity: f.Severity, Rule: f.Rule, Message: f.Message, Brief: f.Brief})
		}
		return out
	}
}
