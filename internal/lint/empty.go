package lint

import (
	"strings"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/render"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// labels are words a template writes before a field; one with nothing
// after it is a field that rendered empty.
var labels = []string{"Sources:", "Source:", "Photo:", "Credit:", "By:"}

// emptyFields finds what a template rendered around a field that came out
// empty:
//   - an empty subject (error) or preheader (warning: the inbox then shows
//     the first words of the body, often "View in browser");
//   - a heading (h1–h6) or link with no visible text, where an image with
//     alt text counts as text (error);
//   - a paragraph or list item with nothing in it (warning);
//   - a paragraph, list item or line of the text part that ends with a label
//     ("Sources:"), ends or starts with the "·" separator, or holds ", ."
//     (a name left out of "Hello, NAME.") (error).
func (c *checker) emptyFields(in Input, doc *document) {
	if strings.TrimSpace(in.Subject) == "" {
		c.add(Error, "empty-field", "", "the subject is empty")
	}
	if strings.TrimSpace(in.Preheader) == "" && len(in.Briefs) > 0 {
		c.add(Warning, "empty-field", "", "the preheader is empty: inboxes show the first words of the body instead")
	}
	for _, n := range doc.elements(atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.A) {
		if !hasContent(n) {
			c.add(Error, "empty-field", "", "%s has no text: the field it shows rendered empty", describe(n))
		}
	}
	for _, n := range doc.elements(atom.P, atom.Li) {
		if !hasContent(n) {
			c.add(Warning, "empty-field", "", "%s is empty", describe(n))
			continue
		}
		if why := dangling(visibleText(n)); why != "" {
			c.add(Error, "empty-field", "", "%s %s", describe(n), why)
		}
	}
	for i, line := range strings.Split(in.Text, "\n") {
		if why := dangling(normalize(line)); why != "" {
			c.add(Error, "empty-field", "", "line %d of the plain-text part %s", i+1, why)
		}
	}
}

// hasContent reports whether n shows a reader anything: text, or an image
// with alt text.
func hasContent(n *html.Node) bool {
	if visibleText(n) != "" {
		return true
	}
	found := false
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.DataAtom == atom.Img && strings.TrimSpace(attr(n, "alt")) != "" {
			found = true
		}
		for c := n.FirstChild; c != nil && !found; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return found
}

// dangling says how the collapsed text s shows an empty field, or "".
func dangling(s string) string {
	switch {
	case s == "":
		return ""
	case strings.HasSuffix(s, "·"), strings.HasPrefix(s, "·"):
		return "has a \"·\" with nothing on one side"
	case strings.Contains(s, ", ."):
		return "has \", .\": a field between them rendered empty"
	}
	for _, l := range labels {
		if strings.HasSuffix(s, l) {
			return "ends with \"" + l + "\" and nothing after it"
		}
	}
	return ""
}

// markdown: the sanitizer silently drops raw HTML, scripts, styles and
// links with other schemes from brief and signal bodies; the editor should
// know their brief did not come out as written.
func (c *checker) markdown(briefs []digest.Brief) {
	for _, b := range briefs {
		c.markdownOf(b.Slug, "body", b.Body)
		for _, s := range b.Signals {
			c.markdownOf(b.Slug, "signal "+quote(s.Title), s.Body)
		}
	}
}

func (c *checker) markdownOf(slug, what, src string) {
	if strings.TrimSpace(src) == "" {
		return
	}
	changed, removed, err := render.SanitizeReport(src)
	switch {
	case err != nil:
		c.add(Warning, "sanitized-markdown", slug, "the %s could not be checked: %v", what, err)
	case changed:
		c.add(Warning, "sanitized-markdown", slug, "sanitizing the %s removed %s", what, strings.Join(removed, ", "))
	}
}

func quote(s string) string { return "\"" + shorten(s, 40) + "\"" }
