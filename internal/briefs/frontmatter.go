package briefs

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// frontMatter is the layout of a brief's front matter. The YAML library
// matches its keys to these fields and refuses unknown ones; each value
// stays a yaml.Node, which reader checks and takes as written (a headline
// "2026" or "true" stays text). A struct's field order is the order an
// "unknown key" error lists its keys in.
type frontMatter struct {
	Slug        yaml.Node     `yaml:"slug"`
	Region      yaml.Node     `yaml:"region"`
	Headline    yaml.Node     `yaml:"headline"`
	Lede        yaml.Node     `yaml:"lede"`
	PublishedAt yaml.Node     `yaml:"published_at"`
	Author      yaml.Node     `yaml:"author"`
	Image       *imageFile    `yaml:"image"`
	Signals     []*signalFile `yaml:"signals"`
}

type imageFile struct {
	URL     yaml.Node `yaml:"url"`
	Alt     yaml.Node `yaml:"alt"`
	Caption yaml.Node `yaml:"caption"`
	Credit  yaml.Node `yaml:"credit"`
}

type signalFile struct {
	Title   yaml.Node     `yaml:"title"`
	Body    yaml.Node     `yaml:"body"`
	Sources []*sourceFile `yaml:"sources"`
}

type sourceFile struct {
	Name yaml.Node `yaml:"name"`
	URL  yaml.Node `yaml:"url"`
}

// reader checks a brief file and collects its problems, each with the
// field and line.
type reader struct {
	name    string
	regions digest.Regions
	doc     *yamlnode.Doc
	front   []problem // the front matter's, until frontMatter sorts them
	errs    []*digest.FieldError
}

// problem is a problem of the front matter and where it sorts: at the node
// it is about, or after the mapping a missing key is missing from.
type problem struct {
	line, column int
	err          *digest.FieldError
}

// frontMatter reads the front matter into b. Its problems come in the
// order of the file, a missing key at the end of its mapping.
func (r *reader) frontMatter(front string, b *digest.Brief) {
	r.readFrontMatter(front, b)
	slices.SortStableFunc(r.front, func(a, b problem) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.column, b.column))
	})
	for _, p := range r.front {
		r.errs = append(r.errs, p.err)
	}
}

func (r *reader) readFrontMatter(front string, b *digest.Brief) {
	var fm frontMatter
	doc, err := yamlnode.Decode([]byte(front), &fm)
	var refused yamlnode.Problems
	var extra *yamlnode.ExtraDocumentError
	switch {
	case errors.As(err, &refused):
		for _, p := range refused {
			r.problem(p)
		}
		return
	case errors.As(err, &extra):
		r.fail("", extra.Line, "front matter must be one YAML document")
		return
	case err != nil:
		r.fail("", 0, "front matter is not valid YAML: %v", err)
		return
	}
	r.doc = doc
	for _, p := range doc.Problems {
		r.problem(p)
	}
	if root := doc.Value(""); root != nil && root.Kind != yaml.MappingNode {
		if yamlnode.IsNull(root) { // Decode reports the other kinds
			r.failAt("", root, "must be a mapping of keys to values, not %s", yamlnode.Describe(root))
		}
		return
	}
	b.Slug = r.text(&fm.Slug, checkSlug)
	b.Region = r.text(&fm.Region, r.checkRegion)
	b.Headline = r.text(&fm.Headline, line(maxHeadline))
	b.Lede = r.text(&fm.Lede, paragraph(maxLede))
	b.PublishedAt = r.time(&fm.PublishedAt)
	b.Author = r.text(&fm.Author, line(maxName))
	if n := doc.Value("image"); n != nil && n.Kind == yaml.MappingNode {
		b.Image = r.image(fm.Image)
	}
	for i, s := range yamlnode.Align(doc, "signals", fm.Signals) {
		if sig, ok := r.signal(yamlnode.Index("signals", i), s); ok {
			b.Signals = append(b.Signals, sig)
		}
	}
	r.require("", "slug", given(&fm.Slug))
	r.require("", "region", given(&fm.Region))
	r.require("", "headline", given(&fm.Headline))
	r.require("", "published_at", given(&fm.PublishedAt))
	r.require("", "author", given(&fm.Author))
}

func (r *reader) image(f *imageFile) *digest.Image {
	img := &digest.Image{
		URL:     r.text(&f.URL, checkURL(true)),
		Alt:     r.text(&f.Alt, line(maxAlt)),
		Caption: r.text(&f.Caption, paragraph(maxCaption)),
		Credit:  r.text(&f.Credit, line(maxName)),
	}
	r.require("image", "url", given(&f.URL))
	if img.Alt == "" && img.Caption == "" {
		n := r.doc.Value("image")
		r.add("image", n.Line, end(n), "needs alt text or a caption, for readers who cannot see the image")
	}
	return img
}

// signal reads the signal at path; ok is false when it is not a mapping.
func (r *reader) signal(path string, f *signalFile) (s digest.Signal, ok bool) {
	if !r.isMapping(path, f != nil) {
		return s, false
	}
	s.Title = r.text(&f.Title, line(maxHeadline))
	s.Body = r.text(&f.Body, markdown)
	sources := yamlnode.Join(path, "sources")
	for i, src := range yamlnode.Align(r.doc, sources, f.Sources) {
		item := yamlnode.Index(sources, i)
		if r.isMapping(item, src != nil) {
			s.Sources = append(s.Sources, digest.Source{Name: r.text(&src.Name, line(maxName)), URL: r.text(&src.URL, checkURL(false))})
			r.require(item, "name", given(&src.Name))
		}
	}
	list := r.doc.Value(sources)
	if list != nil && list.Kind == yaml.SequenceNode && len(list.Content) == 0 {
		r.failAt(sources, list, "at least one source is required")
	}
	r.require(path, "title", given(&f.Title))
	r.require(path, "sources", list != nil && !yamlnode.IsNull(list))
	return s, true
}

// isMapping reports whether the list item at path was decoded, which the
// library does for a mapping or a null, and reports a null item: a list of
// signals or sources holds mappings.
func (r *reader) isMapping(path string, decoded bool) bool {
	n := r.doc.Value(path)
	if yamlnode.IsNull(n) {
		r.failAt(path, n, "must be a mapping of keys to values, not %s", yamlnode.Describe(n))
		return false
	}
	return decoded // else Decode has reported it
}

// given reports whether the leaf n has a value: "key:" with nothing, or
// with only spaces, is the same as no key.
func given(n *yaml.Node) bool {
	return n.Kind != 0 && !yamlnode.IsNull(n) && (n.Kind != yaml.ScalarNode || strings.TrimSpace(n.Value) != "")
}

// require reports key, in the mapping at path, as missing unless present.
// The line is the key's when it is there without a value, else the
// mapping's (0 for the front matter as a whole).
func (r *reader) require(path, key string, present bool) {
	if present {
		return
	}
	full := yamlnode.Join(path, key)
	if path == "" {
		r.add(full, r.doc.Line(full), [2]int{math.MaxInt, 0}, "is required")
		return
	}
	mapping := r.doc.Value(path)
	line := r.doc.Line(full)
	if line == 0 {
		line = mapping.Line
	}
	r.add(full, line, end(mapping), "is required")
}

// text reads the leaf n as written, trimmed, and checks it; it returns ""
// when n has no value or a problem (reported).
func (r *reader) text(n *yaml.Node, check func(string) string) string {
	v, ok := r.scalar(n)
	if !ok {
		return ""
	}
	if reason := check(v); reason != "" {
		r.failAt(r.doc.PathOf(n), n, "%s", reason)
		return ""
	}
	return v
}

func (r *reader) time(n *yaml.Node) time.Time {
	v, ok := r.scalar(n)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		r.failAt(r.doc.PathOf(n), n, "%q is not an RFC 3339 time with a zone offset, like 2026-11-25T19:34:00Z", v)
		return time.Time{}
	}
	if t.Year() < 1970 {
		// Most likely a typo; and the zero time means "unset" to
		// every layer that stores or compares it.
		r.failAt(r.doc.PathOf(n), n, "%q is before 1970; check the year", v)
		return time.Time{}
	}
	return t.UTC()
}

// scalar returns the trimmed text of the leaf n; ok is false when it has
// none, or is not text (reported).
func (r *reader) scalar(n *yaml.Node) (string, bool) {
	if !given(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		r.failAt(r.doc.PathOf(n), n, "must be text, not %s", yamlnode.Describe(n))
		return "", false
	}
	return strings.TrimSpace(n.Value), true
}

func (r *reader) checkRegion(code string) string {
	if _, ok := r.regions.Lookup(code); ok {
		return ""
	}
	if len(r.regions) == 0 {
		return fmt.Sprintf("unknown region %q (no regions are configured)", code)
	}
	return fmt.Sprintf("unknown region %q (known: %s)", code, strings.Join(r.regions.Codes(), ", "))
}

// fail records a problem; line 0 means the file as a whole.
func (r *reader) fail(path string, line int, format string, args ...any) {
	r.errs = append(r.errs, r.fieldError(path, line, format, args...))
}

func (r *reader) fieldError(path string, line int, format string, args ...any) *digest.FieldError {
	record := r.name
	if line > 0 {
		record = fmt.Sprintf("%s:%d", r.name, line)
	}
	return &digest.FieldError{Record: record, Field: path, Reason: fmt.Sprintf(format, args...)}
}

// failAt records a problem of the front matter with node n at path.
func (r *reader) failAt(path string, n *yaml.Node, format string, args ...any) {
	r.add(path, n.Line, [2]int{n.Line, n.Column}, format, args...)
}

// add records a problem of the front matter reported on line and sorted
// at position at.
func (r *reader) add(path string, line int, at [2]int, format string, args ...any) {
	r.front = append(r.front, problem{line: at[0], column: at[1], err: r.fieldError(path, line, format, args...)})
}

// problem records a problem the decoder found.
func (r *reader) problem(p yamlnode.Problem) {
	r.add(p.Path, p.Line, [2]int{p.Line, p.Column}, "%s", p.Reason)
}

// end is the sort position of a problem found after reading n.
func end(n *yaml.Node) [2]int {
	line, column := yamlnode.End(n)
	return [2]int{line, column + 1}
}

// body checks the Markdown after the front matter, which starts on file
// line start, and returns it trimmed.
func (r *reader) body(body string, start int) string {
	for i, l := range strings.Split(body, "\n") {
		if reason := markdown(l); reason != "" {
			r.fail("body", start+i, "%s", reason)
			return ""
		}
	}
	body = trimMarkdown(body)
	if body == "" {
		r.fail("body", 0, `is required: write The News in Markdown after the closing "---" line`)
	}
	return body
}
