package render

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// parseHTML parses a rendered digest or fails the test.
func parseHTML(t testing.TB, s string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// walk calls f for every element node under n.
func walk(n *html.Node, f func(*html.Node)) {
	if n.Type == html.ElementNode {
		f(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// unsafeHTML lists what makes an HTML fragment or document unsafe to mail:
// scripts and other active elements, event-handler attributes, and links or
// sources other than http(s) (and mailto for links).
func unsafeHTML(doc *html.Node) []string {
	var problems []string
	walk(doc, func(n *html.Node) {
		switch n.Data {
		case "script", "iframe", "object", "embed", "form", "input", "svg", "math", "base", "link":
			problems = append(problems, "element <"+n.Data+">")
		}
		for _, a := range n.Attr {
			key := strings.ToLower(a.Key)
			if strings.HasPrefix(key, "on") {
				problems = append(problems, "<"+n.Data+"> attribute "+a.Key)
			}
			switch key {
			case "href", "src", "action", "formaction", "background", "srcset", "xlink:href":
				u, err := url.Parse(a.Val)
				ok := err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https")
				if key == "href" && err == nil && u.Scheme == "mailto" {
					ok = true
				}
				if !ok {
					problems = append(problems, "<"+n.Data+"> "+a.Key+"="+a.Val)
				}
			}
		}
	})
	return problems
}

// layoutProblems lists what breaks the email-HTML rules of the digest: the
// document language, presentation tables, image alt text, inline styles.
func layoutProblems(doc *html.Node) []string {
	var problems []string
	body := false
	walk(doc, func(n *html.Node) {
		switch n.Data {
		case "html":
			if lang, _ := attr(n, "lang"); lang != "en" {
				problems = append(problems, `<html> without lang="en"`)
			}
		case "body":
			body = true
		case "table":
			if role, _ := attr(n, "role"); role != "presentation" {
				problems = append(problems, `<table> without role="presentation"`)
			}
		case "img":
			if _, ok := attr(n, "alt"); !ok {
				problems = append(problems, "<img> without alt")
			}
			if _, ok := attr(n, "width"); !ok {
				problems = append(problems, "<img> without width")
			}
		}
		if !body || n.Data == "body" {
			return
		}
		switch n.Data {
		case "tbody", "tr", "em", "strong", "br":
			// implied by the parser, or no box of their own to style
		default:
			if _, ok := attr(n, "style"); !ok {
				problems = append(problems, "<"+n.Data+"> without inline style")
			}
		}
	})
	if !body {
		problems = append(problems, "no <body>")
	}
	return problems
}

// textContent returns the text of n as a reader sees it, entities decoded.
func textContent(n *html.Node) string {
	var b strings.Builder
	var f func(*html.Node)
	f = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		if n.Type == html.ElementNode && (n.Data == "style" || n.Data == "head") {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			f(c)
		}
	}
	f(n)
	return b.String()
}
