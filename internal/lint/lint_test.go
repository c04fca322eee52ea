package lint

import (
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/render"
	"github.com/newsroom/digest/templates"
)

const (
	unsubURL = "https://news.example.org/digest/unsubscribe/TOKEN"
	postal   = "1 Example Square\nExample City"
)

const goodHTML = `<!DOCTYPE html><html><head><title>Your digest</title><style>p{color:red}</style></head>
<body><div style="display:none;max-height:0">Port congestion eases &#847;&zwnj;&nbsp;</div>
<h1>Your digest for Thursday</h1>
<p>Hello, Ada.</p>
<h3>Port congestion eases</h3>
<p>Lagos · Desk</p>
<img src="https://example.org/apapa.jpg" alt="Trucks at the gate" width="600" style="height:auto">
<p>The news body.</p>
<h4>What it means</h4>
<p>Sources: <a href="https://example.org/port">Port data</a>, Hauliers</p>
<p><a href="https://news.example.org/digest/preferences/TOKEN">Preferences</a> · <a href="` + unsubURL + `">Unsubscribe</a></p>
<p>1 Example Square<br>Example City</p>
</body></html>`

const goodText = `Your digest for Thursday

Hello, Ada.

Port congestion eases
Lagos · Desk

The news body.

  * What it means
    Sources: Port data (https://example.org/port), Hauliers

Unsubscribe:
` + unsubURL + `

1 Example Square
Example City
`

func goodInput() Input {
	return Input{
		Subject:   "Your digest for Thursday: Lagos",
		Preheader: "Port congestion eases",
		HTML:      goodHTML,
		Text:      goodText,
		Briefs: []digest.Brief{{
			Slug: "lagos-port", Region: "lagos", Headline: "Port congestion eases", Body: "The news body.",
			Signals: []digest.Signal{{Title: "What it means", Body: "Cheaper *imports*."}},
		}},
		UnsubscribeURL: unsubURL,
		PostalAddress:  postal,
	}
}

// replaceHTML returns a change of the fixture's HTML part.
func replaceHTML(old, new string) func(*Input) {
	return func(in *Input) { in.HTML = strings.Replace(in.HTML, old, new, 1) }
}

func replaceText(old, new string) func(*Input) {
	return func(in *Input) { in.Text = strings.Replace(in.Text, old, new, 1) }
}

func TestGoodFixtureHasNoFindings(t *testing.T) {
	if fs := Check(goodInput()); len(fs) != 0 {
		t.Fatalf("a clean digest got findings: %+v", fs)
	}
}

// Each rule fires on a digest crafted to break it, with its severity and a
// message that says what is wrong.
func TestEachRuleFires(t *testing.T) {
	pad := func(n int) func(*Input) {
		return replaceHTML("</body>", "<!--"+strings.Repeat("x", n)+"--></body>")
	}
	tests := []struct {
		name     string
		change   func(*Input)
		severity string
		rule     string
		brief    string
		message  string
	}{
		{"HTML over the Gmail clip", pad(103 * 1024), Error, "html-size", "", "over the 102 KB at which Gmail clips"},
		{"HTML close to the clip", pad(95 * 1024), Warning, "html-size", "", "close to the 102 KB"},
		{"no text part", func(in *Input) { in.Text = " \n\n" }, Error, "text-missing", "", "plain-text part is empty"},
		{"headline missing from text", replaceText("Port congestion eases", "Port"), Error, "text-lost-content", "lagos-port", `plain-text part lacks the headline "Port congestion eases"`},
		{"headline missing from HTML", replaceHTML("<h3>Port congestion eases</h3>", "<h3>Port</h3>"), Error, "text-lost-content", "lagos-port", `HTML part lacks the headline`},
		{"signal title missing from text", replaceText("What it means", "What"), Error, "text-lost-content", "lagos-port", `lacks the signal title "What it means"`},
		{"text much shorter than HTML", replaceHTML("<p>The news body.</p>", "<p>"+strings.Repeat("word ", 300)+"</p>"), Warning, "text-lost-content", "", "looks like it lost content"},
		{"image without alt", replaceHTML(` alt="Trucks at the gate"`, ""), Error, "img-alt", "", `<img> src="https://example.org/apapa.jpg" has no alt text`},
		{"image with empty alt", replaceHTML(`alt="Trucks at the gate"`, `alt=""`), Warning, "img-alt", "", "empty alt"},
		{"image without size", replaceHTML(` width="600"`, ""), Error, "img-size", "", "neither width nor height"},
		{"image with a bad width", replaceHTML(`width="600"`, `width="100%"`), Warning, "img-size", "", `width="100%", not a number of pixels`},
		{"javascript link", replaceHTML("https://example.org/port", "javascript:alert(1)"), Error, "link-scheme", "", `uses "javascript:", not http(s)`},
		{"relative link", replaceHTML("https://example.org/port", "/port"), Error, "link-scheme", "", "is relative"},
		{"empty link", replaceHTML(`href="https://example.org/port"`, `href=""`), Error, "link-empty", "", `<a> "Port data" has no target`},
		{"link without href", replaceHTML(` href="https://example.org/port"`, ""), Error, "link-empty", "", "has no target"},
		{"no unsubscribe link in HTML", replaceHTML(unsubURL, "https://news.example.org/digest/"), Error, "unsubscribe-missing", "", "HTML part has no link to the reader's unsubscribe URL"},
		{"no unsubscribe URL in text", replaceText(unsubURL, ""), Error, "unsubscribe-missing", "", "plain-text part lacks the reader's unsubscribe URL"},
		{"no unsubscribe link at all", func(in *Input) {
			in.UnsubscribeURL = ""
			in.HTML = strings.Replace(in.HTML, ">Unsubscribe<", ">Leave<", 1)
		}, Error, "unsubscribe-missing", "", "HTML part has no unsubscribe link"},
		{"postal line missing from HTML", replaceHTML("<br>Example City", ""), Error, "postal-missing", "", `HTML part lacks the postal address line "Example City"`},
		{"postal line missing from text", replaceText("Example City\n", ""), Error, "postal-missing", "", `plain-text part lacks the postal address line "Example City"`},
		{"no postal address configured", func(in *Input) { in.PostalAddress = " \n" }, Error, "postal-missing", "", "no postal address is configured"},
		{"empty subject", func(in *Input) { in.Subject = "  " }, Error, "empty-field", "", "the subject is empty"},
		{"empty preheader", func(in *Input) { in.Preheader = "" }, Warning, "empty-field", "", "the preheader is empty"},
		{"empty heading", replaceHTML("<h4>What it means</h4>", "<h4> </h4>"), Error, "empty-field", "", "<h4> has no text"},
		{"empty link text", replaceHTML(">Port data<", "><"), Error, "empty-field", "", `<a> href="https://example.org/port" has no text`},
		{"empty paragraph", replaceHTML("<p>The news body.</p>", "<p>The news body.</p><p>\n</p>"), Warning, "empty-field", "", "<p> is empty"},
		{"sources with nothing after", replaceHTML(`<p>Sources: <a href="https://example.org/port">Port data</a>, Hauliers</p>`, "<p>Sources: </p>"), Error, "empty-field", "", `ends with "Sources:" and nothing after it`},
		{"sources line in text", replaceText("Sources: Port data (https://example.org/port), Hauliers", "Sources:"), Error, "empty-field", "", `line 11 of the plain-text part ends with "Sources:"`},
		{"author left empty", replaceHTML("Lagos · Desk", "Lagos · "), Error, "empty-field", "", `has a "·" with nothing on one side`},
		{"name left empty", replaceText("Hello, Ada.", "Hello, ."), Error, "empty-field", "", `line 3 of the plain-text part has ", ."`},
		{"script in a body", func(in *Input) { in.Briefs[0].Body = "The news body.<script>alert(1)</script>" }, Warning, "sanitized-markdown", "lagos-port", `sanitizing the body removed <script>, text "alert(1)"`},
		{"style attribute in a signal", func(in *Input) {
			in.Briefs[0].Signals[0].Body = `<p style="color:red">Cheaper</p>`
		}, Warning, "sanitized-markdown", "lagos-port", `sanitizing the signal "What it means" removed <p style>`},
		{"javascript link in a body", func(in *Input) { in.Briefs[0].Body = "[click](javascript:alert(1))" }, Warning, "sanitized-markdown", "lagos-port", "<a href=javascript:alert(1)>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := goodInput()
			in.Briefs = append([]digest.Brief(nil), in.Briefs...)
			in.Briefs[0].Signals = append([]digest.Signal(nil), in.Briefs[0].Signals...)
			tt.change(&in)
			fs := Check(in)
			for _, f := range fs {
				if f.Rule == tt.rule && f.Severity == tt.severity && f.Brief == tt.brief && strings.Contains(f.Message, tt.message) {
					return
				}
			}
			t.Fatalf("want %s %s (brief %q) with %q; got:\n%s", tt.severity, tt.rule, tt.brief, tt.message, dump(fs))
		})
	}
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Severity + " " + f.Rule + " " + f.Where() + " " + f.Message + "\n")
	}
	return b.String()
}

// The shipped templates, rendering a full 20-brief digest of all six
// editions, give no error finding.
func TestShippedTemplatesPass(t *testing.T) {
	regions := config.Default().Regions
	r, err := render.New(templates.FS, render.Options{Regions: regions, PublisherName: "The Regional Brief", PostalAddress: postal})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, time.November, 26, 6, 0, 0, 0, time.UTC)
	briefs := SampleBriefs(regions, now, 20)
	codes := make([]string, len(regions))
	for i, rg := range regions {
		codes[i] = rg.Code
	}
	out, err := r.Render(render.Input{
		Subscriber:     digest.Subscriber{ID: 1, Email: "ada@example.com", Name: "Ada Okafor", Regions: codes, TimeZone: "Africa/Lagos", Status: digest.StatusActive},
		Now:            now,
		Briefs:         briefs,
		UnsubscribeURL: unsubURL,
		PreferencesURL: "https://news.example.org/digest/preferences/TOKEN",
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := Check(Input{Subject: out.Subject, Preheader: out.Preheader, HTML: out.HTML, Text: out.Text,
		Briefs: briefs, UnsubscribeURL: unsubURL, PostalAddress: postal})
	if errs, _ := Count(fs); errs != 0 || len(fs) != 0 {
		t.Fatalf("the shipped templates give findings on a 20-brief digest (%.1f KB of HTML):\n%s", kb(len(out.HTML)), dump(fs))
	}
}

// SampleBriefs carries nothing the sanitizer changes, so a templates check
// reports only what the templates do.
func TestSampleBriefsAreClean(t *testing.T) {
	for _, b := range SampleBriefs(config.Default().Regions, time.Now(), 6) {
		var c checker
		c.markdown([]digest.Brief{b})
		if len(c.findings) != 0 {
			t.Errorf("%s: %s", b.Slug, dump(c.findings))
		}
	}
}

// Check reads any HTML and text without panicking and with every finding
// well-formed.
func FuzzCheck(f *testing.F) {
	f.Add(goodHTML, goodText, "Body with <b>html</b>")
	f.Add("<a href=%zz>x</a><img src=''>", "", "[x](javascript:1)")
	f.Add("<html><body><p>Sources:</p></body>", "Sources:\n·", "")
	f.Fuzz(func(t *testing.T, html, text, body string) {
		in := goodInput()
		in.HTML, in.Text = html, text
		in.Briefs = []digest.Brief{{Slug: "s", Headline: "h", Body: body}}
		for _, f := range Check(in) {
			if (f.Severity != Error && f.Severity != Warning) || f.Rule == "" || f.Message == "" {
				t.Fatalf("malformed finding %+v", f)
			}
		}
	})
}

// A headline with a control character or a line separator in it reaches
// both parts as render writes it (one line, a space instead), and that is
// no lost content.
func TestHeadlineWithControlCharacters(t *testing.T) {
	in := goodInput()
	in.Briefs = []digest.Brief{{Slug: "lagos-port", Headline: "Port\x01congestion\u2028eases"}}
	for _, f := range Check(in) {
		if f.Rule == "text-lost-content" {
			t.Errorf("false finding: %s", f.Message)
		}
	}
}
