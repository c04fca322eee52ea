package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/newsroom/digest/templates"
)

// TestPreviewServeReloadsTemplates runs previewServe on a real config with
// templates_dir: a template edit reaches the next preview after the page
// is told to reload; a broken edit is reported and the last good templates
// stay in use; cancelling stops it cleanly.
func TestPreviewServeReloadsTemplates(t *testing.T) {
	c := newCLI(t)
	sink := startSink(t)
	cfg := c.config(sink, "127.0.0.1:18080") // digest serve's; the preview listens elsewhere
	tdir := filepath.Join(c.dir, "templates")
	for _, name := range []string{"digest.html.tmpl", "digest.txt.tmpl", "subject.txt.tmpl", "confirm.html.tmpl", "confirm.txt.tmpl", "confirm_subject.txt.tmpl"} {
		src, err := templates.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		c.write(filepath.Join("templates", name), string(src))
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.write("digest.yaml", string(b)+"templates_dir: "+tdir+"\n")
	if code, _, stderr := c.run("--config", cfg, "briefs", "add", c.write("b.md", briefFile)); code != 0 {
		t.Fatal(stderr)
	}

	a := &app{stdout: &strings.Builder{}, stderr: &strings.Builder{}, getenv: func(k string) (string, bool) { v, ok := c.env[k]; return v, ok },
		configPath: cfg, logLevel: "error"}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- a.previewServe(ctx, "127.0.0.1:0", previewServeOptions{onListen: func(ad net.Addr) { addrc <- ad }})
	}()
	var base string
	select {
	case ad := <-addrc:
		base = "http://" + ad.String()
	case err := <-errc:
		t.Fatalf("previewServe: %v", err)
	}
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("previewServe after cancel: %v", err)
		}
	}()

	const at = "2026-11-26T08:00:00Z"
	// The fields of GET /api/preview this test asserts on.
	type previewJSON struct {
		Subject   string            `json:"subject"`
		Briefs    []json.RawMessage `json:"briefs"`
		ReloadErr string            `json:"reload_error"`
	}
	subject := func() previewJSON {
		t.Helper()
		resp, err := http.Get(base + "/api/preview?regions=lagos&at=" + at)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r previewJSON
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d, %v", resp.StatusCode, err)
		}
		return r
	}
	if r := subject(); !strings.HasPrefix(r.Subject, "Your digest for") || len(r.Briefs) != 1 {
		t.Fatalf("before the edit: subject %q, %d briefs", r.Subject, len(r.Briefs))
	}

	events, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()
	lines := bufio.NewScanner(events.Body)
	if !lines.Scan() {
		t.Fatal("no event stream")
	}
	waitReload := func() {
		t.Helper()
		for lines.Scan() {
			if lines.Text() == "event: reload" {
				return
			}
		}
		t.Fatalf("stream ended without a reload: %v", lines.Err())
	}

	c.write(filepath.Join("templates", "subject.txt.tmpl"), "EDITED {{.ShortDate}}\n")
	waitReload()
	if r := subject(); !strings.HasPrefix(r.Subject, "EDITED") || r.ReloadErr != "" {
		t.Errorf("after the edit: subject %q, reload error %q", r.Subject, r.ReloadErr)
	}

	c.write(filepath.Join("templates", "subject.txt.tmpl"), "{{ if }}\n")
	waitReload()
	if r := subject(); !strings.HasPrefix(r.Subject, "EDITED") || !strings.Contains(r.ReloadErr, "subject.txt.tmpl") {
		t.Errorf("after a broken edit: subject %q (want the last good one), reload error %q (want the file named)", r.Subject, r.ReloadErr)
	}
}

func TestPreviewServeRefusesNonLoopback(t *testing.T) {
	a := &app{stdout: &strings.Builder{}, stderr: &strings.Builder{}, getenv: func(string) (string, bool) { return "", false }}
	for _, addr := range []string{"0.0.0.0:8081", ":8081", "192.0.2.1:8081"} {
		err := a.previewServe(context.Background(), addr, previewServeOptions{})
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("%s: err = %v, want a usage error", addr, err)
		}
	}
}
