package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// briefWith returns briefFile with its slug, region and publication time
// replaced.
func briefWith(slug, region, published string) string {
	s := strings.Replace(briefFile, "slug: lagos-port", "slug: "+slug, 1)
	s = strings.Replace(s, "region: lagos", "region: "+region, 1)
	return strings.Replace(s, "2026-11-25T18:00:00Z", published, 1)
}

// briefsConfig writes a complete config (its SMTP server is never
// called by the briefs commands) and returns its path.
func briefsConfig(c *cli) string {
	c.t.Helper()
	return c.config(startSink(c.t), "127.0.0.1:18080")
}

func TestBriefsImport(t *testing.T) {
	c := newCLI(t)
	cfg := briefsConfig(c)
	dir := filepath.Join(c.dir, "briefs")
	c.write("briefs/a.md", briefWith("a", "lagos", "2026-11-25T18:00:00Z"))
	c.write("briefs/2026/11/b.md", briefWith("b", "bxl", "2026-11-25T19:00:00Z"))
	c.write("briefs/2026/c.md", briefWith("c", "dc", "2026-11-25T20:00:00Z"))
	c.write("briefs/.draft.md", "not a brief at all")
	c.write("briefs/.git/HEAD.md", "not a brief either")
	c.write("briefs/notes.txt", "ignored")

	steps := []struct {
		name     string
		edit     func()
		args     []string
		wantCode int
		want     []string // substrings of stdout (exit 0) or stderr
		wantNot  []string
	}{{
		name: "dry run on an empty database",
		args: []string{"--dry-run", dir}, want: []string{"would be added a ", "dry run, nothing written: would have 3 files: 3 added, 0 updated, 0 restored, 0 unchanged"},
	}, {
		name: "import nested, skipping dotfiles",
		args: []string{dir}, want: []string{"added a (lagos", "added b (bxl", "added c (dc", "3 files: 3 added, 0 updated, 0 restored, 0 unchanged"},
		wantNot: []string{"draft", "HEAD"},
	}, {
		name: "same directory again: nothing changes",
		args: []string{dir}, want: []string{"unchanged a ", "3 files: 0 added, 0 updated, 0 restored, 3 unchanged"},
	}, {
		name: "one file edited",
		edit: func() {
			c.write("briefs/2026/11/b.md", strings.Replace(briefWith("b", "bxl", "2026-11-25T19:00:00Z"), "Port congestion eases", "Port congestion clears", 1))
		},
		args: []string{dir}, want: []string{"updated b ", "3 files: 0 added, 1 updated, 0 restored, 2 unchanged"},
	}, {
		name: "an invalid file: nothing written, file:line: field named",
		edit: func() {
			c.write("briefs/2026/c.md", strings.Replace(briefWith("c", "dc", "2026-11-25T20:00:00Z"), "headline: Port congestion eases", "headline: Changed", 1))
			c.write("briefs/z/bad.md", briefWith("zz", "atlantis", "2026-11-25T20:00:00Z"))
		},
		args: []string{dir}, wantCode: 1, want: []string{"nothing imported", filepath.Join(dir, "z", "bad.md") + ":3: region:", "atlantis"},
	}, {
		name: "two files with one slug: both named",
		edit: func() {
			os.Remove(filepath.Join(dir, "z", "bad.md"))
			c.write("briefs/z/dup.md", briefWith("a", "lagos", "2026-11-25T20:00:00Z"))
		},
		args: []string{dir}, wantCode: 1, want: []string{filepath.Join(dir, "z", "dup.md") + `: slug: "a" is also the slug of ` + filepath.Join(dir, "a.md")},
	}, {
		name: "an empty directory",
		args: []string{filepath.Join(dir, "2026", "11", "none")}, wantCode: 1, want: []string{"none"},
		edit: func() { os.MkdirAll(filepath.Join(dir, "2026", "11", "none"), 0o755) },
	}}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.edit != nil {
				s.edit()
			}
			code, stdout, stderr := c.run(append([]string{"--config", cfg, "briefs", "import"}, s.args...)...)
			out := stdout
			if s.wantCode != 0 {
				out = stderr
			}
			if code != s.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, s.wantCode, stdout, stderr)
			}
			for _, w := range s.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range s.wantNot {
				if strings.Contains(stdout+stderr, w) {
					t.Errorf("output mentions %q:\n%s%s", w, stdout, stderr)
				}
			}
		})
	}
	// The failed imports wrote nothing: c keeps its old headline.
	_, stdout, _ := c.run("--config", cfg, "briefs", "show", "c", "--format", "json")
	var got briefJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || got.Headline != "Port congestion eases" {
		t.Errorf("after failed imports, c = %q (%v), want its old headline\n%s", got.Headline, err, stdout)
	}
}

func TestBriefsListShowRemove(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080")
	c.write("briefs/old.md", briefWith("old", "lagos", "2026-11-24T08:00:00Z"))
	c.write("briefs/sent.md", briefWith("sent", "lagos", "2026-11-25T18:00:00Z"))
	c.write("briefs/bxl.md", briefWith("bxl-one", "bxl", "2026-11-25T19:00:00Z"))
	c.write("briefs/unsent.md", briefWith("unsent", "dc", "2026-11-25T20:00:00Z"))
	for _, args := range [][]string{
		{"briefs", "import", filepath.Join(c.dir, "briefs")},
		{"subscribers", "add", "ada@example.com", "--regions", "lagos", "--send-time", "06:00"},
	} {
		if code, _, stderr := c.run(append([]string{"--config", cfg}, args...)...); code != 0 {
			t.Fatal(stderr)
		}
	}
	// 06:30 in Lagos on the 26th: ada gets "sent" (and not "old", too old).
	if code, stdout, stderr := c.run("--config", cfg, "send", "--now", "2026-11-26T05:30:00Z"); code != 0 || !strings.Contains(stdout, "sent 1") {
		t.Fatalf("send: exit %d\n%s%s", code, stdout, stderr)
	}

	list := func(args ...string) []briefSummaryJSON {
		t.Helper()
		code, stdout, stderr := c.run(append([]string{"--config", cfg, "briefs", "list", "--format", "json", "--now", "2026-11-26T06:00:00Z"}, args...)...)
		var out []briefSummaryJSON
		if code != 0 || json.Unmarshal([]byte(stdout), &out) != nil {
			t.Fatalf("briefs list %v: exit %d\n%s%s", args, code, stdout, stderr)
		}
		return out
	}
	slugs := func(ls []briefSummaryJSON) string {
		var s []string
		for _, l := range ls {
			s = append(s, l.Slug)
		}
		return strings.Join(s, " ")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "unsent bxl-one sent old"},
		{[]string{"--region", "lagos"}, "sent old"},
		{[]string{"--since", "24h"}, "unsent bxl-one sent"},
		{[]string{"--since", "2026-11-25"}, "unsent bxl-one sent"},
		{[]string{"--since", "2d", "--limit", "2"}, "unsent bxl-one"},
	} {
		if got := slugs(list(tt.args...)); got != tt.want {
			t.Errorf("briefs list %v = %q, want %q", tt.args, got, tt.want)
		}
	}
	ls := list("--region", "lagos")
	if ls[0].SentTo != 1 || ls[0].Signals != 1 || ls[0].PublishedLocal == nil || ls[0].PublishedLocal.Format("15:04 -0700") != "19:00 +0100" {
		t.Errorf("listed sent brief = %+v, want sent to 1, 1 signal, local 19:00 +0100", ls[0])
	}
	if code, _, stderr := c.run("--config", cfg, "briefs", "list", "--region", "mars"); code != 2 || !strings.Contains(stderr, "mars") {
		t.Errorf("unknown region: exit %d %q, want 2", code, stderr)
	}
	if code, _, stderr := c.run("--config", cfg, "briefs", "list", "--since", "yesterday"); code != 2 || !strings.Contains(stderr, "--since") {
		t.Errorf("bad --since: exit %d %q, want 2", code, stderr)
	}
	code, stdout, _ := c.run("--config", cfg, "briefs", "list")
	for _, w := range []string{"SLUG", "SENT TO", "sent", "2026-11-25 18:00Z", "2026-11-25 19:00 WAT", "Port congestion eases"} {
		if code != 0 || !strings.Contains(stdout, w) {
			t.Errorf("briefs list table lacks %q:\n%s", w, stdout)
		}
	}

	code, stdout, _ = c.run("--config", cfg, "briefs", "show", "sent")
	for _, w := range []string{"brief sent", "headline    Port congestion eases", "Trucks move again.", "1. What it means",
		"- Port data <https://example.org/port>", "- Hauliers", "sent        1", "first sent", "The **news** body."} {
		if code != 0 || !strings.Contains(stdout, w) {
			t.Errorf("briefs show lacks %q:\n%s", w, stdout)
		}
	}
	if code, _, stderr := c.run("--config", cfg, "briefs", "show", "nope"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("show unknown: exit %d %q", code, stderr)
	}

	code, stdout, _ = c.run("--config", cfg, "briefs", "remove", "unsent")
	if code != 0 || !strings.Contains(stdout, "deleted unsent") {
		t.Errorf("remove unsent: exit %d %q", code, stdout)
	}
	if code, _, _ := c.run("--config", cfg, "briefs", "show", "unsent"); code != 1 {
		t.Errorf("the deleted brief is still shown")
	}
	code, stdout, _ = c.run("--config", cfg, "briefs", "remove", "sent")
	if code != 0 || !strings.Contains(stdout, "marked sent removed") || !strings.Contains(stdout, "1 delivery records") {
		t.Errorf("remove sent: exit %d %q", code, stdout)
	}
	if got := slugs(list()); got != "bxl-one old" {
		t.Errorf("list after remove = %q", got)
	}
	if got := slugs(list("--include-removed")); got != "bxl-one sent old" {
		t.Errorf("list --include-removed = %q", got)
	}
	if _, stdout, _ := c.run("--config", cfg, "briefs", "show", "sent"); !strings.Contains(stdout, "REMOVED") {
		t.Errorf("show of a removed brief does not say so:\n%s", stdout)
	}

	// A new reader of lagos would have had "sent"; now the next pass
	// carries nothing, so no message.
	if code, _, stderr := c.run("--config", cfg, "subscribers", "add", "ben@example.com", "--regions", "lagos", "--send-time", "06:00"); code != 0 {
		t.Fatal(stderr)
	}
	code, stdout, _ = c.run("--config", cfg, "send", "--now", "2026-11-26T05:45:00Z")
	if code != 0 || len(sink.Messages()) != 1 || !strings.Contains(stdout, "nothing new 1") {
		t.Errorf("pass after removal: exit %d, %d messages in all\n%s", code, len(sink.Messages()), stdout)
	}

	// Importing it again brings it back.
	code, stdout, _ = c.run("--config", cfg, "briefs", "import", filepath.Join(c.dir, "briefs"))
	if code != 0 || !strings.Contains(stdout, "restored sent") || !strings.Contains(stdout, "1 added, 0 updated, 1 restored, 2 unchanged") {
		t.Errorf("re-import: exit %d\n%s", code, stdout)
	}
}
