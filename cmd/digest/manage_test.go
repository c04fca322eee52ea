package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestSubscriberLifecycle drives one reader through the operator's
// commands: show, update, suppress, unsuppress, remove and erase.
func TestSubscriberLifecycle(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080")
	run := func(want int, args ...string) string {
		t.Helper()
		code, stdout, stderr := c.run(append([]string{"--config", cfg}, args...)...)
		if code != want {
			t.Fatalf("digest %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, stdout, stderr)
		}
		return stdout + stderr
	}
	run(0, "subscribers", "add", "ada@example.com", "--name", "Ada", "--regions", "lagos,bxl")

	show := func() subscriberJSON {
		t.Helper()
		var s subscriberJSON
		if err := json.Unmarshal([]byte(run(0, "subscribers", "show", "ADA@example.com", "--format", "json")), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := show(); s.TimeZone != "Africa/Lagos" || s.Status != "active" || strings.Join(s.Regions, ",") != "lagos,bxl" {
		t.Fatalf("after add: %+v", s)
	}
	if out := run(0, "subscribers", "show", "ada@example.com"); !strings.Contains(out, "source      cli") {
		t.Errorf("show lacks the consent source:\n%s", out)
	}

	// New regions: the default zone follows the new first region.
	run(0, "subscribers", "update", "ada@example.com", "--regions", "bxl,sg", "--send-time", "07:15")
	if s := show(); s.TimeZone != "Europe/Brussels" || s.SendTime != "07:15" || strings.Join(s.Regions, ",") != "bxl,sg" || s.Name != "Ada" {
		t.Errorf("after update: %+v", s)
	}
	if out := run(2, "subscribers", "update", "ada@example.com", "--send-time", "25:00"); !strings.Contains(out, "send-time") {
		t.Errorf("bad send time: %s", out)
	}
	if s := show(); s.SendTime != "07:15" {
		t.Errorf("a refused update changed the send time to %s", s.SendTime)
	}
	run(2, "subscribers", "update", "ada@example.com")
	run(1, "subscribers", "update", "nobody@example.com", "--name", "X")

	// Suppression wins over --status active until it is lifted.
	run(0, "subscribers", "suppress", "ada@example.com", "--reason", "asked by phone")
	if s := show(); s.Status != "unsubscribed" {
		t.Errorf("suppressed reader is %s", s.Status)
	}
	if out := run(1, "subscribers", "update", "ada@example.com", "--status", "active"); !strings.Contains(out, "suppressed") {
		t.Errorf("reactivating a suppressed address: %s", out)
	}
	run(0, "subscribers", "unsuppress", "ada@example.com")
	run(1, "subscribers", "unsuppress", "ada@example.com")
	run(0, "subscribers", "update", "ada@example.com", "--status", "active")

	if out := run(0, "subscribers", "remove", "ada@example.com"); !strings.Contains(out, "unsubscribed ada@example.com") {
		t.Errorf("remove: %s", out)
	}
	if s := show(); s.Status != "unsubscribed" {
		t.Errorf("removed reader is %s", s.Status)
	}

	// Erasure leaves nothing but a hash that keeps the address suppressed.
	run(0, "subscribers", "remove", "--erase", "ada@example.com")
	run(1, "subscribers", "show", "ada@example.com")
	if out := run(1, "subscribers", "add", "ada@example.com", "--regions", "lagos"); !strings.Contains(out, "suppressed") {
		t.Errorf("re-adding an erased address: %s", out)
	}
}

func TestCompletionAndVersion(t *testing.T) {
	c := newCLI(t)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, stdout, _ := c.run("completion", sh)
		if code != 0 || !strings.Contains(stdout, "digest") {
			t.Errorf("completion %s: exit %d, %d bytes", sh, code, len(stdout))
		}
	}
	if code, stdout, _ := c.run("--version"); code != 0 || !strings.Contains(stdout, "go1.") {
		t.Errorf("--version: exit %d %q", code, stdout)
	}
	// Tables written to a pipe (here, a buffer) carry no colour codes.
	c.env["NO_COLOR"] = ""
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080")
	c.run("--config", cfg, "subscribers", "add", "ada@example.com", "--regions", "lagos")
	if _, stdout, _ := c.run("--config", cfg, "subscribers", "list", "--format", "table"); strings.Contains(stdout, "\x1b[") {
		t.Errorf("colour codes in piped output: %q", stdout)
	}
}

// Every command an operator can run shows an example in its help.
func TestEveryCommandHasAnExample(t *testing.T) {
	a := &app{getenv: func(string) (string, bool) { return "", false }}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Runnable() && !cmd.HasSubCommands() && cmd.Example == "" && cmd.Name() != "help" && !strings.HasPrefix(cmd.CommandPath(), "digest completion") {
			t.Errorf("%q has no example", cmd.CommandPath())
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(a.rootCmd())
}

// import --confirm stores new readers as pending and mails each a
// confirmation link; nobody pending gets a digest.
func TestImportConfirm(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080")
	c.write("b.md", briefFile)
	if code, _, stderr := c.run("--config", cfg, "briefs", "add", c.dir+"/b.md"); code != 0 {
		t.Fatal(stderr)
	}
	file := c.write("readers.csv", "email,name,regions\r\nkemi@example.com,Kemi,lagos\r\ntunde@example.com,Tunde,lagos\r\n")
	code, stdout, stderr := c.run("--config", cfg, "subscribers", "import", "--confirm", file)
	if code != 0 || !strings.Contains(stdout, "sent 2 confirmation emails") {
		t.Fatalf("import --confirm: exit %d\n%s%s", code, stdout, stderr)
	}
	msgs := sink.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2 confirmation emails", len(msgs))
	}
	for _, m := range msgs {
		if !strings.Contains(string(m.Data), "/confirm/") {
			t.Errorf("message to %v has no confirmation link", m.To)
		}
	}
	_, stdout, _ = c.run("--config", cfg, "subscribers", "list", "--format", "json")
	if strings.Count(stdout, `"status": "pending"`) != 2 || !strings.Contains(stdout, `"consent_source": "import:readers.csv"`) {
		t.Errorf("imported readers:\n%s", stdout)
	}
	c.run("--config", cfg, "send", "--now", "2026-11-26T08:00:00Z")
	if n := len(sink.Messages()); n != 2 {
		t.Errorf("a pass sent %d digests to pending readers", n-2)
	}
}

// digest bench runs a whole pass over generated readers and reports the
// figures; a small run checks it end to end (the figures themselves are for
// people, not assertions).
func TestBenchCommand(t *testing.T) {
	c := newCLI(t)
	code, stdout, stderr := c.run("bench", "--subscribers", "40", "--briefs", "12", "--days", "1", "--dir", c.dir)
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"40 sent in", "raw limit   40 pre-built sends", "% of the raw limit", "(the mean of 40 readers'", "per 1,000 messages", "peak rss", "phases"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("bench output lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, _ := c.run("bench", "--regions", "9"); code != 2 {
		t.Errorf("--regions 9: exit %d, want 2", code)
	}
}

// An unknown command or subcommand is a usage error (exit 2), as the README
// says, and a bare group shows its help.
func TestUnknownCommandIsAUsageError(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{{"frobnicate"}, {"briefs", "frob"}, {"subscribers", "nope", "x"}} {
		if code, _, stderr := c.run(args...); code != 2 || !strings.Contains(stderr, "unknown command") {
			t.Errorf("digest %s: exit %d %q, want 2 and 'unknown command'", strings.Join(args, " "), code, stderr)
		}
	}
	if code, stdout, _ := c.run("briefs"); code != 0 || !strings.Contains(stdout, "import") {
		t.Errorf("bare 'digest briefs': exit %d, want its help listing the subcommands", code)
	}
}
