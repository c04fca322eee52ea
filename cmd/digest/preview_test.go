package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/demo"
	"github.com/newsroom/digest/internal/render"
	"github.com/newsroom/digest/internal/smtpsink"
)

// previewFixture is a database with two briefs in two regions and a reader.
func previewFixture(t *testing.T) (*cli, string, *smtpsink.Server) {
	t.Helper()
	c := newCLI(t)
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080")
	c.write("lagos.md", briefFile)
	c.write("bxl.md", strings.NewReplacer("lagos-port", "bxl-budget", "region: lagos", "region: bxl",
		"Port congestion eases", "Budget deal in Brussels").Replace(briefFile))
	for _, args := range [][]string{
		{"briefs", "add", filepath.Join(c.dir, "lagos.md"), filepath.Join(c.dir, "bxl.md")},
		{"subscribers", "add", "ada@example.com", "--name", "Ada", "--regions", "bxl,lagos"},
	} {
		if code, _, stderr := c.run(append([]string{"--config", cfg}, args...)...); code != 0 {
			t.Fatal(stderr)
		}
	}
	return c, cfg, sink
}

// lastMessage is the last message the SMTP server received.
func lastMessage(t *testing.T, sink *smtpsink.Server) []byte {
	t.Helper()
	msgs := sink.Messages()
	if len(msgs) == 0 {
		t.Fatal("the SMTP server received nothing")
	}
	return msgs[len(msgs)-1].Data
}

// The preview of a reader is byte for byte what the next pass sends them,
// for two readers of one digest whose copies differ in shape (one has no
// name): the pass renders their digest once and sends each a copy spliced
// from its shared pieces.
func TestPreviewEqualsWhatAPassSends(t *testing.T) {
	c, cfg, sink := previewFixture(t)
	if code, _, stderr := c.run("--config", cfg, "subscribers", "add", "bo@example.com", "--regions", "bxl,lagos"); code != 0 {
		t.Fatal(stderr)
	}
	const at = "2026-11-26T08:00:00Z"
	readers := []string{"ada@example.com", "bo@example.com"}
	previews := map[string]map[string]string{} // reader → format → body
	for _, r := range readers {
		previews[r] = map[string]string{}
		for _, f := range []string{"html", "text"} {
			code, stdout, stderr := c.run("--config", cfg, "preview", "--subscriber", r, "--at", at, "--format", f)
			if code != 0 {
				t.Fatalf("preview %s --format %s: exit %d: %s", r, f, code, stderr)
			}
			previews[r][f] = stdout
		}
	}
	if text := previews["ada@example.com"]["text"]; !strings.Contains(text, "Budget deal in Brussels") ||
		strings.Index(text, "Budget deal") > strings.Index(text, "Port congestion") {
		t.Fatalf("preview text lacks the reader's briefs in their order:\n%s", text)
	}
	if previews["ada@example.com"]["text"] == strings.Replace(previews["bo@example.com"]["text"], "bo@example.com", "ada@example.com", -1) {
		t.Fatal("the two readers' previews do not differ beyond the address: the test would not tell their shapes apart")
	}
	// Nothing recorded: the pass that follows still sends.
	code, stdout, _ := c.run("--config", cfg, "send", "--now", at)
	if code != 0 || !strings.Contains(stdout, "sent 2") {
		t.Fatalf("send after preview: %d\n%s", code, stdout)
	}
	for _, m := range sink.Messages() {
		want, ok := previews[m.To[0]]
		if !ok {
			t.Fatalf("a message to %v, who was not previewed", m.To)
		}
		_, got, err := demo.Parts(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		html, _ := demo.PartOf(got, "text/html")
		text, _ := demo.PartOf(got, "text/plain")
		if crlf(string(html.Body)) != crlf(want["html"]) {
			t.Errorf("%s: the HTML sent differs from the preview (%d vs %d bytes)", m.To[0], len(html.Body), len(want["html"]))
		}
		if crlf(string(text.Body)) != crlf(want["text"]) {
			t.Errorf("%s: the text sent differs from the preview:\n--- sent\n%s\n--- preview\n%s", m.To[0], text.Body, want["text"])
		}
		delete(previews, m.To[0])
	}
	if len(previews) != 0 {
		t.Errorf("no message reached %v", previews)
	}
}

// crlf normalises line ends: the SMTP transfer encoding may turn LF into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// A test send goes to the editor with [TEST] and leaves no delivery.
func TestPreviewSendTest(t *testing.T) {
	c, cfg, sink := previewFixture(t)
	code, stdout, stderr := c.run("--config", cfg, "preview", "--regions", "lagos", "--at", "2026-11-26T08:00:00Z", "--send-test", "editor@example.org")
	if code != 0 || !strings.Contains(stdout, "sent a test") {
		t.Fatalf("send-test: exit %d\n%s%s", code, stdout, stderr)
	}
	raw := lastMessage(t, sink)
	msg, _, err := demo.Parts(raw)
	if err != nil {
		t.Fatal(err)
	}
	if subj := msg.Header.Get("Subject"); !strings.HasPrefix(subj, "[TEST] ") || msg.Header.Get("To") != "<editor@example.org>" && !strings.Contains(msg.Header.Get("To"), "editor@example.org") {
		t.Errorf("test message: Subject %q To %q", subj, msg.Header.Get("To"))
	}
	_, stdout, _ = c.run("--config", cfg, "deliveries", "list", "--format", "json")
	if strings.TrimSpace(stdout) != "[]" {
		t.Errorf("a test send left deliveries: %s", stdout)
	}
	if code, _, stderr := c.run("--config", cfg, "preview", "--regions", "lagos", "--send-test", "not an address"); code != 2 {
		t.Errorf("bad --send-test address: exit %d %s", code, stderr)
	}
}

func TestPreviewFormatsAndErrors(t *testing.T) {
	c, cfg, _ := previewFixture(t)
	out := filepath.Join(c.dir, "mix.eml")
	if code, _, stderr := c.run("--config", cfg, "preview", "--regions", "lagos,bxl", "--at", "2026-11-26T08:00:00Z", "--format", "eml", "--out", out); code != 0 {
		t.Fatal(stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	msg, parts, err := demo.Parts(b)
	if err != nil || len(parts) != 2 || msg.Header.Get("List-Unsubscribe-Post") == "" {
		t.Errorf("eml preview: %v, %d parts, headers %v", err, len(parts), msg.Header)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"preview"}, 2, "--subscriber EMAIL or --regions"},
		{[]string{"preview", "--regions", "mars"}, 2, "mars"},
		{[]string{"preview", "--subscriber", "nobody@example.com"}, 1, "no subscriber"},
		{[]string{"preview", "--regions", "sg", "--at", "2026-11-26T08:00:00Z"}, 1, "nothing new"},
		{[]string{"preview", "--regions", "lagos", "--format", "pdf"}, 2, "--format"},
	} {
		code, _, stderr := c.run(append([]string{"--config", cfg}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d %q; want %d mentioning %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// The editor page's findings come from the same linter as digest lint.
func TestPreviewLinterWiring(t *testing.T) {
	pv := delivery.Preview{Output: render.Output{Subject: "s", HTML: "<html><body><p>x</p></body></html>", Text: "x"}}
	fs := previewLinter("1 Example Square")
	var rules []string
	for _, f := range fs(pv) {
		rules = append(rules, f.Rule)
	}
	got := strings.Join(rules, " ")
	for _, want := range []string{"unsubscribe-missing", "postal-missing"} {
		if !strings.Contains(got, want) {
			t.Errorf("findings %q lack %s", got, want)
		}
	}
}
