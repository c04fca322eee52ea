package lint

import (
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// document is a parsed HTML part.
type document struct {
	root *html.Node
	// text is the visible text, whitespace collapsed: no head, style or
	// script, nothing hidden with display:none (the preheader and its
	// padding).
	text string
}

// parseHTML parses s the way a browser would: html.Parse accepts any input,
// repairing what it must, so a broken template still gets its findings.
func parseHTML(s string) *document {
	root, err := html.Parse(strings.NewReader(s))
	if err != nil { // only a failing reader errors; a strings.Reader does not
		root = &html.Node{Type: html.DocumentNode}
	}
	return &document{root: root, text: visibleText(root)}
}

// visibleText is the text of n a reader sees, whitespace collapsed.
func visibleText(n *html.Node) string {
	var all []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && hidden(n) {
			return
		}
		if n.Type == html.TextNode {
			all = append(all, words(n.Data)...)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(all, " ")
}

// hidden reports whether a reader never sees element n's content.
func hidden(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Head, atom.Style, atom.Script, atom.Title, atom.Template:
		return true
	}
	style := strings.ToLower(strings.ReplaceAll(attr(n, "style"), " ", ""))
	return strings.Contains(style, "display:none")
}

// attr returns the value of n's attribute key, "" when absent.
func attr(n *html.Node, key string) string {
	v, _ := lookupAttr(n, key)
	return v
}

func lookupAttr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// elements returns the visible elements of doc that are one of the atoms,
// in document order.
func (d *document) elements(atoms ...atom.Atom) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if hidden(n) {
				return
			}
			for _, a := range atoms {
				if n.DataAtom == a {
					out = append(out, n)
					break
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(d.root)
	return out
}

// describe names an element for a message: its tag and a little of its
// text or its src/href.
func describe(n *html.Node) string {
	s := "<" + n.Data + ">"
	for _, k := range []string{"src", "href"} {
		if v := strings.TrimSpace(attr(n, k)); v != "" {
			return s + " " + k + "=" + strconv.Quote(shorten(v, 60))
		}
	}
	if t := visibleText(n); t != "" {
		return s + " " + strconv.Quote(shorten(t, 60))
	}
	return s
}

func shorten(s string, max int) string {
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

// images: every picture needs words for readers who do not load images,
// and a size so that Outlook, which ignores CSS sizes, does not lay it out
// at its full pixel width.
func (c *checker) images(doc *document) {
	for _, img := range doc.elements(atom.Img) {
		if strings.TrimSpace(attr(img, "src")) == "" {
			c.add(Error, "empty-field", "", "%s has no src: the picture's URL rendered empty", describe(img))
		}
		alt, ok := lookupAttr(img, "alt")
		switch {
		case !ok:
			c.add(Error, "img-alt", "", "%s has no alt text: screen readers and readers who block images get nothing", describe(img))
		case strings.TrimSpace(alt) == "":
			c.add(Warning, "img-alt", "", "%s has an empty alt, which marks it as decoration", describe(img))
		}
		w, hasW := lookupAttr(img, "width")
		h, hasH := lookupAttr(img, "height")
		if !hasW && !hasH {
			c.add(Error, "img-size", "", "%s has neither width nor height: Outlook shows it at its full pixel size", describe(img))
			continue
		}
		for _, d := range []struct {
			name, val string
			has       bool
		}{{"width", w, hasW}, {"height", h, hasH}} {
			if n, err := strconv.Atoi(strings.TrimSpace(d.val)); d.has && (err != nil || n <= 0) {
				c.add(Warning, "img-size", "", "%s has %s=%q, not a number of pixels", describe(img), d.name, d.val)
			}
		}
	}
}

// links: a link in an email has no base URL to resolve against, so it must
// be absolute http(s) (or mailto, which the brief Markdown policy allows).
func (c *checker) links(doc *document) {
	for _, a := range doc.elements(atom.A) {
		href, ok := lookupAttr(a, "href")
		href = strings.TrimSpace(href)
		if !ok || href == "" || href == "#" {
			c.add(Error, "link-empty", "", "%s has no target: the link's URL rendered empty", describe(a))
			continue
		}
		u, err := url.Parse(href)
		if err != nil {
			c.add(Error, "link-scheme", "", "%s is not a valid URL: %v", describe(a), err)
			continue
		}
		switch strings.ToLower(u.Scheme) {
		case "http", "https":
			if u.Host == "" {
				c.add(Error, "link-scheme", "", "%s has no host", describe(a))
			}
		case "mailto":
		case "":
			c.add(Error, "link-scheme", "", "%s is relative: an email has no page to resolve it against", describe(a))
		default:
			c.add(Error, "link-scheme", "", "%s uses %q, not http(s): mail clients block or mangle it", describe(a), u.Scheme+":")
		}
	}
}

// unsubscribe: both parts must let the reader leave; mailbox providers
// and the law (CAN-SPAM, PECR) require it.
func (c *checker) unsubscribe(in Input, doc *document) {
	found := false
	for _, a := range doc.elements(atom.A) {
		href := strings.TrimSpace(attr(a, "href"))
		if in.UnsubscribeURL != "" && href == in.UnsubscribeURL ||
			in.UnsubscribeURL == "" && href != "" && strings.Contains(strings.ToLower(visibleText(a)), "unsubscribe") {
			found = true
			break
		}
	}
	if !found {
		if in.UnsubscribeURL != "" {
			c.add(Error, "unsubscribe-missing", "", "the HTML part has no link to the reader's unsubscribe URL %s", in.UnsubscribeURL)
		} else {
			c.add(Error, "unsubscribe-missing", "", "the HTML part has no unsubscribe link")
		}
	}
	switch {
	case in.UnsubscribeURL != "" && !strings.Contains(in.Text, in.UnsubscribeURL):
		c.add(Error, "unsubscribe-missing", "", "the plain-text part lacks the reader's unsubscribe URL %s", in.UnsubscribeURL)
	case in.UnsubscribeURL == "" && !strings.Contains(strings.ToLower(in.Text), "unsubscribe"):
		c.add(Error, "unsubscribe-missing", "", "the plain-text part says nothing of unsubscribing")
	}
}

// postal: commercial email must carry the sender's postal address
// (CAN-SPAM); every line of it must reach both parts.
func (c *checker) postal(in Input, doc *document) {
	var lines []string
	for _, l := range strings.Split(in.PostalAddress, "\n") {
		if l = normalize(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		c.add(Error, "postal-missing", "", "no postal address is configured (postal_address); every digest must carry one")
		return
	}
	text := normalize(in.Text)
	for _, l := range lines {
		if !strings.Contains(doc.text, l) {
			c.add(Error, "postal-missing", "", "the HTML part lacks the postal address line %q", l)
		}
		if !strings.Contains(text, l) {
			c.add(Error, "postal-missing", "", "the plain-text part lacks the postal address line %q", l)
		}
	}
}
