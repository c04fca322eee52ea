package render

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/yuin/goldmark/ast"
)

// text renders a Markdown AST as plain text written for reading:
// paragraphs wrapped at width, lists as "- " or "1. ", quotes as "> ",
// code blocks indented, headings underlined, links as "text (url)", and
// emphasis without markers. Links to anything but http, https and mailto
// keep their words and lose their target, as in the HTML part.
func (m *markdown) text(doc ast.Node, src []byte, width int) string {
	t := textRenderer{m: m, src: src}
	return strings.Join(t.blocks(doc, width), "\n")
}

type textRenderer struct {
	m   *markdown
	src []byte
}

// blocks renders the block children of parent, separated by blank lines
// except inside the items of a tight list.
func (t textRenderer) blocks(parent ast.Node, width int) []string {
	tight := false
	if item, ok := parent.(*ast.ListItem); ok {
		if list, ok := item.Parent().(*ast.List); ok {
			tight = list.IsTight
		}
	}
	var out []string
	for c := parent.FirstChild(); c != nil; c = c.NextSibling() {
		lines := t.block(c, width)
		if len(lines) == 0 {
			continue
		}
		if len(out) > 0 && !tight {
			out = append(out, "")
		}
		out = append(out, lines...)
	}
	return out
}

func (t textRenderer) block(n ast.Node, width int) []string {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		return t.wrapped(n, width)
	case *ast.Heading:
		lines := t.wrapped(n, width)
		longest := 0
		for _, l := range lines {
			longest = max(longest, utf8.RuneCountInString(l))
		}
		return append(lines, strings.Repeat("-", longest))
	case *ast.List:
		return t.list(n, width)
	case *ast.Blockquote:
		return prefixed(t.blocks(n, width-2), "> ", "> ")
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		var lines []string
		segs := n.Lines()
		for i := 0; i < segs.Len(); i++ {
			seg := segs.At(i)
			lines = append(lines, strings.TrimRight(string(seg.Value(t.src)), "\r\n"))
		}
		return prefixed(lines, "    ", "    ")
	case *ast.ThematicBreak:
		return []string{"* * *"}
	case *ast.HTMLBlock:
		return nil // raw HTML is not content; the HTML part drops it too
	}
	return t.blocks(n, width)
}

func (t textRenderer) wrapped(n ast.Node, width int) []string {
	var b strings.Builder
	t.inline(n, &b)
	s := strings.TrimSpace(b.String())
	if s == "" {
		return nil
	}
	return wrapLines(s, width)
}

func (t textRenderer) list(n *ast.List, width int) []string {
	var out []string
	num := n.Start
	for item := n.FirstChild(); item != nil; item = item.NextSibling() {
		marker := "- "
		if n.IsOrdered() {
			marker = strconv.Itoa(num) + ". "
			num++
		}
		if len(out) > 0 && !n.IsTight {
			out = append(out, "")
		}
		lines := t.blocks(item, width-len(marker))
		if len(lines) == 0 {
			lines = []string{""}
		}
		out = append(out, prefixed(lines, marker, strings.Repeat(" ", len(marker)))...)
	}
	return out
}

// prefixed puts first before the first line and rest before the others;
// empty lines get the prefix without its trailing spaces.
func prefixed(lines []string, first, rest string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		p := rest
		if i == 0 {
			p = first
		}
		if l == "" {
			p = strings.TrimRight(p, " ")
		}
		out[i] = p + l
	}
	return out
}

// inline writes the text of the inline children of parent to b.
func (t textRenderer) inline(parent ast.Node, b *strings.Builder) {
	for c := parent.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			if c.IsRaw() {
				b.Write(c.Value(t.src))
			} else {
				b.WriteString(t.m.plain(c.Value(t.src)))
			}
			switch {
			case c.HardLineBreak():
				b.WriteByte('\n')
			case c.SoftLineBreak():
				b.WriteByte(' ')
			}
		case *ast.String:
			if c.IsRaw() || c.IsCode() {
				b.Write(c.Value)
			} else {
				b.WriteString(t.m.plain(c.Value))
			}
		case *ast.CodeSpan:
			for g := c.FirstChild(); g != nil; g = g.NextSibling() {
				if s, ok := g.(*ast.Text); ok {
					b.WriteString(strings.ReplaceAll(string(s.Value(t.src)), "\n", " "))
				}
			}
		case *ast.Link:
			var label strings.Builder
			t.inline(c, &label)
			t.link(b, label.String(), t.m.plain(c.Destination))
		case *ast.AutoLink:
			label := t.m.plain(c.Label(t.src))
			if c.AutoLinkType == ast.AutoLinkEmail || webURL(label) {
				b.WriteString(label)
			} else {
				t.link(b, label, string(c.URL(t.src)))
			}
		case *ast.RawHTML:
			// dropped, as in the HTML part
		default:
			t.inline(c, b)
		}
	}
}

// link writes "label (url)", just the url when it is its own label, and
// just the label when the target is not a web or mail address.
func (textRenderer) link(b *strings.Builder, label, dest string) {
	mail := strings.HasPrefix(strings.ToLower(dest), "mailto:")
	switch {
	case !webURL(dest) && !mail:
		b.WriteString(label)
	case label == "" || label == dest:
		b.WriteString(dest)
	case mail && label == dest[len("mailto:"):]:
		b.WriteString(label)
	default:
		b.WriteString(label + " (" + dest + ")")
	}
}
