package briefs

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	digest "github.com/newsroom/digest"
)

var testRegions = digest.Regions{
	{Code: "dc", Name: "Washington, D.C.", TimeZone: "America/New_York"},
	{Code: "bxl", Name: "Brussels", TimeZone: "Europe/Brussels"},
}

// validBrief is a complete brief; the line numbers in the tests' expected
// messages refer to it.
const validBrief = `---
slug: moscow-weighs-washington
region: dc
headline: Moscow weighs Washington's offer
lede: The Kremlin is studying the proposal.
published_at: 2026-11-25T20:34:00+01:00
author: Jane Doe
image:
  url: https://img.example.org/kremlin.jpg
  alt: The Kremlin at dusk
  caption: The Kremlin, seen from the river
  credit: Photo by A. Photographer
signals:
  - title: Izvestia sees an opening
    body: The paper calls the offer *serious*.
    sources:
      - name: Izvestia
        url: https://iz.ru/1
      - name: TASS
  - title: Markets shrug
    sources: [{name: Interfax, url: "https://interfax.ru/2"}]
---
The News, in **Markdown**.

Second paragraph.
`

var wantBrief = digest.Brief{
	Slug:        "moscow-weighs-washington",
	Region:      "dc",
	Headline:    "Moscow weighs Washington's offer",
	Lede:        "The Kremlin is studying the proposal.",
	Body:        "The News, in **Markdown**.\n\nSecond paragraph.",
	Author:      "Jane Doe",
	PublishedAt: time.Date(2026, 11, 25, 19, 34, 0, 0, time.UTC),
	Image: &digest.Image{
		URL:     "https://img.example.org/kremlin.jpg",
		Alt:     "The Kremlin at dusk",
		Caption: "The Kremlin, seen from the river",
		Credit:  "Photo by A. Photographer",
	},
	Signals: []digest.Signal{
		{
			Title:   "Izvestia sees an opening",
			Body:    "The paper calls the offer *serious*.",
			Sources: []digest.Source{{Name: "Izvestia", URL: "https://iz.ru/1"}, {Name: "TASS"}},
		},
		{
			Title:   "Markets shrug",
			Sources: []digest.Source{{Name: "Interfax", URL: "https://interfax.ru/2"}},
		},
	},
}

// show renders a brief for comparison, its image by value.
func show(b digest.Brief) string {
	img := "<nil>"
	if b.Image != nil {
		img = fmt.Sprintf("%#v", *b.Image)
	}
	b.Image = nil
	return fmt.Sprintf("%#v\nimage: %s", b, img)
}

func TestParseValidBrief(t *testing.T) {
	variants := map[string]string{
		"as written": validBrief,
		"CRLF":       strings.ReplaceAll(validBrief, "\n", "\r\n"),
		"BOM":        "\uFEFF" + validBrief,
		"BOM, CRLF":  "\uFEFF" + strings.ReplaceAll(validBrief, "\n", "\r\n"),
	}
	for name, src := range variants {
		t.Run(name, func(t *testing.T) {
			got, err := Parse("briefs/x.md", []byte(src), testRegions)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if show(got) != show(wantBrief) {
				t.Errorf("brief\n got %s\nwant %s", show(got), show(wantBrief))
			}
			if got.PublishedAt.Location() != time.UTC {
				t.Errorf("published at %v, want UTC", got.PublishedAt)
			}
		})
	}
}

func TestParseMinimalBrief(t *testing.T) {
	src := "---\nslug: a\nregion: bxl\nheadline: \"2026\"\npublished_at: 2026-01-02T03:04:05Z\nauthor: A\n---\n    code block first\n"
	got, err := Parse("a.md", []byte(src), testRegions)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got.Headline != "2026" || got.Image != nil || got.Signals != nil || got.Lede != "" {
		t.Errorf("brief %s", show(got))
	}
	if got.Body != "    code block first" {
		t.Errorf("body %q: the first line's Markdown indentation must survive trimming", got.Body)
	}
}

func TestParseRules(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replace old (which must occur in validBrief) with new
		want     []string
	}{
		{"no opening line", "---\nslug", "slug", []string{
			`briefs/x.md: must begin with a "---" line that opens the front matter`}},
		{"no closing line", "---\nThe News", "The News", []string{
			`briefs/x.md: front matter opened on line 1 is not closed by a "---" line`}},
		{"unknown key", "author: Jane Doe", "autor: Jane Doe", []string{
			"briefs/x.md:7: autor: unknown key (known keys here: slug, region, headline, lede, published_at, author, image, signals)",
			"briefs/x.md: author: is required"}},
		{"unknown nested key", "      - name: TASS", "      - name: TASS\n        link: https://tass.ru", []string{
			"briefs/x.md:20: signals[0].sources[1].link: unknown key (known keys here: name, url)"}},
		{"duplicate key", "author: Jane Doe", "author: Jane Doe\nauthor: John Doe", []string{
			"briefs/x.md:8: author: is set twice (first on line 7)"}},
		{"bad slug", "slug: moscow-weighs-washington", "slug: Moscow Weighs", []string{
			`briefs/x.md:2: slug: "Moscow Weighs" is not a slug: 1 to 128 lowercase letters, digits and hyphens, starting with a letter or digit`}},
		{"slug too long", "slug: moscow-weighs-washington", "slug: " + strings.Repeat("a", 129), []string{
			`briefs/x.md:2: slug: "` + strings.Repeat("a", 129) + `" is not a slug: 1 to 128 lowercase letters, digits and hyphens, starting with a letter or digit`}},
		{"missing slug", "slug: moscow-weighs-washington\n", "", []string{
			"briefs/x.md: slug: is required"}},
		{"unknown region", "region: dc", "region: dcc", []string{
			`briefs/x.md:3: region: unknown region "dcc" (known: dc, bxl)`}},
		{"empty headline", "headline: Moscow weighs Washington's offer", `headline: "  "`, []string{
			"briefs/x.md:4: headline: is required"}},
		{"two-line headline", "headline: Moscow weighs Washington's offer", `headline: "Moscow\nweighs"`, []string{
			"briefs/x.md:4: headline: must be one line"}},
		{"headline with CR", "headline: Moscow weighs Washington's offer", `headline: "Moscow\rweighs"`, []string{
			"briefs/x.md:4: headline: must be one line"}},
		{"headline with a control character", "headline: Moscow weighs Washington's offer", `headline: "Moscow\tweighs"`, []string{
			"briefs/x.md:4: headline: must not contain control characters"}},
		{"long headline", "headline: Moscow weighs Washington's offer", "headline: " + strings.Repeat("é", 201), []string{
			"briefs/x.md:4: headline: is 201 characters long; the limit is 200"}},
		{"headline as a list", "headline: Moscow weighs Washington's offer", "headline: [a, b]", []string{
			"briefs/x.md:4: headline: must be text, not a list"}},
		{"two-paragraph lede", "lede: The Kremlin is studying the proposal.", "lede: |\n  One.\n\n  Two.", []string{
			"briefs/x.md:5: lede: must be one paragraph (no blank lines)"}},
		{"long lede", "lede: The Kremlin is studying the proposal.", "lede: " + strings.Repeat("x", 601), []string{
			"briefs/x.md:5: lede: is 601 characters long; the limit is 600"}},
		{"blank body", "The News, in **Markdown**.\n\nSecond paragraph.\n", " \n\t\n", []string{
			`briefs/x.md: body: is required: write The News in Markdown after the closing "---" line`}},
		{"NUL in body", "Second paragraph.", "Second\x00paragraph.", []string{
			"briefs/x.md:25: body: must not contain control characters other than tab and newline"}},
		{"published_at without zone", "published_at: 2026-11-25T20:34:00+01:00", "published_at: 2026-11-25T20:34:00", []string{
			`briefs/x.md:6: published_at: "2026-11-25T20:34:00" is not an RFC 3339 time with a zone offset, like 2026-11-25T19:34:00Z`}},
		{"published_at a date", "published_at: 2026-11-25T20:34:00+01:00", "published_at: 2026-11-25", []string{
			`briefs/x.md:6: published_at: "2026-11-25" is not an RFC 3339 time with a zone offset, like 2026-11-25T19:34:00Z`}},
		{"published_at in year 1", "published_at: 2026-11-25T20:34:00+01:00", "published_at: 0001-01-01T00:00:00Z", []string{
			`briefs/x.md:6: published_at: "0001-01-01T00:00:00Z" is before 1970; check the year`}},
		{"missing published_at", "published_at: 2026-11-25T20:34:00+01:00", "published_at:", []string{
			"briefs/x.md:6: published_at: is required"}},
		{"missing author", "author: Jane Doe\n", "", []string{
			"briefs/x.md: author: is required"}},
		{"signal without title", "  - title: Markets shrug\n    sources", "  - sources", []string{
			"briefs/x.md:20: signals[1].title: is required"}},
		{"signal without sources", "    sources: [{name: Interfax, url: \"https://interfax.ru/2\"}]\n", "", []string{
			"briefs/x.md:20: signals[1].sources: is required"}},
		{"signal with an empty source list", `[{name: Interfax, url: "https://interfax.ru/2"}]`, "[]", []string{
			"briefs/x.md:21: signals[1].sources: at least one source is required"}},
		{"source without name", "{name: Interfax, url:", "{url:", []string{
			"briefs/x.md:21: signals[1].sources[0].name: is required"}},
		{"javascript source url", "https://interfax.ru/2", "javascript:alert(1)", []string{
			`briefs/x.md:21: signals[1].sources[0].url: "javascript:alert(1)" is not an http(s) URL`}},
		{"relative source url", "https://iz.ru/1", "/news/1", []string{
			`briefs/x.md:18: signals[0].sources[0].url: "/news/1" is not an http(s) URL`}},
		{"source url without host", "https://iz.ru/1", "https:///1", []string{
			`briefs/x.md:18: signals[0].sources[0].url: "https:///1" is not an http(s) URL`}},
		{"source url with user info", "https://iz.ru/1", "https://iz.ru@evil.example/1", []string{
			`briefs/x.md:18: signals[0].sources[0].url: "https://iz.ru@evil.example/1" must not contain a user name or password`}},
		{"http image", "url: https://img.example.org/kremlin.jpg", "url: http://img.example.org/kremlin.jpg", []string{
			`briefs/x.md:9: image.url: "http://img.example.org/kremlin.jpg" is not an https URL`}},
		{"data image", "url: https://img.example.org/kremlin.jpg", "url: \"data:image/png;base64,AAAA\"", []string{
			`briefs/x.md:9: image.url: "data:image/png;base64,AAAA" is not an https URL`}},
		{"image without alt or caption", "  alt: The Kremlin at dusk\n  caption: The Kremlin, seen from the river\n", "", []string{
			"briefs/x.md:9: image: needs alt text or a caption, for readers who cannot see the image"}},
		{"image without url", "  url: https://img.example.org/kremlin.jpg\n", "", []string{
			"briefs/x.md:9: image.url: is required"}},
		{"image as text", "image:\n  url: https://img.example.org/kremlin.jpg\n  alt: The Kremlin at dusk\n  caption: The Kremlin, seen from the river\n  credit: Photo by A. Photographer\n",
			"image: https://img.example.org/kremlin.jpg\n", []string{
				`briefs/x.md:8: image: must be a mapping of keys to values, not the value "https://img.example.org/kremlin.jpg"`}},
		{"alias", "headline: Moscow weighs Washington's offer\nlede: The Kremlin is studying the proposal.",
			"headline: &h Moscow weighs Washington's offer\nlede: *h", []string{
				"briefs/x.md:5: lede: YAML aliases (*h) are not supported; write the value out"}},
		{"yaml syntax error", "author: Jane Doe", "author: Jane: Doe", []string{
			"briefs/x.md: front matter is not valid YAML: yaml: line 7: mapping values are not allowed in this context"}},
		{"null signal", "  - title: Markets shrug\n    sources: [{name: Interfax, url: \"https://interfax.ru/2\"}]\n", "  - ~\n", []string{
			`briefs/x.md:20: signals[1]: must be a mapping of keys to values, not the value "~"`}},
		{"signal that is text", "  - title: Markets shrug\n    sources: [{name: Interfax, url: \"https://interfax.ru/2\"}]\n", "  - Markets shrug\n", []string{
			`briefs/x.md:20: signals[1]: must be a mapping of keys to values, not the value "Markets shrug"`}},
		{"problems in the order of the file", "slug: moscow-weighs-washington\nregion: dc", "slug: Moscow\nregoin: dc", []string{
			`briefs/x.md:2: slug: "Moscow" is not a slug: 1 to 128 lowercase letters, digits and hyphens, starting with a letter or digit`,
			"briefs/x.md:3: regoin: unknown key (known keys here: slug, region, headline, lede, published_at, author, image, signals)",
			"briefs/x.md: region: is required"}},
		{"a missing key after its mapping's other problems", "  - title: Markets shrug\n    sources: [{name: Interfax, url: \"https://interfax.ru/2\"}]\n",
			"  - sources: [{url: \"javascript:x\", nmae: I}]\n    body: \"\\0\"\n", []string{
				`briefs/x.md:20: signals[1].sources[0].url: "javascript:x" is not an http(s) URL`,
				"briefs/x.md:20: signals[1].sources[0].nmae: unknown key (known keys here: name, url)",
				"briefs/x.md:20: signals[1].sources[0].name: is required",
				"briefs/x.md:21: signals[1].body: must not contain control characters other than tab and newline",
				"briefs/x.md:20: signals[1].title: is required"}},
		{"several problems at once", "region: dc\nheadline: Moscow weighs Washington's offer", "region: x\nheadline:", []string{
			`briefs/x.md:3: region: unknown region "x" (known: dc, bxl)`,
			"briefs/x.md:4: headline: is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(validBrief, tt.old) {
				t.Fatalf("test bug: %q is not in validBrief", tt.old)
			}
			src := strings.Replace(validBrief, tt.old, tt.new, 1)
			b, err := Parse("briefs/x.md", []byte(src), testRegions)
			if err == nil {
				t.Fatalf("Parse accepted\n%s", src)
			}
			if want := strings.Join(tt.want, "\n"); err.Error() != want {
				t.Errorf("error\n%v\nwant\n%s", err, want)
			}
			if b.Slug != "" {
				t.Errorf("Parse returned a brief with its error")
			}
			var fe *digest.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error is not a *digest.FieldError")
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "brief.md")
	if err := os.WriteFile(path, []byte(validBrief), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := parseFile(path, testRegions)
	if err != nil || b.Slug != wantBrief.Slug {
		t.Fatalf("ParseFile: %v, slug %q", err, b.Slug)
	}

	big := filepath.Join(dir, "big.md")
	if err := os.WriteFile(big, []byte(validBrief+strings.Repeat("x", MaxSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parseFile(big, testRegions); err == nil || err.Error() != big+": is larger than 1048576 bytes; a brief is short" {
		t.Errorf("ParseFile of a huge file: %v", err)
	}

	if _, err := parseFile(filepath.Join(dir, "missing.md"), testRegions); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ParseFile of a missing file: %v, want os.ErrNotExist", err)
	}
}

// FuzzParse checks that no input panics Parse and that whatever it accepts
// keeps the promises the rest of the service relies on.
func FuzzParse(f *testing.F) {
	f.Add(validBrief)
	f.Add(strings.ReplaceAll(validBrief, "\n", "\r\n"))
	f.Add("---\n---\n")
	f.Add("---\nslug: a\nregion: dc\nheadline: \"\\u2028x\"\npublished_at: 2026-01-02T03:04:05-07:00\nauthor: A\n---\nx")
	f.Add("---\na: &a [*a, *a]\nb: *a\n---\n")
	f.Add("\uFEFF---\r\nimage: {url: https://x.y, alt: a}\r\n---\r\n")
	f.Add(strings.Replace(validBrief, "2026-11-25T20:34:00+01:00", "0001-01-01T00:00:00+00:00", 1))
	slugRE := regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,127}$`)
	f.Fuzz(func(t *testing.T, src string) {
		b, err := Parse("fuzz.md", []byte(src), testRegions)
		if err != nil {
			return
		}
		checkLine := func(what, s string, max int, required bool) {
			if required && s == "" {
				t.Fatalf("%s is empty", what)
			}
			if strings.ContainsAny(s, "\r\n") || hasControl(s, "") || s != strings.TrimSpace(s) || utf8.RuneCountInString(s) > max {
				t.Fatalf("%s %q breaks the one-line rule", what, s)
			}
		}
		checkURL := func(what, s string, httpsOnly bool) {
			u, err := url.Parse(s)
			if err != nil || u.Hostname() == "" || (u.Scheme != "https" && (httpsOnly || u.Scheme != "http")) {
				t.Fatalf("%s %q is not an acceptable URL", what, s)
			}
		}
		if !slugRE.MatchString(b.Slug) {
			t.Fatalf("slug %q", b.Slug)
		}
		if _, ok := testRegions.Lookup(b.Region); !ok {
			t.Fatalf("region %q", b.Region)
		}
		checkLine("headline", b.Headline, maxHeadline, true)
		checkLine("author", b.Author, maxName, true)
		if strings.Contains(b.Lede, "\n\n") || strings.Contains(b.Lede, "\r") || utf8.RuneCountInString(b.Lede) > maxLede {
			t.Fatalf("lede %q", b.Lede)
		}
		if strings.TrimSpace(b.Body) == "" || !utf8.ValidString(b.Body) || strings.ContainsAny(b.Body, "\r\x00") {
			t.Fatalf("body %q", b.Body)
		}
		if b.PublishedAt.IsZero() || b.PublishedAt.Location() != time.UTC {
			t.Fatalf("published at %v", b.PublishedAt)
		}
		if b.Image != nil {
			checkURL("image url", b.Image.URL, true)
			if b.Image.Alt == "" && b.Image.Caption == "" {
				t.Fatalf("image without alt or caption")
			}
		}
		for _, s := range b.Signals {
			checkLine("signal title", s.Title, maxHeadline, true)
			if len(s.Sources) == 0 {
				t.Fatalf("signal %q without sources", s.Title)
			}
			for _, src := range s.Sources {
				checkLine("source name", src.Name, maxName, true)
				if src.URL != "" {
					checkURL("source url", src.URL, false)
				}
			}
		}
	})
}
