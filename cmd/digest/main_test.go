package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/newsroom/digest/templates"
)

// cli runs the digest command in-process, as a user would from a shell.
type cli struct {
	t   *testing.T
	env map[string]string
	dir string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, dir: t.TempDir(), env: map[string]string{
		"DIGEST_SECRET":        "test-secret-0123456789abcdef0123456789",
		"DIGEST_SMTP_PASSWORD": "not-used-here",
	}}
}

func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	return c.runCtx(context.Background(), args...)
}

func (c *cli) runCtx(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
	code = run(ctx, args, strings.NewReader(""), &out, &errb, getenv)
	return code, out.String(), errb.String()
}

func (c *cli) write(name, content string) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// config writes a config file for an SMTP server on loopback.
func (c *cli) config(sink *smtpsink.Server, listen string) string {
	c.t.Helper()
	return c.write("digest.yaml", fmt.Sprintf(`database: %s
base_url: https://news.example.org/digest
from: "The Regional Brief <digest@news.example.org>"
postal_address: "1 Example Square, Example City"
secret: ${DIGEST_SECRET}
schedule: "*/5 * * * *"
http:
  listen: %s
smtp:
  host: 127.0.0.1
  port: %d
  tls: none
`, filepath.Join(c.dir, "digest.db"), listen, sink.Port()))
}

func startSink(t *testing.T) *smtpsink.Server {
	t.Helper()
	s, err := smtpsink.Start(context.Background(), smtpsink.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const briefFile = `---
slug: lagos-port
region: lagos
headline: Port congestion eases
lede: Trucks move again.
published_at: 2026-11-25T18:00:00Z
author: Desk
signals:
  - title: What it means
    body: Cheaper imports.
    sources: [{name: Port data, url: https://example.org/port}, {name: Hauliers}]
---
The **news** body.
`

func TestDemo(t *testing.T) {
	c := newCLI(t)
	out := filepath.Join(c.dir, "demo-out")
	code, stdout, stderr := c.run("demo", "--out", out)
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	emls, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	htmls, _ := filepath.Glob(filepath.Join(out, "*.html"))
	if len(emls) < 5 || len(emls) != len(htmls) {
		t.Fatalf("demo wrote %d .eml and %d .html files, want the same number, at least 5\n%s", len(emls), len(htmls), stdout)
	}
	if !strings.Contains(stdout, fmt.Sprintf("%d messages received", len(emls))) || !strings.Contains(stdout, "not due yet") {
		t.Errorf("demo summary does not match what it wrote:\n%s", stdout)
	}
	h, _ := os.ReadFile(htmls[0])
	if !bytes.Contains(h, []byte("<html")) || !bytes.Contains(h, []byte("role=\"presentation\"")) {
		t.Errorf("%s does not look like the digest HTML", htmls[0])
	}
	// A second run starts from a fresh database: the same messages again.
	code, stdout2, _ := c.run("demo", "--out", out)
	emls2, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	if code != 0 || len(emls2) != len(emls) {
		t.Errorf("second demo run: exit %d, %d messages (first run %d)\n%s", code, len(emls2), len(emls), stdout2)
	}
}

func TestBriefsSubscribersSend(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080") // never bound: only serve listens

	good := c.write("briefs/good.md", briefFile)
	bad := c.write("briefs/bad.md", strings.Replace(strings.Replace(briefFile, "region: lagos", "region: atlantis", 1), "lagos-port", "other", 1))
	code, _, stderr := c.run("--config", cfg, "briefs", "add", good, bad)
	if code != 1 || !strings.Contains(stderr, "bad.md") || !strings.Contains(stderr, "region") {
		t.Fatalf("briefs add with a bad file: exit %d, stderr %q; want 1 naming bad.md and region", code, stderr)
	}
	code, stdout, stderr := c.run("--config", cfg, "briefs", "add", good)
	if code != 0 || !strings.Contains(stdout, "added lagos-port") {
		t.Fatalf("briefs add: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = c.run("--config", cfg, "briefs", "add", good)
	if code != 0 || !strings.Contains(stdout, "updated lagos-port") {
		t.Errorf("re-adding a brief: exit %d %q, want an update", code, stdout)
	}

	code, _, stderr = c.run("--config", cfg, "subscribers", "add", "ada@example.com", "--name", "Ada Okafor", "--regions", "lagos,bxl", "--send-time", "06:30")
	if code != 0 {
		t.Fatalf("subscribers add: exit %d: %s", code, stderr)
	}
	code, _, stderr = c.run("--config", cfg, "subscribers", "add", "ADA@example.com", "--regions", "lagos")
	if code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("duplicate subscriber (case-insensitive): exit %d %q", code, stderr)
	}
	code, _, stderr = c.run("--config", cfg, "subscribers", "add", "bob@example.com", "--regions", "lagos,mars")
	if code != 2 || !strings.Contains(stderr, "mars") {
		t.Errorf("unknown region: exit %d %q, want 2 naming the region", code, stderr)
	}
	code, stdout, _ = c.run("--config", cfg, "subscribers", "list", "--format", "json")
	if code != 0 || !strings.Contains(stdout, `"email": "ada@example.com"`) || !strings.Contains(stdout, `"timezone": "Africa/Lagos"`) {
		t.Errorf("subscribers list: exit %d\n%s", code, stdout)
	}

	// 05:00Z is 06:00 in Lagos: not yet 06:30.
	code, stdout, _ = c.run("--config", cfg, "send", "--now", "2026-11-26T05:00:00Z")
	if code != 0 || !strings.Contains(stdout, "not due yet 1") || len(sink.Messages()) != 0 {
		t.Fatalf("send before send time: exit %d, %d messages\n%s", code, len(sink.Messages()), stdout)
	}
	code, stdout, _ = c.run("--config", cfg, "send", "--now", "2026-11-26T05:30:00Z", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "would send (dry run) 1") || len(sink.Messages()) != 0 {
		t.Fatalf("dry run: exit %d, %d messages\n%s", code, len(sink.Messages()), stdout)
	}
	code, stdout, _ = c.run("--config", cfg, "send", "--now", "2026-11-26T05:30:00Z")
	if code != 0 || !strings.Contains(stdout, "sent 1") || len(sink.Messages()) != 1 {
		t.Fatalf("send: exit %d, %d messages\n%s", code, len(sink.Messages()), stdout)
	}
	code, stdout, _ = c.run("--config", cfg, "send", "--now", "2026-11-26T06:30:00Z")
	if code != 0 || !strings.Contains(stdout, "already sent today 1") || len(sink.Messages()) != 1 {
		t.Errorf("second send the same day: exit %d, %d messages\n%s", code, len(sink.Messages()), stdout)
	}
}

func TestSendFailureExitsNonZero(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080") // never bound: only serve listens
	sink.Close()                             // nobody answers on that port now
	c.write("b.md", briefFile)
	if code, _, stderr := c.run("--config", cfg, "briefs", "add", filepath.Join(c.dir, "b.md")); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr := c.run("--config", cfg, "subscribers", "add", "ada@example.com", "--regions", "lagos"); code != 0 {
		t.Fatal(stderr)
	}
	code, stdout, stderr := c.run("--config", cfg, "send", "--now", "2026-11-26T08:00:00Z")
	if code != 1 || !strings.Contains(stdout, "deferred 1") || !strings.Contains(stderr, "smtp server unavailable") {
		t.Errorf("send to a dead server: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestConfigCheck(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080") // never bound: only serve listens
	if code, stdout, stderr := c.run("config", "check", "--config", cfg); code != 0 || !strings.Contains(stdout, "ok") {
		t.Errorf("valid config: exit %d %s %s", code, stdout, stderr)
	}
	bad := c.write("bad.yaml", "database: x.db\nsmtp:\n  hots: example.org\n")
	code, _, stderr := c.run("config", "check", "--config", bad)
	if code == 0 || !strings.Contains(stderr, "hots") {
		t.Errorf("unknown key: exit %d %q, want the key named", code, stderr)
	}
	delete(c.env, "DIGEST_SECRET")
	code, _, stderr = c.run("config", "check", "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "DIGEST_SECRET") {
		t.Errorf("unset secret variable: exit %d %q", code, stderr)
	}
	if code, _, _ := c.run("send", "--config", filepath.Join(c.dir, "missing.yaml")); code == 0 {
		t.Errorf("missing config file accepted")
	}
	if code, _, _ := c.run("send", "--bogus-flag"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
}

func TestServeRunsAPassAndShutsDown(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := c.config(sink, addr)
	c.write("b.md", strings.Replace(briefFile, "2026-11-25T18:00:00Z", time.Now().UTC().Add(-time.Hour).Format(time.RFC3339), 1))
	if code, _, stderr := c.run("--config", cfg, "briefs", "add", filepath.Join(c.dir, "b.md")); code != 0 {
		t.Fatal(stderr)
	}
	// Send time 00:00 in UTC: due whenever the test runs.
	if code, _, stderr := c.run("--config", cfg, "subscribers", "add", "ada@example.com", "--regions", "lagos", "--timezone", "UTC", "--send-time", "00:00"); code != 0 {
		t.Fatal(stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr string
	go func() {
		code, _, e := c.runCtx(ctx, "--config", cfg, "serve")
		stderr = e
		done <- code
	}()
	// The start-up pass sends the digest without waiting for a tick.
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if _, err := sink.Wait(wctx, 1); err != nil {
		cancel()
		<-done
		t.Fatalf("no digest from the start-up pass: %v\n%s", err, stderr)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz = %d", resp.StatusCode)
	}
	// The server has the message a moment before the sender records it:
	// wait for the record, not for a time.
	var body []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatalf("metrics: %v", err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `digest_deliveries_total{state="sent"} 1`) {
			break
		}
	}
	if !strings.Contains(string(body), `digest_deliveries_total{state="sent"} 1`) {
		t.Errorf("metrics after one sent digest:\n%.2000s", body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d after SIGTERM-equivalent\n%s", code, stderr)
	}
}

// A broken template stops send at start-up, naming the file and line,
// before any reader is touched.
func TestBrokenTemplateStopsStartUp(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080")
	tdir := filepath.Join(c.dir, "templates")
	for _, name := range []string{"digest.html.tmpl", "digest.txt.tmpl", "subject.txt.tmpl"} {
		src, err := templates.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "digest.txt.tmpl" {
			src = append(src, []byte("\n{{ .NoSuchField }}\n{{ if }}\n")...)
		}
		c.write(filepath.Join("templates", name), string(src))
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.write("digest.yaml", string(b)+"templates_dir: "+tdir+"\n")
	if code, _, stderr := c.run("--config", cfg, "subscribers", "add", "ada@example.com", "--regions", "lagos"); code != 0 {
		t.Fatal(stderr)
	}
	code, stdout, stderr := c.run("--config", cfg, "send", "--now", "2026-11-26T08:00:00Z")
	if code != 1 || !strings.Contains(stderr, "digest.txt.tmpl:") || stdout != "" {
		t.Errorf("send with a broken template: exit %d\nstdout %q\nstderr %q\nwant exit 1 naming digest.txt.tmpl and its line, nothing on stdout", code, stdout, stderr)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Errorf("%d messages sent with a broken template", n)
	}
}
