package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"golang.org/x/net/html"
)

// Colours of the light scheme. Text is a near-black on white and links a
// mid blue: clients that invert colours for dark mode (Gmail apps, Outlook)
// turn them into readable light-on-dark, which pure #000 on #fff does not
// always survive. The template's <style> block sets the dark scheme for
// clients that support prefers-color-scheme.
const (
	colorText  = "#222"
	colorMuted = "#666"
	colorLink  = "#15c"
	colorRule  = "#ddd"
	colorCode  = "#eee"
)

// markdownStyle returns the inline style for an element of sanitized
// Markdown HTML. Email clients drop or ignore <style> blocks often enough
// that every element carries its own style. inPre tells code inside a
// code block from inline code.
func markdownStyle(tag string, inPre bool) string {
	const text = "font-size:16px;line-height:1.55;color:" + colorText
	switch tag {
	case "p":
		return "margin:0 0 12px;" + text
	case "a":
		return "color:" + colorLink
	case "ul", "ol":
		return "margin:0 0 12px;padding:0 0 0 24px;" + text
	case "li":
		return "margin:0 0 4px;color:" + colorText // size from the list
	case "blockquote":
		return "margin:0 0 12px;padding:0 0 0 12px;border-left:3px solid " + colorRule + ";color:" + colorMuted
	case "code":
		if inPre {
			return "font-family:Menlo,Consolas,monospace;font-size:14px"
		}
		return "font-family:Menlo,Consolas,monospace;font-size:14px;background-color:" + colorCode + ";padding:1px 3px"
	case "pre":
		return "margin:0 0 12px;padding:8px 10px;background-color:" + colorCode + ";color:" + colorText + ";white-space:pre-wrap;word-break:break-word;font-size:14px;line-height:1.4"
	case "h3":
		return "margin:16px 0 6px;font-size:17px;line-height:1.3;font-weight:700;color:" + colorText
	case "h4":
		return "margin:16px 0 6px;font-size:16px;line-height:1.3;font-weight:700;color:" + colorText
	}
	return ""
}

// inlineStyles adds a style attribute to the elements of src that
// markdownStyle knows, replacing any style they had. It works on tokens of
// the HTML tokenizer and re-serialises each one escaped, so what it writes
// is well-formed whatever src holds.
func inlineStyles(src []byte) ([]byte, error) {
	z := html.NewTokenizer(bytes.NewReader(src))
	var out bytes.Buffer
	out.Grow(len(src) * 2)
	pre := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if errors.Is(z.Err(), io.EOF) {
				return out.Bytes(), nil
			}
			return nil, fmt.Errorf("add inline styles: %w", z.Err())
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			if style := markdownStyle(tok.Data, pre > 0); style != "" {
				tok.Attr = withStyle(tok.Attr, style)
			}
			if tok.Data == "pre" && tt == html.StartTagToken {
				pre++
			}
		case html.EndTagToken:
			if tok.Data == "pre" && pre > 0 {
				pre--
			}
		case html.CommentToken, html.DoctypeToken:
			continue // never wanted in a fragment; the policy drops them already
		}
		out.WriteString(tok.String())
	}
}

// withStyle returns attrs without any style attribute, plus style.
func withStyle(attrs []html.Attribute, style string) []html.Attribute {
	kept := attrs[:0]
	for _, a := range attrs {
		if a.Namespace == "" && a.Key == "style" {
			continue
		}
		kept = append(kept, a)
	}
	return append(kept, html.Attribute{Key: "style", Val: style})
}
