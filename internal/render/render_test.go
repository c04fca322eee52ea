package render

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/templates"
	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestGolden(t *testing.T) {
	r := newRenderer(t)
	out, err := r.Render(fixtureInput())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	files := map[string]string{
		"digest.html": out.HTML,
		"digest.txt":  out.Text,
		"subject.txt": "Subject: " + out.Subject + "\nPreheader: " + out.Preheader + "\n",
	}
	for name, got := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s; run go test -update and review the diff\n%s", name, path, firstDiff(string(want), got))
			}
		})
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\nwant: " + wl + "\ngot:  " + gl
		}
	}
	return ""
}

func TestFixtureContent(t *testing.T) {
	r := newRenderer(t)
	out, err := r.Render(fixtureInput())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if want := "Your digest for Thursday, 26 November: Lagos, Brussels, Singapore"; out.Subject != want {
		t.Errorf("subject = %q, want %q", out.Subject, want)
	}
	if !strings.HasPrefix(out.Preheader, "Blue Line rail extension opens to Mile 2") {
		t.Errorf("preheader = %q, want the first headline first", out.Preheader)
	}
	doc := parseHTML(t, out.HTML)
	shown := textContent(doc) // what a reader sees, plus where links lead
	walk(doc, func(n *html.Node) {
		if href, ok := attr(n, "href"); ok {
			shown += "\n" + href
		}
	})
	for _, part := range []struct{ name, body string }{{"HTML", shown}, {"text", out.Text}} {
		for _, want := range []string{
			"Adaeze Okonkwo-Brandt", "Zoë Lambert", "25 November 2026, 14:34 WAT", "25 November 2026, 22:10 CET",
			"https://brief.example.com/u/1?t=abc", "https://brief.example.com/p/1?t=abc", "12 Marina Road",
			"adaeze@example.com", "Ministry of Transport",
		} {
			if !strings.Contains(part.body, want) {
				t.Errorf("%s part lacks %q", part.name, want)
			}
		}
		if strings.Contains(part.body, "Subway fares frozen") {
			t.Errorf("%s part shows a brief of a region the reader did not subscribe to", part.name)
		}
	}
	// Sections follow the reader's order; within Lagos the newer brief comes first.
	order := []string{"LAGOS\n=====", "Blue Line rail", "Apapa port fees", "BRUSSELS\n========", "EU finance ministers", "SINGAPORE\n=========", "HDB launches"}
	last := -1
	for _, s := range order {
		i := strings.Index(out.Text, s)
		if i <= last {
			t.Errorf("text part: %q is at %d, want after %d", s, i, last)
		}
		last = i
	}
	if !strings.Contains(strings.Join(strings.Fields(out.Text), " "), "the Lagos, Brussels and Singapore editions") {
		t.Errorf("text footer does not say which editions the reader subscribed to:\n%s", out.Text)
	}
}

func TestArrange(t *testing.T) {
	regions := testRegions(t)
	at := func(h int) time.Time { return time.Date(2026, 11, 25, h, 0, 0, 0, time.UTC) }
	briefs := []digest.Brief{
		{ID: 1, Region: "lagos", PublishedAt: at(8)},
		{ID: 2, Region: "brussels", PublishedAt: at(9)},
		{ID: 3, Region: "lagos", PublishedAt: at(10)},
		{ID: 4, Region: "lagos", PublishedAt: at(10)}, // same instant as 3: higher ID first
		{ID: 5, Region: "singapore", PublishedAt: at(11)},
		{ID: 6, Region: "unknown", PublishedAt: at(12)},
	}
	tests := []struct {
		name  string
		order []string
		want  [][]int64 // brief IDs per section
		codes []string
	}{
		{"reader order", []string{"brussels", "lagos"}, [][]int64{{2}, {4, 3, 1}}, []string{"brussels", "lagos"}},
		{"other order", []string{"lagos", "singapore", "brussels"}, [][]int64{{4, 3, 1}, {5}, {2}}, []string{"lagos", "singapore", "brussels"}},
		{"region without briefs skipped", []string{"new-york", "singapore"}, [][]int64{{5}}, []string{"singapore"}},
		{"unconfigured code dropped", []string{"unknown", "lagos"}, [][]int64{{4, 3, 1}}, []string{"lagos"}},
		{"duplicate code once", []string{"singapore", "singapore"}, [][]int64{{5}}, []string{"singapore"}},
		{"nothing subscribed", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := append([]digest.Brief(nil), briefs...)
			got := sections(regions, tt.order, input)
			var ids [][]int64
			var codes []string
			for _, s := range got {
				codes = append(codes, s.Region.Code)
				var row []int64
				for _, b := range s.Briefs {
					row = append(row, b.ID)
				}
				ids = append(ids, row)
			}
			if !equalIDs(ids, tt.want) || strings.Join(codes, ",") != strings.Join(tt.codes, ",") {
				t.Errorf("sections = %v %v, want %v %v", codes, ids, tt.codes, tt.want)
			}
			for i := range briefs {
				if input[i].ID != briefs[i].ID {
					t.Fatalf("sections reordered its input")
				}
			}
		})
	}
}

func equalIDs(a, b [][]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

func TestDatesInZones(t *testing.T) {
	r := newRenderer(t)
	published := time.Date(2026, 11, 25, 23, 30, 0, 0, time.UTC)
	tests := []struct {
		name       string
		region     string
		readerZone string
		dateline   string // the brief's time, in its region's zone
		digestDate string // the digest's date, in the reader's zone
	}{
		{"Singapore is already on the 26th", "singapore", "Asia/Singapore", "26 November 2026, 07:30 +08", "Thursday, 26 November"},
		{"New York is still on the 25th", "new-york", "America/New_York", "25 November 2026, 18:30 EST", "Wednesday, 25 November"},
		{"brief zone, not reader zone", "singapore", "America/New_York", "26 November 2026, 07:30 +08", "Wednesday, 25 November"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := r.Render(Input{
				Subscriber:     digest.Subscriber{Email: "z@example.com", Regions: []string{tt.region}, TimeZone: tt.readerZone},
				Now:            published.Add(time.Minute),
				Briefs:         []digest.Brief{{ID: 1, Region: tt.region, Headline: "H", PublishedAt: published}},
				UnsubscribeURL: "https://example.com/u",
			})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			for _, part := range []string{textContent(parseHTML(t, out.HTML)), out.Text} {
				if !strings.Contains(part, tt.dateline) {
					t.Errorf("dateline %q missing", tt.dateline)
				}
			}
			if !strings.Contains(out.Subject, tt.digestDate) {
				t.Errorf("subject %q lacks digest date %q", out.Subject, tt.digestDate)
			}
		})
	}
}

func TestReaderZoneDefaultsToFirstRegion(t *testing.T) {
	r := newRenderer(t)
	out, err := r.Render(Input{
		Subscriber:     digest.Subscriber{Email: "z@example.com", Regions: []string{"singapore", "new-york"}},
		Now:            time.Date(2026, 11, 25, 23, 30, 0, 0, time.UTC),
		UnsubscribeURL: "https://example.com/u",
	})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if !strings.Contains(out.Subject, "Thursday, 26 November") {
		t.Errorf("subject %q: want the date in Singapore, the reader's first region", out.Subject)
	}
}

// templateFS returns the default templates with name replaced by content.
func templateFS(t testing.TB, name, content string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, n := range []string{htmlFile, textFile, subjectFile} {
		b, err := templates.FS.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		fsys[n] = &fstest.MapFile{Data: b}
	}
	fsys[name] = &fstest.MapFile{Data: []byte(content)}
	return fsys
}

func TestNewReportsTemplateErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content string
		want    []string // substrings of the error
	}{
		{"HTML parse error", htmlFile, "<!DOCTYPE html>\n<p>fine</p>\n<p>{{.Date</p>\n", []string{"digest.html.tmpl:3"}},
		{"text parse error", textFile, "one\n{{.Date}\nthree", []string{"digest.txt.tmpl:2"}},
		{"subject parse error", subjectFile, "{{if}}", []string{"subject.txt.tmpl:1"}},
		{"HTML unknown field", htmlFile, "<p>\n{{.Date}}\n{{.Headlne}}</p>", []string{"digest.html.tmpl:3", "Headlne"}},
		{"text unknown field in a brief", textFile, "{{range .Sections}}{{range .Briefs}}\n{{.Lead}}{{end}}{{end}}", []string{"digest.txt.tmpl:2", "Lead"}},
		{"unknown function", subjectFile, "{{shout .Date}}", []string{"subject.txt.tmpl:1", "shout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A real directory, as with templates_dir.
			dir := t.TempDir()
			for name, f := range templateFS(t, tt.file, tt.content) {
				if err := os.WriteFile(filepath.Join(dir, name), f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := New(os.DirFS(dir), Options{Regions: testRegions(t)})
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestNewMissingTemplate(t *testing.T) {
	fsys := templateFS(t, textFile, "")
	delete(fsys, textFile)
	_, err := New(fsys, Options{})
	if err == nil || !strings.Contains(err.Error(), textFile) {
		t.Errorf("New without %s: err = %v, want one naming the file", textFile, err)
	}
}

func TestHTMLStructure(t *testing.T) {
	r := newRenderer(t)
	out, err := r.Render(fixtureInput())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if !strings.HasPrefix(out.HTML, "<!DOCTYPE html>") {
		t.Errorf("HTML does not start with <!DOCTYPE html>")
	}
	doc := parseHTML(t, out.HTML)
	for _, p := range append(layoutProblems(doc), unsafeHTML(doc)...) {
		t.Error(p)
	}
	var metas []string
	widths := 0
	walk(doc, func(n *html.Node) {
		if n.Data == "meta" {
			name, _ := attr(n, "name")
			content, _ := attr(n, "content")
			charset, _ := attr(n, "charset")
			metas = append(metas, name+"="+content+charset)
		}
		if n.Data == "table" {
			if w, _ := attr(n, "width"); w == "600" {
				if style, _ := attr(n, "style"); strings.Contains(style, "max-width:600px") {
					widths++
				}
			}
		}
		if n.Data == "img" {
			if alt, _ := attr(n, "alt"); alt != "A blue train at Mile 2 station" {
				t.Errorf("img alt = %q", alt)
			}
		}
	})
	for _, want := range []string{"=utf-8", "viewport=width=device-width, initial-scale=1", "color-scheme=light dark", "supported-color-schemes=light dark"} {
		if !strings.Contains(strings.Join(metas, "\n"), want) {
			t.Errorf("no meta %q in %q", want, metas)
		}
	}
	if widths != 1 {
		t.Errorf("found %d 600px columns, want 1", widths)
	}
	if !strings.Contains(out.HTML, "&#847;&zwnj;&nbsp;") {
		t.Errorf("no preheader padding")
	}
}

func TestHostileContent(t *testing.T) {
	r := newRenderer(t)
	in := fixtureInput()
	in.Subscriber.Name = "Eve\r\nBcc: victim@example.com"
	in.Briefs = []digest.Brief{{
		ID: 1, Region: "lagos", Slug: "evil",
		Headline:    "Breaking\r\nBcc: x@example.com <script>alert(1)</script>",
		Lede:        `"><img src=x onerror=alert(1)>`,
		Author:      "<b onmouseover=alert(1)>me</b>",
		Body:        "<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) [z](data:text/html;base64,PHNjcmlwdD4=) [rel](/relative)\n\n<a href=\"javascript:alert(1)\" onclick=\"alert(1)\">raw</a>\n\n![pic](javascript:alert(1))\n\n<style>body{display:none}</style>\n\n<div style=\"x\" class=\"y\" onload=\"alert(1)\">div</div>",
		PublishedAt: fixedNow,
		Image:       &digest.Image{URL: "javascript:alert(1)", Alt: `" onerror="alert(1)`},
		Signals: []digest.Signal{{
			Title: "<svg onload=alert(1)>",
			Body:  "<iframe src=javascript:alert(1)></iframe> **ok**",
			Sources: []digest.Source{
				{Name: "Evil", URL: "javascript:alert(document.cookie)"},
				{Name: "<script>x</script>", URL: "https://example.com/\"onmouseover=\"alert(1)"},
			},
		}},
	}}
	out, err := r.Render(in)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	doc := parseHTML(t, out.HTML)
	for _, p := range unsafeHTML(doc) {
		t.Error(p)
	}
	for _, p := range layoutProblems(doc) {
		t.Error(p)
	}
	var headline string
	walk(doc, func(n *html.Node) {
		if n.Data == "h3" && n.FirstChild != nil {
			headline = n.FirstChild.Data
		}
		if n.Data == "style" && n.Parent.Data != "head" {
			t.Errorf("<style> outside <head>")
		}
		if _, ok := attr(n, "class"); ok && n.Data == "div" {
			t.Errorf("div from Markdown kept its class")
		}
	})
	if want := "Breaking Bcc: x@example.com <script>alert(1)</script>"; headline != want {
		t.Errorf("headline text = %q, want %q (shown, on one line)", headline, want)
	}
	if strings.Contains(strings.ToLower(out.HTML), "javascript:") {
		t.Errorf("HTML contains javascript:")
	}
	if strings.ContainsAny(out.Subject, "\r\n") {
		t.Errorf("subject %q spans lines", out.Subject)
	}
	if strings.ContainsAny(out.Preheader, "\r\n") {
		t.Errorf("preheader %q spans lines", out.Preheader)
	}
	if strings.Contains(strings.ToLower(out.Text), "javascript:") || strings.Contains(out.Text, "\r") {
		t.Errorf("text part carries a javascript: URL or a CR:\n%s", out.Text)
	}
	if !strings.Contains(out.Text, "Breaking Bcc: x@example.com") {
		t.Errorf("text headline not on one line:\n%s", out.Text)
	}
}

func TestSubject(t *testing.T) {
	r := newRenderer(t)
	regions := testRegions(t)
	long := regions
	for i := 0; i < 12; i++ {
		long = append(long, digest.Region{Code: "r" + strconv.Itoa(i), Name: "Region With A Long Name " + strconv.Itoa(i)})
	}
	tests := []struct {
		name    string
		regions digest.Regions
		want    string
	}{
		{"two regions", regions[:2], "Your digest for Thursday, 26 November: Lagos, Brussels"},
		{"five regions", regions, "Your digest for Thursday, 26 November: Lagos, Brussels, Singapore, New York, São Paulo"},
		{"many regions", long, "Your digest for Thursday, 26 November: Lagos, Brussels, Singapore, New York, São Paulo +12 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.opts.Regions = tt.regions
			var briefs []digest.Brief
			for i, reg := range tt.regions {
				briefs = append(briefs, digest.Brief{ID: int64(i + 1), Region: reg.Code, Headline: "H", PublishedAt: fixedNow})
			}
			out, err := r.Render(Input{
				Subscriber:     digest.Subscriber{Email: "a@example.com", Regions: tt.regions.Codes(), TimeZone: "Africa/Lagos"},
				Now:            fixedNow,
				Briefs:         briefs,
				UnsubscribeURL: "https://example.com/u",
			})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if out.Subject != tt.want {
				t.Errorf("subject = %q, want %q", out.Subject, tt.want)
			}
			if n := utf8.RuneCountInString(out.Subject); n > subjectMax {
				t.Errorf("subject is %d runes long", n)
			}
		})
	}
}

func TestSubjectTemplateOutputIsOneShortLine(t *testing.T) {
	fsys := templateFS(t, subjectFile, "{{.Publisher}}\r\n{{.Email}}\t{{range .Sections}}{{range .Briefs}}{{.Headline}} {{.Headline}} {{end}}{{end}}\n")
	r, err := New(fsys, Options{Regions: testRegions(t), PublisherName: "The\nBrief"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	in := fixtureInput()
	out, err := r.Render(in)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if strings.ContainsFunc(out.Subject, func(r rune) bool { return r < ' ' }) {
		t.Errorf("subject %q has control characters", out.Subject)
	}
	if n := utf8.RuneCountInString(out.Subject); n > subjectMax || !strings.HasSuffix(out.Subject, "…") {
		t.Errorf("subject %q (%d runes) not cut to %d with an ellipsis", out.Subject, n, subjectMax)
	}
	if !strings.HasPrefix(out.Subject, "The Brief adaeze@example.com Blue Line") {
		t.Errorf("subject %q", out.Subject)
	}
}

func TestTextPart(t *testing.T) {
	r := newRenderer(t)
	in := fixtureInput()
	in.Briefs = append(in.Briefs, realisticBriefs(testRegions(t)[:3], 6)...)
	out, err := r.Render(in)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	entity := regexp.MustCompile(`&(#[0-9]+|#x[0-9a-fA-F]+|[a-zA-Z]+);`)
	if m := entity.FindString(out.Text); m != "" {
		t.Errorf("text part contains the HTML entity %q", m)
	}
	if strings.Contains(out.Text, "<") && strings.Contains(out.Text, "</") {
		t.Errorf("text part contains markup")
	}
	for i, line := range strings.Split(out.Text, "\n") {
		if utf8.RuneCountInString(line) <= 78 {
			continue
		}
		if !strings.Contains(line, "://") {
			t.Errorf("line %d is %d columns: %q", i+1, utf8.RuneCountInString(line), line)
		}
	}
	for _, want := range []string{"LAGOS\n=====\n", "the minutes (https://example.com/minutes)", "  * What to watch\n", "    Sources: City Council (https://example.com/council)"} {
		if !strings.Contains(out.Text, want) {
			t.Errorf("text part lacks %q", want)
		}
	}
	if strings.Contains(out.Text, "*work starts") || strings.Contains(out.Text, "**") {
		t.Errorf("text part shows emphasis markers")
	}
}

func TestMarkdownText(t *testing.T) {
	md := newMarkdown()
	tests := []struct {
		name, src, want string
	}{
		{"paragraphs wrap", "one two three four five six seven eight nine ten eleven twelve thirteen\nfourteen", "one two three four five six seven eight nine ten eleven twelve\nthirteen fourteen"},
		{"emphasis without markers", "a *b* **c** `d`", "a b c d"},
		{"link", "see [the report](https://example.com/r)", "see the report (https://example.com/r)"},
		{"bare link", "<https://example.com/x>", "https://example.com/x"},
		{"mail link", "[ana@example.com](mailto:ana@example.com)", "ana@example.com"},
		{"unsafe link keeps words", "[click](javascript:alert(1)) [rel](/x)", "click rel"},
		{"tight list", "- one\n- two\n\n1. first\n2. second", "- one\n- two\n\n1. first\n2. second"},
		{"loose list", "- one\n\n- two", "- one\n\n- two"},
		{"ordered start", "3. three\n4. four", "3. three\n4. four"},
		{"nested list", "- one\n  - inner\n- two", "- one\n  - inner\n- two"},
		{"quote", "> quoted *text*", "> quoted text"},
		{"code block", "```\nx := 1\n```", "    x := 1"},
		{"heading", "## Why", "Why\n---"},
		{"entities and escapes", "AT&amp;T \\*not em\\* &copy; &#8364;", "AT&T *not em* © €"},
		{"raw HTML dropped", "a <b>bold</b> c\n\n<div>block</div>", "a bold c"},
		{"image alt kept", "![a chart](https://example.com/c.png)", "a chart"},
		{"hard break", "line one  \nline two", "line one\nline two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(tt.src)
			got := md.text(md.parse(src), src, 64)
			if got != tt.want {
				t.Errorf("text(%q) =\n%s\nwant\n%s", tt.src, got, tt.want)
			}
		})
	}
}

func TestMarkdownHTML(t *testing.T) {
	md := newMarkdown()
	p := `<p style="` + markdownStyle("p", false) + `">`
	tests := []struct {
		name, src, want string
	}{
		{"paragraph", "a *b*", p + `a <em>b</em></p>`},
		{"safe link", "[r](https://example.com/r?a=1&b=2)", p + `<a href="https://example.com/r?a=1&amp;b=2" style="` + markdownStyle("a", false) + `">r</a></p>`},
		{"unsafe link loses target", "[x](javascript:alert(1))", p + `x</p>`},
		{"heading demoted", "# Big", `<h4 style="` + markdownStyle("h4", false) + `">Big</h4>`},
		{"image becomes alt text", "![alt *words*](https://example.com/i.png)", p + `alt <em>words</em></p>`},
		{"code in pre", "```\na < b\n```", `<pre style="` + markdownStyle("pre", false) + `"><code style="` + markdownStyle("code", true) + `">a &lt; b` + "\n" + `</code></pre>`},
		{"raw HTML dropped", "<script>alert(1)</script>", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(tt.src)
			got, err := md.html(md.parse(src), src)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("html(%q) =\n%s\nwant\n%s", tt.src, got, tt.want)
			}
		})
	}
}

func TestRenderRejectsBadInput(t *testing.T) {
	r := newRenderer(t)
	tests := []struct {
		name  string
		edit  func(*Input)
		field string
	}{
		{"no unsubscribe link", func(in *Input) { in.UnsubscribeURL = "" }, "unsubscribe URL"},
		{"unsubscribe not http", func(in *Input) { in.UnsubscribeURL = "javascript:alert(1)" }, "unsubscribe URL"},
		{"preferences not http", func(in *Input) { in.PreferencesURL = "/relative" }, "preferences URL"},
		{"unknown zone", func(in *Input) { in.Subscriber.TimeZone = "Mars/Olympus" }, "time_zone"},
		{"no pass time", func(in *Input) { in.Now = time.Time{} }, "now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fixtureInput()
			tt.edit(&in)
			_, err := r.Render(in)
			var fe *digest.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Render: err = %v, want a field error on %q", err, tt.field)
			}
			if !strings.Contains(err.Error(), in.Subscriber.Email) {
				t.Errorf("error %q does not name the subscriber", err)
			}
		})
	}
}

func TestEmptyDigest(t *testing.T) {
	r := newRenderer(t)
	in := fixtureInput()
	in.Briefs = nil
	in.PreferencesURL = ""
	out, err := r.Render(in)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if out.Subject != "Your digest for Thursday, 26 November" || out.Preheader != "" {
		t.Errorf("subject %q, preheader %q", out.Subject, out.Preheader)
	}
	if !strings.Contains(out.Text, "No new briefs") || !strings.Contains(out.HTML, "No new briefs") {
		t.Errorf("empty digest does not say so")
	}
	for _, p := range append(layoutProblems(parseHTML(t, out.HTML)), unsafeHTML(parseHTML(t, out.HTML))...) {
		t.Error(p)
	}
}

func TestConcurrentRender(t *testing.T) {
	r := newRenderer(t)
	want, err := r.Render(fixtureInput())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			got, err := r.Render(fixtureInput())
			if err == nil && got != want {
				err = errors.New("concurrent render differs")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestSizeUnderGmailClip(t *testing.T) {
	r := newRenderer(t)
	in := fixtureInput()
	in.Subscriber.Regions = testRegions(t).Codes()
	in.Briefs = realisticBriefs(testRegions(t), 20)
	out, err := r.Render(in)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	t.Logf("20-brief digest: HTML %d bytes, text %d bytes", len(out.HTML), len(out.Text))
	if len(out.HTML) >= 80_000 {
		t.Errorf("HTML is %d bytes; Gmail clips messages over 102 KB, keep well under 80000", len(out.HTML))
	}
	if n := bytes.Count([]byte(out.HTML), []byte("<h3 ")); n != 20 {
		t.Errorf("%d briefs shown, want 20", n)
	}
}

func BenchmarkRender(b *testing.B) {
	r := newRenderer(b)
	in := fixtureInput()
	in.Subscriber.Regions = testRegions(b).Codes()
	in.Briefs = realisticBriefs(testRegions(b), 20)
	var size int
	b.ReportAllocs()
	for b.Loop() {
		out, err := r.Render(in)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out.HTML) + len(out.Text)
	}
	b.ReportMetric(float64(size), "bytes/digest")
}

// The shipped templates keep every line of both parts within the 998
// octets of RFC 5322, so the mailer can send them 8bit instead of paying
// for quoted-printable (briefs with very long paragraphs aside).
func TestShippedLinesFitEightBit(t *testing.T) {
	out, err := newRenderer(t).Render(fixtureInput())
	if err != nil {
		t.Fatal(err)
	}
	for part, body := range map[string]string{"html": out.HTML, "text": out.Text} {
		for i, line := range strings.Split(body, "\n") {
			if len(line) > 998 {
				t.Errorf("%s part, line %d: %d octets, over 998: %.80q…", part, i+1, len(line), line)
			}
		}
	}
}
