// Package briefs owns the brief file format: Markdown with YAML front
// matter, as the newsroom writes it. It turns a file into a validated
// digest.Brief, or into errors that name the file, the line and the field,
// so an editor can fix the file without reading code. It does no I/O beyond
// reading the file it is given, and knows nothing of storage.
//
// A brief file looks like this:
//
//	---
//	slug: moscow-weighs-washington
//	region: dc
//	headline: Moscow weighs Washington's offer
//	lede: Optional one-paragraph summary, plain text.
//	published_at: 2026-11-25T19:34:00Z
//	author: Jane Doe
//	image: {url: https://..., alt: ..., caption: ..., credit: ...}
//	signals:
//	  - title: ...
//	    body: Markdown
//	    sources: [{name: Izvestia, url: https://...}, {name: TASS}]
//	---
//	The News, in Markdown.
package briefs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	digest "github.com/newsroom/digest"
)

// MaxSize is the largest brief file accepted. A brief is short; a file
// this large is a mistake (a wrong path, a pasted archive) better caught
// than stored and mailed.
const MaxSize = 1 << 20

// parseFile reads and parses the brief file at path; see Parse.
func parseFile(path string, regions digest.Regions) (digest.Brief, error) {
	f, err := os.Open(path)
	if err != nil {
		return digest.Brief{}, fmt.Errorf("read brief: %w", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return digest.Brief{}, fmt.Errorf("read brief: %w", err)
	}
	return Parse(path, src, regions)
}

// Parse parses and validates one brief file. name (the file's path) is the
// Record of every error; regions are the configured editions, one of which
// the brief must name.
//
// The error joins one *digest.FieldError per problem, all found at once
// and in the order of the file (front matter that uses a YAML alias or
// merge key, or gives a key twice, is reported with those problems alone);
// Field is the front-matter key as written ("signals[1].sources[0].url")
// or "body", and Record is "name:line" where the line is known. Text values
// come back trimmed and PublishedAt in UTC; the Brief has no ID or
// timestamps of its own.
func Parse(name string, src []byte, regions digest.Regions) (digest.Brief, error) {
	if len(src) > MaxSize {
		return digest.Brief{}, digest.Invalid(name, "", "is larger than %d bytes; a brief is short", MaxSize)
	}
	src = bytes.TrimPrefix(src, []byte("\uFEFF"))
	text := strings.ReplaceAll(string(src), "\r\n", "\n")
	if !utf8.ValidString(text) {
		return digest.Brief{}, digest.Invalid(name, "", "is not valid UTF-8 text")
	}
	front, body, bodyLine, err := split(text)
	if err != nil {
		return digest.Brief{}, &digest.FieldError{Record: name, Reason: err.Error()}
	}
	r := &reader{name: name, regions: regions}
	var b digest.Brief
	r.frontMatter(front, &b)
	b.Body = r.body(body, bodyLine)
	if len(r.errs) > 0 {
		errs := make([]error, len(r.errs))
		for i, e := range r.errs {
			errs[i] = e
		}
		return digest.Brief{}, errors.Join(errs...)
	}
	return b, nil
}

// split cuts a brief into its front matter and its body. The front matter
// keeps its opening "---" line, so the YAML parser's line numbers are the
// file's. bodyLine is the file line the body starts on.
func split(text string) (front, body string, bodyLine int, err error) {
	first, rest, _ := strings.Cut(text, "\n")
	if strings.TrimRight(first, " \t") != "---" {
		return "", "", 0, errors.New(`must begin with a "---" line that opens the front matter`)
	}
	offset := len(first) + 1
	line := 2
	for rest != "" {
		l, next, _ := strings.Cut(rest, "\n")
		if strings.TrimRight(l, " \t") == "---" {
			bodyStart := min(offset+len(l)+1, len(text))
			return text[:offset], text[bodyStart:], line + 1, nil
		}
		offset += len(l) + 1
		rest = next
		line++
	}
	return "", "", 0, errors.New(`front matter opened on line 1 is not closed by a "---" line`)
}
