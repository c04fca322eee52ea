package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/newsroom/digest/templates"
)

// runLint runs the CLI in-process like c.run, registering the lint and
// templates commands on the root when it does not have them yet.
func (c *cli) runLint(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: getenv}
	root := a.rootCmd()
	if cmd, _, err := root.Find([]string{"lint"}); err != nil || cmd == root {
		root.AddCommand(a.lintCmd(), a.templatesCmd())
	}
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(c.t.Context())
	var ue usageError
	switch {
	case err == nil:
		return exitOK, out.String(), errb.String()
	case errors.Is(err, errQuietFailure):
		return exitFailure, out.String(), errb.String()
	case errors.As(err, &ue):
		fmt.Fprintf(&errb, "digest: %v\n", err)
		return exitUsage, out.String(), errb.String()
	}
	fmt.Fprintf(&errb, "digest: %v\n", err)
	return exitFailure, out.String(), errb.String()
}

// templateDir copies the shipped templates into DIR/name, changing the
// ones in edits (file name → change of its text), and returns DIR/name.
func (c *cli) templateDir(name string, edits map[string]func(string) string) string {
	c.t.Helper()
	files, err := fs.Glob(templates.FS, "*.tmpl")
	if err != nil || len(files) == 0 {
		c.t.Fatalf("no shipped templates: %v", err)
	}
	for _, f := range files {
		src, err := templates.FS.ReadFile(f)
		if err != nil {
			c.t.Fatal(err)
		}
		s := string(src)
		if edit := edits[f]; edit != nil {
			s = edit(s)
		}
		c.write(filepath.Join(name, f), s)
	}
	return filepath.Join(c.dir, name)
}

// withTemplatesDir adds templates_dir to the config file.
func (c *cli) withTemplatesDir(cfg, dir string) {
	c.t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(filepath.Base(cfg), string(b)+"templates_dir: "+dir+"\n")
}

// noUnsubscribe removes the unsubscribe link from the HTML template.
func noUnsubscribe(s string) string {
	return strings.Replace(s, `<a href="{{.UnsubscribeURL}}" style="color:#15c;">Unsubscribe</a>`, "", 1)
}

const lintAt = "2026-11-26T08:00:00Z"

// lintJSON runs lint with --format json and decodes the report.
func lintJSON(t *testing.T, c *cli, args ...string) (int, lintReport) {
	t.Helper()
	code, stdout, stderr := c.runLint(append(args, "--format", "json")...)
	var r lintReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("lint %v: exit %d, stdout is not the JSON report: %v\n%s\n%s", args, code, err, stdout, stderr)
	}
	return code, r
}

func TestLintRegionMixAndSubscriber(t *testing.T) {
	c, cfg, _ := previewFixture(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"region mix", []string{"--regions", "lagos,bxl"}, "lagos,bxl: 2 briefs"},
		{"stored reader", []string{"--subscriber", "ada@example.com"}, "ada@example.com (bxl,lagos): 2 briefs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := c.runLint(append([]string{"--config", cfg, "lint", "--at", lintAt}, tt.args...)...)
			if code != 0 || !strings.Contains(stdout, tt.want) || !strings.Contains(stdout, "0 errors, 0 warnings in 1 digest") {
				t.Fatalf("exit %d, want 0 and %q with no findings\nstdout:\n%s\nstderr:\n%s", code, tt.want, stdout, stderr)
			}
		})
	}
}

func TestLintAllRegionMixesJSON(t *testing.T) {
	c, cfg, _ := previewFixture(t)
	code, r := lintJSON(t, c, "--config", cfg, "lint", "--all-region-mixes", "--at", lintAt)
	if code != 0 || r.Errors != 0 || r.Warnings != 0 {
		t.Fatalf("exit %d, %d errors, %d warnings; want a clean run: %+v", code, r.Errors, r.Warnings, r)
	}
	if len(r.Mixes) != 63 {
		t.Fatalf("%d mixes for six regions, want 63", len(r.Mixes))
	}
	if !reflect.DeepEqual(r.Mixes[0].Regions, []string{"dc"}) || !reflect.DeepEqual(r.Mixes[62].Regions, []string{"dc", "bxl", "lagos", "riyadh", "beijing", "sg"}) {
		t.Errorf("mixes not in configuration order: first %v, last %v", r.Mixes[0].Regions, r.Mixes[62].Regions)
	}
	seen := map[string]bool{}
	for _, m := range r.Mixes {
		key := strings.Join(m.Regions, ",")
		if seen[key] {
			t.Errorf("mix %s twice", key)
		}
		seen[key] = true
		hasNews := strings.Contains(","+key+",", ",lagos,") || strings.Contains(","+key+",", ",bxl,")
		switch {
		case hasNews && (m.Briefs == 0 || m.Note != ""):
			t.Errorf("mix %s: %d briefs, note %q; want a digest", key, m.Briefs, m.Note)
		case !hasNews && (m.Briefs != 0 || !strings.Contains(m.Note, "no digest")):
			t.Errorf("mix %s: %d briefs, note %q; want the no-digest note", key, m.Briefs, m.Note)
		}
		if m.Findings == nil {
			t.Errorf("mix %s: findings is null, want []", key)
		}
	}
}

// Errors fail the run; warnings alone do not.
func TestLintExitCodes(t *testing.T) {
	c, cfg, _ := previewFixture(t)
	c.write("script.md", strings.NewReplacer("lagos-port", "lagos-script", "Port congestion eases", "Market reopens",
		"The **news** body.", "The news.\n\n<script>alert(1)</script>").Replace(briefFile))
	if code, _, stderr := c.run("--config", cfg, "briefs", "add", filepath.Join(c.dir, "script.md")); code != 0 {
		t.Fatal(stderr)
	}
	code, r := lintJSON(t, c, "--config", cfg, "lint", "--regions", "lagos", "--at", lintAt)
	if code != 0 || r.Errors != 0 || r.Warnings != 1 || r.Mixes[0].Findings[0].Rule != "sanitized-markdown" || r.Mixes[0].Findings[0].Brief != "lagos-script" {
		t.Fatalf("a sanitized brief: exit %d, report %+v; want exit 0 and one sanitized-markdown warning on lagos-script", code, r)
	}

	c.withTemplatesDir(cfg, c.templateDir("no-unsub", map[string]func(string) string{"digest.html.tmpl": noUnsubscribe}))
	code, stdout, _ := c.runLint("--config", cfg, "lint", "--regions", "lagos", "--at", lintAt)
	if code != 1 || !strings.Contains(stdout, "error    unsubscribe-missing") {
		t.Fatalf("templates without an unsubscribe link: exit %d, want 1 with an unsubscribe-missing error\n%s", code, stdout)
	}
}

func TestLintUsage(t *testing.T) {
	c, cfg, _ := previewFixture(t)
	for _, args := range [][]string{
		{"lint"},
		{"lint", "--all-region-mixes", "--regions", "lagos"},
		{"lint", "--regions", "lagos", "--format", "xml"},
		{"lint", "--regions", "lagos", "--at", "tomorrow"},
		{"lint", "--regions", "atlantis"},
	} {
		if code, _, stderr := c.runLint(append([]string{"--config", cfg}, args...)...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, want 2 with a message; stderr %q", args, code, stderr)
		}
	}
}

func TestTemplatesCheck(t *testing.T) {
	c := newCLI(t)
	broken := c.templateDir("broken", map[string]func(string) string{
		"digest.html.tmpl": func(s string) string { return strings.Replace(s, "{{.Headline}}", "{{.Headline}", 1) },
	})
	brokenLine := 0
	if b, err := os.ReadFile(filepath.Join(broken, "digest.html.tmpl")); err == nil {
		for i, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "{{.Headline}<") {
				brokenLine = i + 1
			}
		}
	}
	missing := c.templateDir("missing", map[string]func(string) string{
		"digest.txt.tmpl": func(s string) string { return s + "\n{{.NoSuchField}}\n" },
	})
	tests := []struct {
		name         string
		args         []string
		code         int
		stdout, errs string
	}{
		{"shipped", nil, 0, "embedded templates: parsed; a sample digest of 20 briefs", ""},
		{"parse error", []string{"--dir", broken}, 1, "", fmt.Sprintf("digest.html.tmpl:%d", brokenLine)},
		{"unknown field", []string{"--dir", missing}, 1, "", "digest.txt.tmpl:"},
		{"lint error", []string{"--dir", c.templateDir("no-unsub", map[string]func(string) string{"digest.html.tmpl": noUnsubscribe})}, 1, "unsubscribe-missing", ""},
		{"no such dir", []string{"--dir", filepath.Join(c.dir, "nope")}, 2, "", "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := c.runLint(append([]string{"templates", "check"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.errs) {
				t.Fatalf("exit %d, want %d with stdout %q and stderr %q\nstdout:\n%s\nstderr:\n%s", code, tt.code, tt.stdout, tt.errs, stdout, stderr)
			}
			if tt.code == 0 && !strings.Contains(stdout, "0 errors") {
				t.Errorf("the shipped templates have lint errors:\n%s", stdout)
			}
		})
	}
}
