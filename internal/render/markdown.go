package render

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"html/template"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// markdown turns the Markdown of brief bodies and signal bodies into email
// HTML and into plain text. It is safe for concurrent use: goldmark parses
// into a fresh AST per call and a bluemonday policy is read-only once built.
type markdown struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
	// writer resolves backslash escapes and entity references the way
	// goldmark's HTML renderer does, so the text part reads "AT&T" where
	// the HTML part shows "AT&amp;T".
	writer gmhtml.Writer
}

func newMarkdown() *markdown {
	md := goldmark.New(
		// CommonMark only. Without html.WithUnsafe goldmark already omits
		// raw HTML; the policy below is the second line of defence.
		goldmark.WithParserOptions(parser.WithASTTransformers(
			util.Prioritized(emailTransformer{}, 100),
		)),
	)
	return &markdown{md: md, policy: markdownPolicy(), writer: gmhtml.NewWriter()}
}

// markdownPolicy allows only the structure a brief needs. Links may point to
// http, https and mailto only; no images (a brief's image is its Image
// field, sized for email), no style, no class, no event handlers.
func markdownPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "em", "strong", "ul", "ol", "li", "blockquote", "code", "pre", "h3", "h4")
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("start").Matching(regexp.MustCompile(`^[0-9]{1,6}$`)).OnElements("ol")
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	return p
}

// emailTransformer adapts the Markdown AST to the digest layout before it is
// rendered either way: every heading becomes level 4 (below the brief's own
// headline), and an inline image is replaced by its alt text, since
// pictures from Markdown have no size and would be dropped by the policy
// anyway — this way their words survive.
type emailTransformer struct{}

func (emailTransformer) Transform(doc *ast.Document, _ text.Reader, _ parser.Context) {
	var images []*ast.Image
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			n.Level = 4
		case *ast.Image:
			images = append(images, n)
		}
		return ast.WalkContinue, nil
	})
	for _, img := range images {
		parent := img.Parent()
		for c := img.FirstChild(); c != nil; {
			next := c.NextSibling()
			parent.InsertBefore(parent, img, c)
			c = next
		}
		parent.RemoveChild(parent, img)
	}
}

// parse returns the AST of src; html and text read it, so a body is parsed
// once for both parts.
func (m *markdown) parse(src []byte) ast.Node {
	return m.md.Parser().Parse(text.NewReader(src))
}

// html renders doc to sanitized HTML with inline styles on every element.
func (m *markdown) html(doc ast.Node, src []byte) (template.HTML, error) {
	var buf bytes.Buffer
	if err := m.md.Renderer().Render(&buf, src, doc); err != nil {
		return "", fmt.Errorf("render markdown: %w", err)
	}
	clean := m.policy.SanitizeBytes(buf.Bytes())
	styled, err := inlineStyles(clean)
	if err != nil {
		return "", err
	}
	// The policy and the tokenizer pass above produced it; that is what
	// makes this conversion safe.
	return template.HTML(strings.TrimSpace(string(styled))), nil
}

// plain resolves escapes and entity references in a raw Markdown segment.
func (m *markdown) plain(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 && bytes.IndexByte(raw, '&') < 0 && bytes.IndexByte(raw, 0) < 0 {
		return string(raw) // nothing to resolve: the common case
	}
	var buf bytes.Buffer
	w := bufio.NewWriterSize(&buf, len(raw)+16)
	m.writer.Write(w, raw)
	_ = w.Flush() // a bytes.Buffer does not fail
	return html.UnescapeString(buf.String())
}
