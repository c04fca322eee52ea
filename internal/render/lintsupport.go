package render

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/parser"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/util"
	"golang.org/x/net/html"
)

// SanitizeReport tells whether the Markdown of a brief or signal body loses
// anything when a digest renders it: raw HTML, attributes and URL schemes
// that the email policy drops, and the words inside them. It renders src
// twice with the digest's own Markdown settings — once keeping raw HTML,
// once through the sanitizing policy — and compares the two. removed names
// each dropped thing once, e.g. "<script>", "<a onclick>", "text \"alert(1)\"".
// It exists for `digest lint`, so editors learn that a brief did not come
// out as written.
func SanitizeReport(src string) (changed bool, removed []string, err error) {
	md := goldmark.New(
		goldmark.WithParserOptions(parser.WithASTTransformers(
			util.Prioritized(emailTransformer{}, 100),
		)),
		// Keep raw HTML and dangerous URLs in this rendering, so the
		// comparison sees what the writer wrote.
		goldmark.WithRendererOptions(gmhtml.WithUnsafe()),
	)
	var raw bytes.Buffer
	if err := md.Convert([]byte(src), &raw); err != nil {
		return false, nil, fmt.Errorf("render markdown: %w", err)
	}
	clean := markdownPolicy().SanitizeBytes(raw.Bytes())
	rawTags, rawText := markupOf(raw.Bytes())
	cleanTags, cleanText := markupOf(clean)

	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			removed = append(removed, s)
		}
	}
	kept := map[string]int{}
	for _, t := range cleanTags {
		kept[t]++
	}
	for _, t := range rawTags {
		if kept[t] > 0 {
			kept[t]--
			continue
		}
		add(t)
	}
	if rawText != cleanText {
		lost := lostWords(rawText, cleanText)
		if lost != "" {
			add(fmt.Sprintf("text %q", lost))
		} else {
			add("text")
		}
	}
	sort.Strings(removed)
	return len(removed) > 0, removed, nil
}

// markupOf lists the start tags of an HTML fragment as "<tag attr …>"
// (attribute names sorted; href values included, since a dropped URL is a
// change) and its text with whitespace collapsed. Comments count as tags.
func markupOf(b []byte) (tags []string, text string) {
	z := html.NewTokenizer(bytes.NewReader(b))
	var words []string
	for {
		switch z.Next() {
		case html.ErrorToken:
			return tags, strings.Join(words, " ")
		case html.StartTagToken, html.SelfClosingTagToken:
			t := z.Token()
			var attrs []string
			for _, a := range t.Attr {
				if a.Key == "href" {
					attrs = append(attrs, "href="+a.Val)
					continue
				}
				attrs = append(attrs, a.Key)
			}
			sort.Strings(attrs)
			tags = append(tags, "<"+strings.Join(append([]string{t.Data}, attrs...), " ")+">")
		case html.CommentToken:
			tags = append(tags, "<!-- comment -->")
		case html.TextToken:
			words = append(words, strings.Fields(string(z.Text()))...)
		}
	}
}

// lostWords is the words of raw that clean lacks, in order, shortened.
func lostWords(raw, clean string) string {
	have := map[string]int{}
	for _, w := range strings.Fields(clean) {
		have[w]++
	}
	var lost []string
	for _, w := range strings.Fields(raw) {
		if have[w] > 0 {
			have[w]--
			continue
		}
		lost = append(lost, w)
	}
	s := strings.Join(lost, " ")
	if r := []rune(s); len(r) > 60 {
		s = string(r[:60]) + "…"
	}
	return s
}
