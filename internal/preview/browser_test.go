package preview_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/links"
	"github.com/newsroom/digest/internal/preview"
	"github.com/newsroom/digest/internal/render"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/token"
	"github.com/newsroom/digest/templates"
)

// chromiumPath is where Debian's chromium package puts the browser;
// .ci/run installs it when it is missing.
const chromiumPath = "/usr/bin/chromium"

// browserPipeline is a real pass over a SQLite file under t.TempDir() and
// the shipped templates. Its sender is never called: a preview sends
// nothing.
type browserPipeline struct {
	db   *sqlite.DB
	pass *delivery.Outbox
}

func newBrowserPipeline(t *testing.T, rs digest.Regions) browserPipeline {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	renderer, err := render.New(templates.FS, render.Options{Regions: rs, PublisherName: "The Regional Brief", PostalAddress: "1 Example Square, Example City"})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	newSender := func() (delivery.Sender, error) {
		t.Error("a preview asked for an SMTP sender")
		return nil, errors.New("previews send nothing")
	}
	pass := delivery.New(db, renderer, newSender, links.New("https://news.example.org/digest", signer), delivery.Options{
		Regions:             rs,
		From:                "The Regional Brief <digest@news.example.org>",
		ListID:              "The Regional Brief <digest.news.example.org>",
		MessageIDDomain:     "news.example.org",
		FirstDigestLookback: 24 * time.Hour,
		LateBriefGrace:      6 * time.Hour,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, nil)
	return browserPipeline{db: db, pass: pass}
}

func (p browserPipeline) addBrief(t *testing.T, slug, region, headline string, published time.Time) {
	t.Helper()
	b := digest.Brief{Slug: slug, Region: region, Headline: headline, Lede: "Lede of " + slug + ".",
		Body: "The news of **" + slug + "**.", Author: "Desk " + region, PublishedAt: published.UTC().Truncate(time.Second)}
	if _, err := p.db.UpsertBrief(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
}

func (p browserPipeline) addSubscriber(t *testing.T, email, name, region, zone string) {
	t.Helper()
	s := digest.Subscriber{Email: email, Name: name, Regions: []string{region}, TimeZone: zone,
		SendTime: digest.TimeOfDay{Hour: 6}, Status: digest.StatusActive}
	if err := p.db.CreateSubscriber(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
}

// artifactDir is where the screenshot goes: $DIGEST_ARTIFACTS (CI keeps
// it), else the test's temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DIGEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// consoleErrors collects what the page logged as an error, threw, or what
// the browser reported (CSP violations, failed loads).
type consoleErrors struct {
	mu   sync.Mutex
	list []string
}

func (c *consoleErrors) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, s)
}

func (c *consoleErrors) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.list...)
}

func (c *consoleErrors) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			c.add("console.error: " + strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		msg := ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
		c.add("exception: " + msg)
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			c.add("browser: " + ev.Entry.Text + " " + ev.Entry.URL)
		}
	}
}

// TestEditorPageInBrowser drives the page in headless Chromium over a real
// pass: pick a reader, see their digest; pick another, see it change; a
// brief file changes and the page reloads by itself; no console errors.
func TestEditorPageInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if testing.Short() {
			t.Skipf("no Chromium at %s and -short: skipping the browser test (.ci/run installs it)", chromiumPath)
		}
		t.Fatalf("the browser test needs Chromium at %s (Debian package chromium; .ci/run installs it): %v", chromiumPath, err)
	}
	rs := regions(t)
	pl := newBrowserPipeline(t, rs)
	now := time.Now()
	pl.addSubscriber(t, "ada@example.com", "Ada Okafor", "bxl", "Europe/Brussels")
	pl.addSubscriber(t, "bola@example.com", "Bola Ade", "lagos", "Africa/Lagos")
	pl.addBrief(t, "bxl-council-budget", "bxl", "Brussels council passes its budget", now.Add(-2*time.Hour))
	pl.addBrief(t, "lagos-port-congestion", "lagos", "Congestion at Apapa eases", now.Add(-3*time.Hour))

	srv := preview.New(pl.pass, pl.db, func(pv delivery.Preview) []preview.Finding {
		return []preview.Finding{{Severity: "info", Rule: "briefs", Message: fmt.Sprintf("%d briefs", len(pv.Briefs))}}
	}, preview.Options{Regions: rs, SendTime: digest.TimeOfDay{Hour: 6}}, nil)
	briefsDir := t.TempDir()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	done, err := srv.Watch(watchCtx, nil, briefsDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopWatch(); <-done })
	hs := httptest.NewServer(srv.Handler()) // on 127.0.0.1
	t.Cleanup(hs.Close)                     // after the browser is gone: it holds /events open

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // CI containers run as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)

	var errs consoleErrors
	// Listen starts the browser, for the life of browserCtx; events before
	// it (none of the page's) are not seen.
	if err := chromedp.Listen(browserCtx, errs.listen); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// A bound on the conversation, so a page that never shows what is
	// awaited fails the test instead of hanging it.
	ctx, cancelTimeout := context.WithTimeout(browserCtx, 2*time.Minute)
	t.Cleanup(cancelTimeout)

	// textHas waits until the text pane shows s: the page updates it
	// after /api/preview answers.
	textHas := func(s string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.getElementById("text").textContent.includes(%q)`, s),
			chromedp.WithPollingMutation())
	}
	// frameLoaded waits until the frame has loaded the email the page
	// pointed it at last.
	frameLoaded := func() chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](`(() => { const f = document.getElementById("email"); return f.getAttribute("src") && f.dataset.loaded === f.getAttribute("src"); })()`,
			chromedp.WithPollingMutation())
	}
	text := func(id string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("read #%s: %v", id, err)
		}
		return v
	}

	// Step 1: the page lists the readers; pick Ada (Brussels).
	if err := chromedp.Do(ctx,
		chromedp.Navigate(hs.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#results button[data-email="bola@example.com"]`)),
		chromedp.Click(chromedp.CSS(`#results button[data-email="ada@example.com"]`)),
		textHas("Brussels council passes its budget"),
		frameLoaded(),
	); err != nil {
		t.Fatalf("pick ada: %v (console: %v)", err, errs.all())
	}
	if subject := text("subject"); subject == "" || subject == "—" {
		t.Errorf("no subject shown for ada: %q", subject)
	}
	if briefs := text("briefs"); !strings.Contains(briefs, "in the first-digest look-back") || !strings.Contains(briefs, "Brussels (bxl)") {
		t.Errorf("briefs table does not say why: %q", briefs)
	}
	if findings := text("findings"); !strings.Contains(findings, "info · briefs: 1 briefs") {
		t.Errorf("findings pane = %q", findings)
	}
	if size := text("size"); !strings.Contains(size, "KB of 102.0 KB") {
		t.Errorf("size = %q", size)
	}
	src, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("email"), "src"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(src.Value, "/render?") || !strings.Contains(src.Value, "ada%40example.com") {
		t.Errorf("frame src = %q", src.Value)
	}

	// Step 2: switch to Bola (Lagos): the content changes; phone width.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#results button[data-email="bola@example.com"]`)),
		textHas("Congestion at Apapa eases"),
		chromedp.Click(chromedp.ID("phone")),
		chromedp.WaitVisible(chromedp.CSS("#email.phone")),
	); err != nil {
		t.Fatalf("switch to bola: %v (console: %v)", err, errs.all())
	}
	if got := text("text"); strings.Contains(got, "Brussels council") {
		t.Errorf("bola's text part still shows ada's brief:\n%s", got)
	}

	// Step 3: a new brief is stored and its file changes: the page
	// reloads by itself.
	pl.addBrief(t, "lagos-rail-line", "lagos", "Lagos rail line opens", now.Add(-time.Hour))
	if err := os.WriteFile(filepath.Join(briefsDir, "lagos-rail-line.md"), []byte("---\nslug: lagos-rail-line\n---\n"), fs.FileMode(0o644)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, textHas("Lagos rail line opens")); err != nil {
		t.Fatalf("reload after a change: %v (console: %v)", err, errs.all())
	}
	// Step 4: a region mix, ticked Lagos first: a made-up reader gets both
	// editions, Lagos first.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`input[name=region][value=lagos]`)),
		chromedp.Click(chromedp.CSS(`input[name=region][value=bxl]`)),
		chromedp.Click(chromedp.ID("show-mix")),
		textHas("Brussels council passes its budget"),
	); err != nil {
		t.Fatalf("region mix: %v (console: %v)", err, errs.all())
	}
	mix := text("text")
	if l, b := strings.Index(mix, "Congestion at Apapa eases"), strings.Index(mix, "Brussels council"); l < 0 || b < l {
		t.Errorf("region mix lagos,bxl: Lagos should come first:\n%s", mix)
	}
	if reader := text("reader"); !strings.Contains(reader, "Region mix") || !strings.Contains(reader, "lagos, bxl") || !strings.Contains(reader, "Africa/Lagos") {
		t.Errorf("reader line of the mix = %q", reader)
	}

	// The screenshot shows the email of the reload, not the one before.
	if err := chromedp.Do(ctx, frameLoaded()); err != nil {
		t.Fatalf("the frame did not load the new email: %v (console: %v)", err, errs.all())
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}

	path := filepath.Join(artifactDir(t), "preview-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	for _, e := range errs.all() {
		t.Errorf("browser reported an error: %s", e)
	}
	// Close the browser first: it holds /events open, and the server's
	// Close waits for its requests.
	cancelTimeout()
	cancelBrowser()
	cancelAlloc()
}
