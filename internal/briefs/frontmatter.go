package briefs

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// reader walks the front matter's YAML nodes. Walking nodes rather than
// decoding into a struct keeps each value's line for errors, refuses
// unknown keys with the key's path in the message, and takes scalars as
// written (a headline "2026" or "true" stays text).
type reader struct {
	name    string
	regions digest.Regions
	errs    []*digest.FieldError
}

// field is one key a mapping may hold and how to read its value.
type field struct {
	key      string
	required bool
	// read reads, checks and stores a value; it reports whether the
	// value was there at all (not empty), valid or not.
	read func(path string, n *yaml.Node) bool
}

// KeyName makes field a row of a yamlnode.Mapping table.
func (f field) KeyName() string { return f.key }

func (r *reader) frontMatter(front string, b *digest.Brief) {
	dec := yaml.NewDecoder(strings.NewReader(front))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		r.fail("", 0, "front matter is not valid YAML: %v", err)
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		r.fail("", extra.Line, "front matter must be one YAML document")
		return
	}
	root := yamlnode.Root(&doc)
	if doc.Kind == 0 {
		root = &yaml.Node{Kind: yaml.MappingNode, Line: 1} // empty: every required key is missing
	}
	r.mapping("", 0, root, []field{
		{"slug", true, r.text(&b.Slug, checkSlug)},
		{"region", true, r.text(&b.Region, r.checkRegion)},
		{"headline", true, r.text(&b.Headline, line(maxHeadline))},
		{"lede", false, r.text(&b.Lede, paragraph(maxLede))},
		{"published_at", true, r.time(&b.PublishedAt)},
		{"author", true, r.text(&b.Author, line(maxName))},
		{"image", false, r.image(&b.Image)},
		{"signals", false, r.signals(&b.Signals)},
	})
}

func (r *reader) image(dst **digest.Image) func(string, *yaml.Node) bool {
	return func(path string, n *yaml.Node) bool {
		var img digest.Image
		if !r.mapping(path, n.Line, n, []field{
			{"url", true, r.text(&img.URL, checkURL(true))},
			{"alt", false, r.text(&img.Alt, line(maxAlt))},
			{"caption", false, r.text(&img.Caption, paragraph(maxCaption))},
			{"credit", false, r.text(&img.Credit, line(maxName))},
		}) {
			return true
		}
		if img.Alt == "" && img.Caption == "" {
			r.fail(path, n.Line, "needs alt text or a caption, for readers who cannot see the image")
		}
		*dst = &img
		return true
	}
}

func (r *reader) signals(dst *[]digest.Signal) func(string, *yaml.Node) bool {
	return func(path string, n *yaml.Node) bool {
		return r.list(path, n, func(item string, n *yaml.Node) {
			var s digest.Signal
			r.mapping(item, n.Line, n, []field{
				{"title", true, r.text(&s.Title, line(maxHeadline))},
				{"body", false, r.text(&s.Body, markdown)},
				{"sources", true, r.sources(&s.Sources)},
			})
			*dst = append(*dst, s)
		})
	}
}

func (r *reader) sources(dst *[]digest.Source) func(string, *yaml.Node) bool {
	return func(path string, n *yaml.Node) bool {
		ok := r.list(path, n, func(item string, n *yaml.Node) {
			var s digest.Source
			r.mapping(item, n.Line, n, []field{
				{"name", true, r.text(&s.Name, line(maxName))},
				{"url", false, r.text(&s.URL, checkURL(false))},
			})
			*dst = append(*dst, s)
		})
		if ok && len(*dst) == 0 {
			r.fail(path, n.Line, "at least one source is required")
		}
		return true
	}
}

// mapping reads the keys of a mapping node: it refuses unknown and repeated
// keys, and reports required keys that are missing or null at keyLine (the
// line of the mapping's own key; 0 for the whole file). It reports whether
// n was a mapping.
func (r *reader) mapping(path string, keyLine int, n *yaml.Node, fields []field) bool {
	seen := map[string]int{}     // known key → line of its first occurrence
	present := map[string]bool{} // keys with a value, valid or not
	ok := yamlnode.Mapping(r.fail, path, n, fields, func(f field, full string, k, v *yaml.Node) {
		seen[f.key] = k.Line
		// "key:" with no value is the same as no key.
		if !yamlnode.IsNull(v) && f.read(full, v) {
			present[f.key] = true
		}
	})
	if !ok {
		return false
	}
	for _, f := range fields {
		if f.required && !present[f.key] {
			at := keyLine
			if l, ok := seen[f.key]; ok {
				at = l // present but empty
			}
			r.fail(yamlnode.Join(path, f.key), at, "is required")
		}
	}
	return true
}

// list calls item for each element of a sequence node, with its path. It
// reports whether n was a list.
func (r *reader) list(path string, n *yaml.Node, item func(path string, n *yaml.Node)) bool {
	if yamlnode.RefuseAlias(r.fail, path, n) {
		return false
	}
	if n.Kind != yaml.SequenceNode {
		r.fail(path, n.Line, "must be a list (items starting with \"- \"), not %s", yamlnode.Describe(n))
		return false
	}
	for i, el := range n.Content {
		item(yamlnode.Index(path, i), el)
	}
	return true
}

// text reads a scalar as written, trimmed, checks it and stores it. An
// empty value counts as absent.
func (r *reader) text(dst *string, check func(string) string) func(string, *yaml.Node) bool {
	return func(path string, n *yaml.Node) bool {
		v, ok := r.scalar(path, n)
		if v == "" {
			return !ok // a non-text value was there, and is reported
		}
		if reason := check(v); reason != "" {
			r.fail(path, n.Line, "%s", reason)
			return true
		}
		*dst = v
		return true
	}
}

func (r *reader) time(dst *time.Time) func(string, *yaml.Node) bool {
	return func(path string, n *yaml.Node) bool {
		v, ok := r.scalar(path, n)
		if v == "" {
			return !ok
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			r.fail(path, n.Line, "%q is not an RFC 3339 time with a zone offset, like 2026-11-25T19:34:00Z", v)
			return true
		}
		if t.Year() < 1970 {
			// Most likely a typo; and the zero time means "unset" to
			// every layer that stores or compares it.
			r.fail(path, n.Line, "%q is before 1970; check the year", v)
			return true
		}
		*dst = t.UTC()
		return true
	}
}

func (r *reader) scalar(path string, n *yaml.Node) (string, bool) {
	if !yamlnode.Scalar(r.fail, path, n, "text") {
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
	record := r.name
	if line > 0 {
		record = fmt.Sprintf("%s:%d", r.name, line)
	}
	r.errs = append(r.errs, &digest.FieldError{Record: record, Field: path, Reason: fmt.Sprintf(format, args...)})
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
