package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/subscribers"
)

// maxImportListed is how many problems, and how many notes about addresses
// already present, an import prints; the rest are counted.
const maxImportListed = 100

// Progress bars appear on a terminal for inputs at least this large.
const (
	progressBytes = 1 << 20
	progressRows  = 10_000
)

// importFlags are the options of `subscribers import`.
type importFlags struct {
	format         string
	ignoreColumns  bool
	skipInvalid    bool
	dryRun         bool
	updateExisting bool
	resubscribe    bool
	confirm        bool
}

func (a *app) subscribersImportCmd() *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import subscribers from a CSV or JSON lines file",
		Long: `Import subscribers from FILE ('-' reads standard input).

Formats. CSV (RFC 4180) with a header row, or JSON lines (one object per
line) for files ending in .jsonl or .ndjson, or with --format jsonl. The
file must be UTF-8; a byte order mark, quoted fields with commas, quotes
and line breaks, and CRLF, LF or mixed line ends are fine.

Columns (CSV header names and JSON keys; case-insensitive, any order):
  email       required
  name        optional
  regions     required: region codes, preferred first; "lagos,bxl" or
              "lagos;bxl" in CSV, ["lagos","bxl"] in JSON
  timezone    optional IANA zone; default: the first region's
  send_time   optional HH:MM; default: the config's send_time
  status      optional: active (default), pending, unsubscribed, bounced
              or expired
  created_at, consent_source
              written by 'subscribers export'; accepted and ignored, so an
              export imports again as it is
Any other column is an error, unless --ignore-columns. A CSV cell that
starts with an apostrophe followed by =, +, -, @, a tab or a CR loses that
one apostrophe: it is how an export protects spreadsheets from formulas.

Checking. Every record is checked as 'subscribers add' checks it (address
syntax and IDN domains, known regions, a real time zone, HH:MM), and an
address may appear only once in a file. Every problem is printed as
FILE:LINE: COLUMN: REASON, LINE being where the record starts (the first
100; the rest are counted). If any record is invalid, nothing is imported
and the exit code is 1; --skip-invalid imports the valid records and
exits 0 unless none was valid. --dry-run checks the file and the database
and reports what an import would do, writing nothing; its exit code is
the one the import would have.

Addresses already present. An import never changes a subscriber by
surprise. An active or pending address is reported and skipped, unless
--update-existing, which sets the name, regions, time zone and send time
the record gives (an empty cell keeps the current value), and the status
when the record has one. An address that unsubscribed, bounced, expired or
is suppressed is reported and left alone, unless --resubscribe, which
reactivates it with the record's values and a new consent record (and
lifts the suppression). An erased address (remove --erase) is never
re-added by an import: 'subscribers unsuppress' it first. These rows are
counted as skipped, not invalid: re-running an import, or importing a
list that overlaps the database, is normal.

Writing. New subscribers get the record's status (active by default) and
the consent source "import:FILENAME" at the time of the import. Rows are
written in transactions of 5,000, so 'digest serve' keeps working on the
same database; an interrupted import keeps what it wrote, and running it
again skips what is already there. A progress bar shows on a terminal,
never in a pipe or with --quiet. The last line sums up:
  created N, updated N, skipped N (already present), refused N (invalid)

With --confirm (double opt-in) new readers are stored as pending and each is
emailed a confirmation link over the configured SMTP server; they get digests
once they confirm, and expire after optin.expire_after otherwise.`,
		Example: `  digest subscribers import readers.csv
  digest subscribers import --dry-run readers.csv
  digest subscribers import --skip-invalid --update-existing crm-export.csv
  digest subscribers export | ssh other-host digest subscribers import -
  digest subscribers import --format jsonl - < readers.ndjson`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.importSubscribers(cmd.Context(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", "", "csv or jsonl (default: by the file's extension; csv for '-')")
	fl.BoolVar(&f.ignoreColumns, "ignore-columns", false, "skip unknown columns instead of refusing the file")
	fl.BoolVar(&f.skipInvalid, "skip-invalid", false, "import the valid records and report the others")
	fl.BoolVar(&f.dryRun, "dry-run", false, "check and report, write nothing")
	fl.BoolVar(&f.updateExisting, "update-existing", false, "update name, regions, timezone, send time and status of subscribers already present")
	fl.BoolVar(&f.resubscribe, "resubscribe", false, "reactivate addresses that unsubscribed, bounced, expired or are suppressed")
	fl.BoolVar(&f.confirm, "confirm", false, "double opt-in: add new readers as pending and email each a confirmation link")
	return cmd
}

// importSubscribers runs `subscribers import`.
func (a *app) importSubscribers(ctx context.Context, path string, f importFlags) error {
	format, err := importFormat(f.format, path)
	if err != nil {
		return err
	}
	// Inviting needs the real config (SMTP, secret, base_url).
	invite := f.confirm && !f.dryRun
	o, err := a.open(ctx, need{configFile: f.confirm, logger: invite})
	if err != nil {
		return err
	}
	defer o.Close()
	cfg := o.cfg
	var inv *invitations
	if invite {
		// Checked before anything is stored: a configuration mistake must
		// not leave readers pending without an email.
		if inv, err = newInvitations(cfg, o.logger); err != nil {
			return err
		}
		defer inv.Close()
	}
	in, name, size, err := a.openImport(path)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := o.openDB(ctx); err != nil {
		return err
	}
	db := o.db

	var r io.Reader = in
	bar := a.progressBar(size, size >= progressBytes, "reading "+name, true)
	if bar != nil {
		r = io.TeeReader(in, bar)
	}
	consent := digest.Consent{Source: "import:" + consentName(path), At: time.Now().UTC()}
	if f.confirm {
		consent.At = time.Time{} // given when they confirm
	}
	rows := subscribers.Import{Consent: consent, Pending: f.confirm,
		Mode: subscribers.ImportMode{UpdateExisting: f.updateExisting, Resubscribe: f.resubscribe}}
	problems, err := subscribers.ReadImport(r, subscribers.ImportOptions{
		File: name, Format: format, IgnoreColumns: f.ignoreColumns,
		Defaults: subscribers.Defaults{SendTime: cfg.SendTime, Regions: cfg.Regions},
	}, rows.Add)
	finishProgress(bar)
	if err != nil {
		return err
	}
	refused := countRecords(problems)

	a.printProblems(problems, refused)
	if refused > 0 && !f.skipInvalid && !f.dryRun {
		return fmt.Errorf("%s: %d invalid record%s; nothing imported (fix %s and run again, or --skip-invalid imports the %d valid record%s)",
			name, refused, pluralS(refused), itOrThem(refused), rows.Len(), pluralS(rows.Len()))
	}

	var res subscribers.ImportResult
	if f.dryRun {
		res, err = rows.Plan(ctx, db)
	} else {
		res, err = a.writeImport(ctx, db, &rows)
	}
	a.printNotes(name, res.Outcomes)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			a.noteErr("digest: stopped; %s\n", importSummary(res, refused))
			a.noteErr("digest: the rows written stay; running the import again skips them\n")
		}
		return err
	}

	switch {
	case f.dryRun:
		a.say("%s: dry run, nothing written: would have %s\n", name, importSummary(res, refused))
	default:
		a.say("%s: %s\n", name, importSummary(res, refused))
	}
	if inv != nil {
		if err := a.inviteCreated(ctx, inv, res.Invitees); err != nil {
			return err
		}
	}
	switch {
	case refused > 0 && !f.skipInvalid:
		return fmt.Errorf("%s: %d invalid record%s; an import would change nothing (fix %s, or --skip-invalid)",
			name, refused, pluralS(refused), itOrThem(refused))
	case refused > 0 && rows.Len() == 0:
		return fmt.Errorf("%s: no valid record", name)
	}
	return nil
}

// importFormat returns the --format asked for, or the one the file name
// implies.
func importFormat(flag, path string) (subscribers.Format, error) {
	switch flag {
	case "":
		return subscribers.FormatFor(path), nil
	case string(subscribers.CSV), string(subscribers.JSONLines):
		return subscribers.Format(flag), nil
	}
	return "", usageError{fmt.Errorf("--format: %q is not one of csv, jsonl", flag)}
}

// openImport opens the file to import, or standard input for "-". name is
// how problems name it; size is -1 when unknown.
func (a *app) openImport(path string) (rc io.ReadCloser, name string, size int64, err error) {
	if path == "-" {
		return io.NopCloser(a.stdin), "stdin", -1, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", 0, fmt.Errorf("import: %w", err)
	}
	size = -1
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return f, path, size, nil
}

// consentName is how the consent source names the file: its base name, so
// the record does not carry the operator's directory layout.
func consentName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return filepath.Base(path)
}

// writeImport writes the rows batch by batch, with a progress bar on a
// terminal. On an error the result counts what was written.
func (a *app) writeImport(ctx context.Context, db *sqlite.DB, rows *subscribers.Import) (subscribers.ImportResult, error) {
	bar := a.progressBar(int64(rows.Len()), rows.Len() >= progressRows, "importing", false)
	defer finishProgress(bar)
	return rows.Write(ctx, db, func(n int) {
		if bar != nil {
			_ = bar.Add(n)
		}
	})
}

// inviteCreated emails a confirmation link to every reader the import
// created (as pending). A failed email leaves the reader pending; the
// command names them and exits 1.
func (a *app) inviteCreated(ctx context.Context, inv *invitations, created []digest.Subscriber) error {
	failed := 0
	sent := subscribers.InviteAll(ctx, inv, created, func(s digest.Subscriber, err error) {
		failed++
		fmt.Fprintf(a.stderr, "digest: %s: confirmation email not sent: %v\n", s.Email, err)
	})
	a.say("sent %d confirmation email%s\n", sent, pluralS(sent))
	if failed > 0 {
		return fmt.Errorf("%d reader%s stored as pending without a confirmation email (listed above)", failed, pluralS(failed))
	}
	return nil
}
