// Package lint checks a rendered digest the way a mailbox will treat it,
// before readers get it: size limits that make Gmail clip a message, a
// plain-text part that lost content, images and links that break in mail
// clients, the unsubscribe link and postal address that the law and the
// mailbox providers require, template fields that rendered empty, and
// brief Markdown that the sanitizer changed. It reads what render produced;
// it renders nothing itself and knows nothing of SQL or SMTP.
package lint

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	digest "github.com/newsroom/digest"
)

// Severities of a Finding. An error is something a reader would notice or
// a mailbox provider would hold against the sender; a warning is worth a
// look.
const (
	Error   = "error"
	Warning = "warning"
)

// Size limits of the HTML part. Gmail clips a message whose HTML is over
// about 102 KB, hiding the rest behind "[Message clipped]" — including the
// unsubscribe link and the postal address in the footer.
const (
	HTMLClipBytes = 102 * 1024
	HTMLWarnBytes = 90 * 1024
)

// Input is one rendered digest and what it was rendered from.
type Input struct {
	Subject   string
	Preheader string
	HTML      string
	Text      string
	// Briefs are the briefs the digest carries; their headlines must reach
	// both parts and their Markdown is checked against the sanitizer.
	Briefs []digest.Brief
	// UnsubscribeURL is the reader's unsubscribe link; both parts must
	// carry it. Empty: any link whose text says "unsubscribe" will do.
	UnsubscribeURL string
	// PostalAddress is the publisher's postal address (postal_address);
	// every line of it must appear in both parts.
	PostalAddress string
}

// Finding is one problem found in a digest.
type Finding struct {
	Severity string `json:"severity"` // Error or Warning
	// Rule is a stable id: html-size, text-missing, text-lost-content,
	// img-alt, img-size, link-scheme, link-empty, unsubscribe-missing,
	// postal-missing, empty-field, sanitized-markdown.
	Rule    string `json:"rule"`
	Message string `json:"message"`
	// Brief is the slug of the brief the finding is about, if one.
	Brief string `json:"brief,omitempty"`
}

// Where is where the finding is, for a table column: the brief, or "-".
func (f Finding) Where() string {
	if f.Brief != "" {
		return f.Brief
	}
	return "-"
}

// Check lints one rendered digest. Findings come rule by rule in a fixed
// order, so two runs over the same digest print the same report.
func Check(in Input) []Finding {
	var c checker
	doc := parseHTML(in.HTML)
	c.size(in)
	c.textPart(in, doc)
	c.images(doc)
	c.links(doc)
	c.unsubscribe(in, doc)
	c.postal(in, doc)
	c.emptyFields(in, doc)
	c.markdown(in.Briefs)
	return c.findings
}

// Count returns how many of fs are errors and how many warnings.
func Count(fs []Finding) (errors, warnings int) {
	for _, f := range fs {
		if f.Severity == Error {
			errors++
		} else {
			warnings++
		}
	}
	return errors, warnings
}

type checker struct{ findings []Finding }

func (c *checker) add(severity, rule, brief, format string, args ...any) {
	c.findings = append(c.findings, Finding{Severity: severity, Rule: rule, Brief: brief, Message: fmt.Sprintf(format, args...)})
}

// size: Gmail clips over 102 KB; warn when a few more briefs would get there.
func (c *checker) size(in Input) {
	n := len(in.HTML)
	switch {
	case n > HTMLClipBytes:
		c.add(Error, "html-size", "", "HTML part is %.1f KB, over the %d KB at which Gmail clips the message (hiding the footer with the unsubscribe link)", kb(n), HTMLClipBytes/1024)
	case n > HTMLWarnBytes:
		c.add(Warning, "html-size", "", "HTML part is %.1f KB, close to the %d KB at which Gmail clips the message", kb(n), HTMLClipBytes/1024)
	}
}

func kb(n int) float64 { return float64(n) / 1024 }

// textPart: the plain-text twin must exist and carry what the HTML does.
func (c *checker) textPart(in Input, doc *document) {
	text := normalize(in.Text)
	if text == "" {
		c.add(Error, "text-missing", "", "the plain-text part is empty; text-only readers and spam filters see nothing")
		return
	}
	for _, b := range in.Briefs {
		wants := []struct{ what, s string }{{"headline", b.Headline}}
		for _, s := range b.Signals {
			wants = append(wants, struct{ what, s string }{"signal title", s.Title})
		}
		for _, w := range wants {
			s := normalize(w.s)
			if s == "" {
				continue
			}
			if !strings.Contains(text, s) {
				c.add(Error, "text-lost-content", b.Slug, "the plain-text part lacks the %s %q", w.what, w.s)
			}
			if !strings.Contains(doc.text, s) {
				c.add(Error, "text-lost-content", b.Slug, "the HTML part lacks the %s %q", w.what, w.s)
			}
		}
	}
	// The text part repeats URLs the HTML hides behind link text, so it is
	// usually longer; one with much fewer words has dropped something.
	htmlWords, textWords := len(words(doc.text)), len(words(text))
	if htmlWords >= 50 && textWords*2 < htmlWords {
		c.add(Warning, "text-lost-content", "", "the plain-text part has %d words, the HTML part %d: the text part looks like it lost content", textWords, htmlWords)
	}
}

// normalize collapses whitespace, so wrapped lines of the text part compare
// with one-line headlines. Like render, it takes control characters and
// invalid UTF-8 for spaces: render puts a headline on one line that way.
func normalize(s string) string { return strings.Join(words(s), " ") }

// words splits s at spaces, control characters and invalid UTF-8.
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) || unicode.In(r, unicode.Zl, unicode.Zp)
	})
}
