package render

import (
	"strings"
	"testing"
	"unicode"

	digest "github.com/newsroom/digest"
)

// FuzzRender feeds arbitrary headlines, Markdown bodies and source URLs
// through Render and checks what must hold for any input: it renders, the
// HTML has nothing active and no non-web links, the subject is one line,
// and the text part has no control characters but newline and tab.
func FuzzRender(f *testing.F) {
	seeds := []struct{ headline, body, url string }{
		{"Plain", "Some *news*.", "https://example.com/"},
		{"Line\r\nBreak", "<script>alert(1)</script>", "javascript:alert(1)"},
		{"<img src=x onerror=alert(1)>", "[x](javascript:alert(1)) <img src=x onerror=alert(1)>", "data:text/html,x"},
		{"\x00\x1b[31m", "- a\n  - b\n\n> q\n\n```\ncode\n```\n\n1. x", "mailto:a@example.com"},
		{"Zoë", "<a href=\"https://e.com\" onclick=\"x\">y</a> &amp; &#0; \\*", "https://e.com/\"onmouseover=\"x"},
		{strings.Repeat("long ", 60), "[" + strings.Repeat("w", 100) + "](https://e.com/" + strings.Repeat("p", 100) + ")", ""},
	}
	for _, s := range seeds {
		f.Add(s.headline, s.body, s.url)
	}
	r := newRenderer(f)
	f.Fuzz(func(t *testing.T, headline, body, url string) {
		in := fixtureInput()
		in.Briefs = []digest.Brief{{
			ID: 1, Region: "lagos", Headline: headline, Lede: headline, Body: body,
			PublishedAt: fixedNow,
			Image:       &digest.Image{URL: url, Alt: headline},
			Signals:     []digest.Signal{{Title: headline, Body: body, Sources: []digest.Source{{Name: headline, URL: url}}}},
		}}
		out, err := r.Render(in)
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		for _, p := range unsafeHTML(parseHTML(t, out.HTML)) {
			t.Errorf("unsafe HTML: %s", p)
		}
		if strings.ContainsFunc(out.Subject, unicode.IsControl) || strings.ContainsFunc(out.Preheader, unicode.IsControl) {
			t.Errorf("subject %q or preheader %q has control characters", out.Subject, out.Preheader)
		}
		if strings.ContainsFunc(out.Text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
			t.Errorf("text part has control characters")
		}
	})
}
