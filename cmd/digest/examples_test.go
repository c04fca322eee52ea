package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/templates"
)

// An example from a command's help: a shell line an operator could paste.
type helpExample struct {
	cmd  string // the command whose help shows it
	line string
}

// helpExamples walks the command tree and returns every example its help
// shows: each line of Example, each command line indented in Long (cobra's
// completion help), and each 'digest ...' quoted in Long.
func helpExamples(root *cobra.Command) []helpExample {
	quoted := regexp.MustCompile(`'(digest [^']*)'`)
	var out []helpExample
	seen := map[string]bool{}
	add := func(cmd *cobra.Command, line string) {
		line = strings.TrimSpace(line)
		if line != "" && !seen[line] {
			seen[line] = true
			out = append(out, helpExample{cmd: cmd.CommandPath(), line: line})
		}
	}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, l := range strings.Split(cmd.Example, "\n") {
			add(cmd, l)
		}
		for _, l := range strings.Split(cmd.Long, "\n") {
			if (strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "  ")) && strings.Contains(l, "digest ") {
				add(cmd, l)
			}
			for _, m := range quoted.FindAllStringSubmatch(l, -1) {
				add(cmd, m[1])
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// exampleRank orders the examples as an operator would run them on one
// database: readers are added before anything shows, previews or lints
// them, and what removes a brief or a reader comes after what shows them
// (an erased reader's address is unsuppressed last). Others keep the
// tree's order.
func exampleRank(e helpExample) int {
	switch e.cmd {
	case "digest subscribers add":
		return -1
	case "digest briefs remove", "digest subscribers remove":
		return 1
	case "digest subscribers unsuppress":
		return 2
	}
	return 0
}

// TestHelpExamplesWork runs every example of every command's help, in
// process, in a directory holding a config (./digest.yaml, the default),
// a database seeded with the sample briefs (some dated today), generated
// readers with 50 sent deliveries, an SMTP server on 127.0.0.1, and every
// file an example names. Each must exit 0.
//
// What the shell would do is done here: quotes, globs, "< file", "> file",
// "# comments" and pipes between examples' commands. Where a line names
// something outside digest, the test stands in for it and says so:
//   - "fetchmail-script | ..." reads a bounce message from stdin;
//   - "... | jq .queue" must print JSON with a "queue" member;
//   - "... | ssh other-host digest ..." runs the second digest in another
//     directory with a database of its own;
//   - "go run ./cmd/digest" is this command;
//   - VAR=... fills the placeholder with the test's value;
//   - an absolute path (/tmp/..., /var/mail/...) lives under the test's
//     directory, so nothing is written outside it;
//   - cobra's completion help: the digest command of each line runs (the
//     shell plumbing around it, brew and fpath, is the shell's).
//
// Examples that do not end by themselves start for real and are stopped
// once they listen: 'digest serve' (its /healthz answers) and 'digest
// preview --serve' (its page answers; if the example's fixed port is
// taken on this machine, its flags and arguments are parsed instead).
// 'digest bench' examples are only parsed: they generate 100,000 and a
// million readers (minutes of CPU; the second also needs an SMTP server
// on 127.0.0.1:2525); TestBenchCommand runs the same code at 40 readers.
func TestHelpExamplesWork(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every example of the help, a few passes and two servers among them")
	}
	fx := newExampleFixture(t)
	root := (&app{getenv: func(string) (string, bool) { return "", false }}).rootCmd()
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	examples := helpExamples(root)
	slices.SortStableFunc(examples, func(a, b helpExample) int { return exampleRank(a) - exampleRank(b) })
	if len(examples) < 60 {
		t.Fatalf("found only %d examples in the help", len(examples))
	}
	for _, ex := range examples {
		t.Run(ex.line, func(t *testing.T) {
			fx.runExample(t, ex)
		})
	}
}

// exampleFixture is the world the examples run in.
type exampleFixture struct {
	c      *cli
	dir    string // the working directory: ./digest.yaml, briefs/, readers.csv ...
	other  string // other-host's directory, with its own config and database
	listen string // the HTTP address of 'digest serve'
	bounce []byte // a bounce report for kijitora@example.org
}

func newExampleFixture(t *testing.T) *exampleFixture {
	t.Helper()
	// Read what the package directory holds before leaving it.
	bounce, err := os.ReadFile(filepath.Join("..", "..", "internal", "bounces", "testdata", "fixtures", "lhost-postfix-01.eml"))
	if err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join("..", "..", "internal", "demo", "samples", "briefs")
	briefFiles, err := filepath.Glob(filepath.Join(samples, "*.md"))
	if err != nil || len(briefFiles) < 12 {
		t.Fatalf("sample briefs: %d, %v", len(briefFiles), err)
	}
	c := newCLI(t)
	fx := &exampleFixture{c: c, dir: c.dir, bounce: bounce, other: filepath.Join(c.dir, "other-host")}
	sink := startSink(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fx.listen = ln.Addr().String()
	ln.Close()
	cfg := c.config(sink, fx.listen)

	// Brief files: the samples of lagos, bxl and dc under briefs/2026-11-26/,
	// the others under briefs/2026-11/; and today's copies of them all, so
	// that a preview at the clock has something new.
	now := time.Now().UTC()
	for i, f := range briefFiles {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		sub := "2026-11"
		if strings.HasPrefix(base, "lagos-") || strings.HasPrefix(base, "bxl-") || strings.HasPrefix(base, "dc-") {
			sub = "2026-11-26"
		}
		c.write(filepath.Join("briefs", sub, base), string(src))
		today := regexp.MustCompile(`(?m)^published_at: .*$`).ReplaceAllString(string(src),
			"published_at: "+now.Add(-time.Duration(i+1)*20*time.Minute).Format(time.RFC3339))
		today = regexp.MustCompile(`(?m)^slug: (.*)$`).ReplaceAllString(today, "slug: ${1}-today")
		c.write(filepath.Join("seed", "today", base), today)
	}
	generateCSV(t, filepath.Join(c.dir, "seed", "readers.csv"), 0, 50)
	for _, args := range [][]string{
		{"briefs", "import", filepath.Join(c.dir, "briefs")},
		{"briefs", "import", filepath.Join(c.dir, "seed", "today")},
		{"subscribers", "import", filepath.Join(c.dir, "seed", "readers.csv")},
		// 50 deliveries, ids 1 to 50, of 2026-11-26.
		{"send", "--now", "2026-11-26T12:00:00Z"},
	} {
		if code, stdout, stderr := c.run(append([]string{"--config", cfg}, args...)...); code != 0 {
			t.Fatalf("seed: digest %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	if n := len(sink.Messages()); n != 50 {
		t.Fatalf("the seed pass sent %d digests, want 50", n)
	}

	// Files the examples read.
	c.write("readers.csv", "email,name,regions\nnia@example.org,Nia,lagos\nomar@example.org,Omar,\"riyadh,sg\"\n")
	c.write("crm-export.csv", "email,name,regions,timezone\nnia@example.org,Nia Obi,lagos,\npia@example.org,Pia,bxl,Europe/Paris\n")
	c.write("readers.ndjson", `{"email":"quy@example.org","name":"Quy","regions":["sg"]}`+"\n")
	c.write(filepath.Join("saved", "bounce.eml"), string(bounce))
	c.write(filepath.Join("var", "mail", "bounces", "bounce.eml"), string(bounce))
	err = fs.WalkDir(templates.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templates.FS.ReadFile(p)
		if err == nil {
			c.write(filepath.Join("my-templates", p), string(b))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c.write(filepath.Join("other-host", "digest.yaml"), dbConfigText(filepath.Join(fx.other, "digest.db")))
	t.Chdir(c.dir)
	return fx
}

// runExample runs one example line and fails t unless every digest in it
// exits 0.
func (fx *exampleFixture) runExample(t *testing.T, ex helpExample) {
	line := ex.line
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	words, err := shellWords(line)
	if err != nil {
		t.Fatalf("%s: %v", ex.line, err)
	}
	if strings.HasPrefix(ex.cmd, "digest completion") {
		// cobra's setup lines: their digest command runs alone.
		m := regexp.MustCompile(`digest (completion \w+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no digest command in %q", ex.line)
		}
		if out := fx.digest(t, fx.dir, strings.Fields(m[1]), nil, ""); len(out) == 0 {
			t.Errorf("digest %s printed nothing", m[1])
		}
		return
	}
	var input []byte
	for _, seg := range splitPipes(words) {
		input = fx.runSegment(t, seg, input)
	}
}

// runSegment runs one command of a pipeline with stdin in, and returns
// its stdout.
func (fx *exampleFixture) runSegment(t *testing.T, words []string, in []byte) []byte {
	t.Helper()
	dir := fx.dir
	var stdinFile, stdoutFile string
	var args []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "<" || w == ">":
			if i+1 == len(words) {
				t.Fatalf("%s with no file", w)
			}
			if w == "<" {
				stdinFile = fx.path(words[i+1])
			} else {
				stdoutFile = fx.path(words[i+1])
			}
			i++
		case len(args) == 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(w):
			// VAR=... is a placeholder: the test's value stands in.
			if k, v, _ := strings.Cut(w, "="); v != "..." {
				t.Fatalf("an example sets %s to %q; the test only fills placeholders", k, v)
			}
		default:
			args = append(args, w)
		}
	}
	if stdinFile != "" {
		b, err := os.ReadFile(stdinFile)
		if err != nil {
			t.Fatal(err)
		}
		in = b
	}
	switch {
	case len(args) >= 3 && args[0] == "go" && args[1] == "run" && args[2] == "./cmd/digest":
		args = append([]string{"digest"}, args[3:]...)
	case len(args) >= 2 && args[0] == "ssh" && args[1] == "other-host":
		dir, args = fx.other, args[2:]
	case len(args) == 1 && args[0] == "fetchmail-script":
		return fx.bounce
	case len(args) == 2 && args[0] == "jq" && args[1] == ".queue":
		var v map[string]json.RawMessage
		if err := json.Unmarshal(in, &v); err != nil || v["queue"] == nil {
			t.Fatalf("jq .queue: no JSON object with a queue member (%v):\n%s", err, in)
		}
		return v["queue"]
	}
	if len(args) == 0 || args[0] != "digest" {
		t.Fatalf("the test does not know how to stand in for %q", strings.Join(args, " "))
	}
	args = args[1:]
	for i, a := range args {
		if strings.ContainsAny(a, "*?[") {
			matches, err := filepath.Glob(filepath.Join(dir, a))
			if err != nil || len(matches) == 0 {
				t.Fatalf("%s matches no file (%v)", a, err)
			}
			args = slices.Concat(args[:i], matches, args[i+1:])
			break
		}
		args[i] = fx.path(a)
	}
	out := fx.digest(t, dir, args, in, stdoutFile)
	return out
}

// path puts an absolute path of an example under the test's directory.
func (fx *exampleFixture) path(p string) string {
	if filepath.IsAbs(p) && !strings.HasPrefix(p, fx.dir) {
		return filepath.Join(fx.dir, p)
	}
	return p
}

// digest runs the command in dir and fails t unless it exits 0. A serving
// command is stopped once it listens.
func (fx *exampleFixture) digest(t *testing.T, dir string, args []string, stdin []byte, stdoutFile string) []byte {
	t.Helper()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(fx.dir)
	cmdline := "digest " + strings.Join(args, " ")
	switch {
	case args[0] == "bench":
		fx.parseOnly(t, args)
		return nil
	case args[0] == "serve":
		return fx.serveUntilListening(t, args, "http://"+fx.listen+"/healthz")
	case args[0] == "preview" && slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--serve") }):
		addr := defaultPreviewAddr
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--serve="); ok {
				addr = v
			}
		}
		if ln, err := net.Listen("tcp", addr); err != nil {
			t.Logf("%s is taken on this machine: parsing %q only (%v)", addr, cmdline, err)
			fx.parseOnly(t, args)
			return nil
		} else {
			ln.Close()
		}
		return fx.serveUntilListening(t, args, "http://"+addr+"/")
	}
	var out, errb bytes.Buffer
	getenv := func(k string) (string, bool) { v, ok := fx.c.env[k]; return v, ok }
	code := run(context.Background(), args, bytes.NewReader(stdin), &out, &errb, getenv)
	if code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%.3000s\nstderr:\n%.3000s", cmdline, code, out.String(), errb.String())
	}
	if stdoutFile != "" {
		if err := os.WriteFile(stdoutFile, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// parseOnly parses the flags and arguments of a command without running
// it, and fails t if cobra refuses them.
func (fx *exampleFixture) parseOnly(t *testing.T, args []string) {
	t.Helper()
	root := (&app{getenv: func(string) (string, bool) { return "", false }}).rootCmd()
	cmd, rest, err := root.Find(args)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("digest %s: %v", strings.Join(args, " "), err)
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		t.Fatalf("digest %s: %v", strings.Join(args, " "), err)
	}
}

// serveUntilListening runs a serving command until url answers, then
// stops it as a signal would, and fails t unless it exits 0.
func (fx *exampleFixture) serveUntilListening(t *testing.T, args []string, url string) []byte {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	getenv := func(k string) (string, bool) { v, ok := fx.c.env[k]; return v, ok }
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), &out, &errb, getenv) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("digest %s ended before it listened: exit %d\n%s", strings.Join(args, " "), code, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("digest %s: %s never answered: %v\n%s", strings.Join(args, " "), url, err, errb.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("digest %s: exit %d after it was stopped\n%s", strings.Join(args, " "), code, errb.String())
	}
	return out.Bytes()
}

// shellWords splits a line into words as a POSIX shell does for the
// quoting the examples use: single and double quotes, no escapes.
func shellWords(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words, in = append(words, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// splitPipes splits words at "|".
func splitPipes(words []string) [][]string {
	var segs [][]string
	start := 0
	for i, w := range words {
		if w == "|" {
			segs = append(segs, words[start:i])
			start = i + 1
		}
	}
	return append(segs, words[start:])
}

// --serve's address is optional, so pflag takes it only after "="; the
// address as a separate word is refused with the form that works.
func TestPreviewServeAddressNeedsEquals(t *testing.T) {
	c := newCLI(t)
	code, _, stderr := c.run("preview", "--serve", "127.0.0.1:9000")
	if code != 2 || !strings.Contains(stderr, "--serve=127.0.0.1:9000") {
		t.Errorf("preview --serve ADDR: exit %d %q, want 2 naming --serve=ADDR", code, stderr)
	}
}
