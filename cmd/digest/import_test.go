package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/newsroom/digest/internal/sqlite"
)

// runIO runs the CLI in-process like c.run, with stdin, and with the
// import and export commands attached under `subscribers` if root.go does
// not register them yet.
func (c *cli) runIO(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
	return runWithIO(context.Background(), args, stdin, &out, &errb, getenv), out.String(), errb.String()
}

func runWithIO(ctx context.Context, args []string, stdin string, out, errb *bytes.Buffer, getenv func(string) (string, bool)) int {
	a := &app{stdin: strings.NewReader(stdin), stdout: out, stderr: errb, getenv: getenv}
	root := a.rootCmd()
	for _, sub := range root.Commands() {
		if sub.Name() != "subscribers" {
			continue
		}
		for _, cmd := range []*cobra.Command{a.subscribersImportCmd(), a.subscribersExportCmd()} {
			if found, _, err := sub.Find([]string{cmd.Name()}); err != nil || found == sub {
				sub.AddCommand(cmd)
			}
		}
	}
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(out)
	root.SetErr(errb)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case errQuietFailure == err:
		return exitFailure
	}
	fmt.Fprintf(errb, "digest: %v\n", err)
	if _, ok := err.(usageError); ok {
		return exitUsage
	}
	return exitFailure
}

// dbConfig writes a config for commands that only use the database (its
// SMTP server is never dialled).
func (c *cli) dbConfig() string {
	c.t.Helper()
	return c.write("digest.yaml", dbConfigText(filepath.Join(c.dir, "digest.db")))
}

func dbConfigText(dbPath string) string {
	return fmt.Sprintf(`database: %s
base_url: https://news.example.org/digest
from: "The Regional Brief <digest@news.example.org>"
postal_address: "1 Example Square, Example City"
secret: ${DIGEST_SECRET}
smtp:
  host: 127.0.0.1
  port: 2525
  tls: none
`, dbPath)
}

// listed returns the subscribers as `subscribers list --format json` shows them.
func (c *cli) listed(cfg string) []subscriberJSON {
	c.t.Helper()
	code, stdout, stderr := c.run("--config", cfg, "subscribers", "list", "--format", "json")
	var subs []subscriberJSON
	if code != 0 || json.Unmarshal([]byte(stdout), &subs) != nil {
		c.t.Fatalf("subscribers list: exit %d\n%s%s", code, stdout, stderr)
	}
	return subs
}

// profile is what an import and export must carry over exactly.
func profile(s subscriberJSON) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s", s.Email, s.Name, strings.Join(s.Regions, ","), s.TimeZone, s.SendTime, s.Status)
}

const hostileCSV = "\ufeffEmail, Name ,REGIONS,timezone,send_time,status\r\n" +
	"ada@example.org,\"=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",\"lagos,bxl\",,,\n" +
	"bob@example.org,\"Bob \"\"The Pen\"\", O'Brien\",dc;lagos,Asia/Tokyo,07:30,pending\r\n" +
	"-cyd@example.org,+Cyd,bxl,,23:59,unsubscribed\n" +
	"用户@例子.中国,'@quoted,sg,,,\n"

// TestImportExportRoundTrip imports a hostile file, exports it in both
// formats, and imports each export into a fresh database: the subscribers
// come back identical, and the CSV export neutralises the formula.
func TestImportExportRoundTrip(t *testing.T) {
	c := newCLI(t)
	cfg := c.dbConfig()
	in := c.write("readers.csv", hostileCSV)
	code, stdout, stderr := c.runIO("", "--config", cfg, "subscribers", "import", in)
	if code != 0 || stdout != in+": created 4, updated 0, skipped 0 (already present), refused 0 (invalid)\n" || stderr != "" {
		t.Fatalf("import: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	want := c.listed(cfg)
	if len(want) != 4 || want[0].Name != `=HYPERLINK("http://evil","x")` || want[3].Name != "@quoted" {
		t.Fatalf("imported %+v", want)
	}

	for _, format := range []string{"csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(c.dir, "export."+format)
			code, stdout, stderr := c.runIO("", "--config", cfg, "subscribers", "export", "--out", out)
			if code != 0 || stdout != fmt.Sprintf("exported 4 subscribers to %s\n", out) {
				t.Fatalf("export: exit %d %q %q", code, stdout, stderr)
			}
			data, _ := os.ReadFile(out)
			if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
				t.Errorf("export file mode %v, want 0600", st.Mode().Perm())
			}
			if format == "csv" {
				for _, cell := range []string{`"'=HYPERLINK(""http://evil"",""x"")"`, "'-cyd@example.org,'+Cyd", ",'@quoted,"} {
					if !strings.Contains(string(data), cell) {
						t.Errorf("CSV export lacks %s:\n%s", cell, data)
					}
				}
			}
			// The same export on stdout is the same bytes.
			if _, stdout, _ := c.runIO("", "--config", cfg, "subscribers", "export", "--format", format); stdout != string(data) {
				t.Errorf("stdout export differs from --out:\n%s\n%s", stdout, data)
			}

			fresh := newCLI(t)
			freshCfg := fresh.dbConfig()
			code, stdout, stderr = fresh.runIO("", "--config", freshCfg, "subscribers", "import", out)
			if code != 0 || stderr != "" || !strings.Contains(stdout, "created 4,") {
				t.Fatalf("re-import: exit %d %q %q", code, stdout, stderr)
			}
			got := fresh.listed(freshCfg)
			for i := range want {
				if profile(got[i]) != profile(want[i]) {
					t.Errorf("round trip changed a subscriber\n got %s\nwant %s", profile(got[i]), profile(want[i]))
				}
			}
		})
	}
}

// TestImportAllOrNothing: one bad record stops the whole import and every
// problem is listed; --dry-run writes nothing; --skip-invalid imports the
// good records and reports the bad.
func TestImportAllOrNothing(t *testing.T) {
	c := newCLI(t)
	cfg := c.dbConfig()
	in := c.write("readers.csv", "email,name,regions,send_time\n"+
		"ada@example.org,Ada,lagos,\n"+
		"bob@example.org,Bob,\"lagos,mars\",\n"+
		"cyd@example.org,\"Cyd\nSmith\",dc,6am\n"+
		"ADA@example.org,Ada again,bxl,\n"+
		"dan@example.org,Dan,dc,07:00\n")
	wantProblems := in + `:3: regions: unknown region "mars" (known: dc, bxl, lagos, riyadh, beijing, sg)` + "\n" +
		in + ":4: name: must be one line without control characters\n" +
		in + `:4: send_time: "6am" is not a time of day in HH:MM form` + "\n" +
		in + ":6: email: duplicate of line 2\n"

	code, stdout, stderr := c.runIO("", "--config", cfg, "subscribers", "import", in)
	if want := wantProblems + "digest: " + in + ": 3 invalid records; nothing imported (fix them and run again, or --skip-invalid imports the 2 valid records)\n"; code != 1 || stdout != "" || stderr != want {
		t.Errorf("import: exit %d\nstdout %q\nstderr\n%s\nwant\n%s", code, stdout, stderr, want)
	}
	if n := len(c.listed(cfg)); n != 0 {
		t.Fatalf("a refused import stored %d subscribers", n)
	}

	code, stdout, stderr = c.runIO("", "--config", cfg, "subscribers", "import", "--dry-run", in)
	if code != 1 || stdout != in+": dry run, nothing written: would have created 2, updated 0, skipped 0 (already present), refused 3 (invalid)\n" ||
		!strings.HasPrefix(stderr, wantProblems) {
		t.Errorf("dry run: exit %d\nstdout %q\nstderr %s", code, stdout, stderr)
	}
	if n := len(c.listed(cfg)); n != 0 {
		t.Fatalf("a dry run stored %d subscribers", n)
	}

	code, stdout, stderr = c.runIO("", "--config", cfg, "subscribers", "import", "--skip-invalid", in)
	if code != 0 || stdout != in+": created 2, updated 0, skipped 0 (already present), refused 3 (invalid)\n" || stderr != wantProblems {
		t.Errorf("--skip-invalid: exit %d\nstdout %q\nstderr %s", code, stdout, stderr)
	}
	subs := c.listed(cfg)
	if len(subs) != 2 || profile(subs[0]) != "ada@example.org|Ada|lagos|Africa/Lagos|06:00|active" ||
		profile(subs[1]) != "dan@example.org|Dan|dc|America/New_York|07:00|active" {
		t.Errorf("after --skip-invalid: %+v", subs)
	}

	// Nothing valid at all is a failure even with --skip-invalid.
	bad := c.write("bad.csv", "email,regions\nx,mars\n")
	if code, _, stderr := c.runIO("", "--config", cfg, "subscribers", "import", "--skip-invalid", bad); code != 1 || !strings.Contains(stderr, "no valid record") {
		t.Errorf("all invalid with --skip-invalid: exit %d %q", code, stderr)
	}
}

// TestImportExisting runs a second import over readers in every state:
// present ones are skipped or updated as asked, readers who left are
// never brought back without --resubscribe.
func TestImportExisting(t *testing.T) {
	c := newCLI(t)
	cfg := c.dbConfig()
	first := c.write("first.csv", "email,name,regions,status\n"+
		"ada@example.org,Ada,lagos,\n"+
		"bob@example.org,Bob,lagos,unsubscribed\n"+
		"cyd@example.org,Cyd,lagos,bounced\n"+
		"dan@example.org,Dan,lagos,\n")
	if code, _, stderr := c.runIO("", "--config", cfg, "subscribers", "import", first); code != 0 {
		t.Fatal(stderr)
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(c.dir, "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Suppress(ctx, "dan@example.org", "complaint"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	second := c.write("second.csv", "email,name,regions,send_time\n"+
		"ADA@example.org,Ada Okafor,\"bxl,lagos\",07:00\n"+
		"bob@example.org,Bob,lagos,\n"+
		"cyd@example.org,Cyd,lagos,\n"+
		"dan@example.org,Dan,lagos,\n"+
		"eve@example.org,Eve,dc,\n")
	notes := second + ":2: email: already subscribed (active); --update-existing updates name, regions, timezone and send time\n" +
		second + ":3: email: unsubscribed; not resubscribed without --resubscribe\n" +
		second + ":4: email: bounced; not resubscribed without --resubscribe\n" +
		second + ":5: email: suppressed (complaint); not resubscribed without --resubscribe\n"
	tests := []struct {
		name    string
		flags   []string
		summary string
		notes   string
		want    []string
	}{
		{"dry run", []string{"--dry-run"}, "dry run, nothing written: would have created 1, updated 0, skipped 4 (already present), refused 0 (invalid)", notes, nil},
		{"plain", nil, "created 1, updated 0, skipped 4 (already present), refused 0 (invalid)", notes, []string{
			"ada@example.org|Ada|lagos|Africa/Lagos|06:00|active",
			"bob@example.org|Bob|lagos|Africa/Lagos|06:00|unsubscribed",
			"cyd@example.org|Cyd|lagos|Africa/Lagos|06:00|bounced",
			"dan@example.org|Dan|lagos|Africa/Lagos|06:00|unsubscribed",
			"eve@example.org|Eve|dc|America/New_York|06:00|active",
		}},
		{"update existing", []string{"--update-existing"}, "created 0, updated 1, skipped 4 (already present), refused 0 (invalid)",
			strings.Join(strings.SplitAfter(notes, "\n")[1:], ""), []string{
				"ada@example.org|Ada Okafor|bxl,lagos|Africa/Lagos|07:00|active",
				"bob@example.org|Bob|lagos|Africa/Lagos|06:00|unsubscribed",
				"cyd@example.org|Cyd|lagos|Africa/Lagos|06:00|bounced",
				"dan@example.org|Dan|lagos|Africa/Lagos|06:00|unsubscribed",
				"eve@example.org|Eve|dc|America/New_York|06:00|active",
			}},
		{"update existing again", []string{"--update-existing", "--quiet"}, "", "", nil},
		{"resubscribe", []string{"--resubscribe"}, "created 0, updated 3, skipped 2 (already present), refused 0 (invalid)",
			notes[:strings.Index(notes, "\n")+1] +
				second + ":6: email: already subscribed (active); --update-existing updates name, regions, timezone and send time\n", []string{
				"ada@example.org|Ada Okafor|bxl,lagos|Africa/Lagos|07:00|active",
				"bob@example.org|Bob|lagos|Africa/Lagos|06:00|active",
				"cyd@example.org|Cyd|lagos|Africa/Lagos|06:00|active",
				"dan@example.org|Dan|lagos|Africa/Lagos|06:00|active",
				"eve@example.org|Eve|dc|America/New_York|06:00|active",
			}},
	}
	for _, tt := range tests {
		args := append([]string{"--config", cfg, "subscribers", "import", second}, tt.flags...)
		code, stdout, stderr := c.runIO("", args...)
		wantOut := ""
		if tt.summary != "" {
			wantOut = second + ": " + tt.summary + "\n"
		}
		if code != 0 || stdout != wantOut || stderr != tt.notes {
			t.Errorf("%s: exit %d\nstdout %q\nwant   %q\nstderr\n%s\nwant\n%s", tt.name, code, stdout, wantOut, stderr, tt.notes)
		}
		if tt.want == nil {
			continue
		}
		var got []string
		for _, s := range c.listed(cfg) {
			got = append(got, profile(s))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: subscribers\n%s\nwant\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
}

func TestImportUsageAndFormats(t *testing.T) {
	c := newCLI(t)
	cfg := c.dbConfig()
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"stdin, JSON lines", `{"email":"ada@example.org","regions":["lagos"]}` + "\n", []string{"--format", "jsonl", "-"}, 0,
			"stdin: created 1, updated 0, skipped 0 (already present), refused 0 (invalid)\n", ""},
		{"bad format", "", []string{"--format", "xml", "-"}, 2, "", "digest: --format: \"xml\" is not one of csv, jsonl\n"},
		{"missing file", "", []string{filepath.Join(c.dir, "nope.csv")}, 1, "", "digest: import: open " + filepath.Join(c.dir, "nope.csv") + ": no such file or directory\n"},
		{"unknown column", "email,regions,phone\n", []string{"-"}, 1, "",
			`digest: stdin:1: header: unknown column "phone" (known: email, name, regions, timezone, send_time, status, created_at, consent_source; --ignore-columns skips unknown columns)` + "\n"},
		{"unknown column ignored", "email,regions,phone\nbob@example.org,dc,555\n", []string{"--ignore-columns", "-"}, 0,
			"stdin: created 1, updated 0, skipped 0 (already present), refused 0 (invalid)\n", ""},
		{"no file", "", nil, 2, "", "digest: accepts 1 arg(s), received 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := c.runIO(tt.stdin, append([]string{"--config", cfg, "subscribers", "import"}, tt.args...)...)
			if code != tt.code || stdout != tt.stdout || stderr != tt.stderr {
				t.Errorf("exit %d, want %d\nstdout %q\nwant   %q\nstderr %q\nwant   %q", code, tt.code, stdout, tt.stdout, stderr, tt.stderr)
			}
		})
	}
	// Consent records the file's base name.
	sub := c.listed(cfg)[0]
	db, _ := sqlite.Open(context.Background(), filepath.Join(c.dir, "digest.db"))
	defer db.Close()
	s, err := db.SubscriberByEmail(context.Background(), sub.Email)
	if err != nil || s.Consent.Source != "import:stdin" || s.Consent.At.IsZero() {
		t.Errorf("consent of an imported reader: %+v %v", s.Consent, err)
	}
}

func TestExportFilters(t *testing.T) {
	c := newCLI(t)
	cfg := c.dbConfig()
	in := c.write("r.csv", "email,regions,status\na@example.org,lagos,\nb@example.org,\"dc,lagos\",pending\nc@example.org,dc,\n")
	if code, _, stderr := c.runIO("", "--config", cfg, "subscribers", "import", in); code != 0 {
		t.Fatal(stderr)
	}
	tests := []struct {
		args   []string
		code   int
		emails []string
		stderr string
	}{
		{nil, 0, []string{"a@example.org", "b@example.org", "c@example.org"}, ""},
		{[]string{"--region", "lagos"}, 0, []string{"a@example.org", "b@example.org"}, ""},
		{[]string{"--status", "active", "--region", "dc"}, 0, []string{"c@example.org"}, ""},
		{[]string{"--status", "gone"}, 2, nil, "digest: --status: \"gone\" is not one of pending, active, unsubscribed, bounced, expired\n"},
		{[]string{"--region", "mars"}, 2, nil, "digest: --region: unknown region \"mars\" (known: dc, bxl, lagos, riyadh, beijing, sg)\n"},
	}
	for _, tt := range tests {
		code, stdout, stderr := c.runIO("", append([]string{"--config", cfg, "subscribers", "export", "--format", "jsonl"}, tt.args...)...)
		var emails []string
		for line := range strings.Lines(stdout) {
			var rec struct{ Email string }
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("export line %q: %v", line, err)
			}
			emails = append(emails, rec.Email)
		}
		if code != tt.code || !slices.Equal(emails, tt.emails) || stderr != tt.stderr {
			t.Errorf("export %v: exit %d, %v, %q", tt.args, code, emails, stderr)
		}
	}
}

// generateCSV writes n readers (active, region lagos, due 06:00 UTC) to a
// CSV file, from index start.
func generateCSV(t testing.TB, path string, start, n int) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("email,name,regions,timezone,send_time\n")
	for i := start; i < start+n; i++ {
		fmt.Fprintf(&b, "imported%07d@example.com,Reader %d,\"lagos,bxl\",UTC,06:00\n", i, i)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImportWhileSending imports 100,000 readers while `digest send` runs
// a pass on the same database in another process. The first message of
// the pass is held at the SMTP server until the import has finished, so
// the two overlap whatever the timing, while the other workers keep
// writing delivery records. Both succeed, neither meets "database is
// locked", and the pass sends exactly to the readers it planned before
// the import.
func TestImportWhileSending(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 100,000 rows beside a sender process")
	}
	const readers = 1000
	c := newCLI(t)
	importDone := make(chan struct{})
	held := make(chan struct{}, 1)
	sink, err := smtpsink.Start(context.Background(), smtpsink.Options{Addr: "127.0.0.1:0",
		RejectData: func(_ string, to []string, _ []byte) error {
			if to[0] == "r0000@example.com" {
				select {
				case held <- struct{}{}:
					<-importDone // hold the pass open until the import is over
				default:
				}
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	cfg := c.config(sink, "127.0.0.1:18080")
	// The held message must not time out however slow the import (-race).
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("  timeout: 10m\n")
	f.Close()
	// r0000 and the brief, then the other readers the fast way, so that
	// the sender's other workers are busy writing deliveries for a while
	// during the import.
	seedReaders(t, filepath.Join(c.dir, "digest.db"), 1)
	var seed strings.Builder
	seed.WriteString("email,regions,timezone,send_time\n")
	emails := []string{"r0000@example.com"}
	for i := 1; i < readers; i++ {
		emails = append(emails, fmt.Sprintf("r%04d@example.com", i))
		fmt.Fprintf(&seed, "%s,lagos,UTC,06:00\n", emails[i])
	}
	if code, _, stderr := c.runIO(seed.String(), "--config", cfg, "subscribers", "import", "-"); code != 0 {
		t.Fatal(stderr)
	}
	in := filepath.Join(c.dir, "big.csv")
	generateCSV(t, in, 0, 100_000)

	send := c.startDigest("--config", cfg, "send", "--now", "2026-11-26T12:00:00Z")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	select { // the pass has planned and is sending
	case <-held:
	case <-ctx.Done():
		t.Fatal("the pass never sent its first message")
	}
	t0 := time.Now()
	code, stdout, stderr := c.runIO("", "--config", cfg, "subscribers", "import", in)
	importTook, sentDuring := time.Since(t0), len(sink.Messages())
	close(importDone)
	if code != 0 || stdout != in+": created 100000, updated 0, skipped 0 (already present), refused 0 (invalid)\n" {
		t.Errorf("import beside a pass: exit %d\n%s%s", code, stdout, stderr)
	}
	t0 = time.Now()
	err = send.Wait()
	t.Logf("import took %v; the pass ended %v after it, having sent %d messages by the import's end",
		importTook, time.Since(t0), sentDuring)
	sendOut := send.Stdout.(*strings.Builder).String()
	if err != nil {
		t.Errorf("send beside an import: %v\n%s", err, sendOut)
	}
	if strings.Contains(sendOut+stderr, "locked") || strings.Contains(sendOut+stderr, "busy") {
		t.Errorf("database contention surfaced:\n%s\n%s", sendOut, stderr)
	}
	perReader := map[string]int{}
	for _, m := range sink.Messages() {
		perReader[m.To[0]]++
	}
	for _, e := range emails {
		if perReader[e] != 1 {
			t.Errorf("%s received %d digests, want 1", e, perReader[e])
		}
	}
	if len(perReader) != readers {
		t.Errorf("%d readers got a digest, want the %d who existed when the pass planned", len(perReader), readers)
	}
	if n := len(c.listed(cfg)); n != readers+100_000 {
		t.Errorf("%d subscribers after the import, want %d", n, readers+100_000)
	}
}

// BenchmarkImport measures `digest subscribers import` end to end (read,
// validate, check against the database, write) on a CSV file of
// DIGEST_BENCH_ROWS rows (default 1,000,000) into an empty database, and
// reports rows per second. Run it once:
//
//	go test ./cmd/digest -run '^$' -bench BenchmarkImport -benchtime 1x
func BenchmarkImport(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("DIGEST_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	in := filepath.Join(dir, "readers.csv")
	generateCSV(b, in, 0, n)
	getenv := func(k string) (string, bool) {
		if k == "DIGEST_SECRET" {
			return "bench-secret-0123456789abcdef0123456789", true
		}
		return "", false
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		cfg := filepath.Join(dir, fmt.Sprintf("digest%d.yaml", i))
		if err := os.WriteFile(cfg, []byte(dbConfigText(filepath.Join(dir, fmt.Sprintf("digest%d.db", i)))), 0o644); err != nil {
			b.Fatal(err)
		}
		var out, errb bytes.Buffer
		b.StartTimer()
		start := time.Now()
		if code := runWithIO(context.Background(), []string{"--config", cfg, "subscribers", "import", in}, "", &out, &errb, getenv); code != 0 {
			b.Fatalf("import: exit %d\n%s%s", code, out.String(), errb.String())
		}
		elapsed := time.Since(start)
		b.ReportMetric(float64(n)/elapsed.Seconds(), "rows/s")
		b.Logf("%d rows in %v: %s", n, elapsed.Round(time.Millisecond), strings.TrimSpace(out.String()))
	}
}
