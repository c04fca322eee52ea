// Package yamlnode decodes the strict YAML formats, the configuration file
// and the briefs' front matter, into structs with go.yaml.in/yaml/v3, and
// adds what the library does not do for them:
//
//   - It refuses, before the library sees them, what the library would
//     follow, merge or drop silently: aliases (a small file could expand
//     into a huge one), merge keys, keys that are not plain names, and a key
//     given twice (the library then skips the whole mapping).
//   - It names the dotted key and the line of each key the library refuses
//     as unknown and each value it cannot decode (a value where a mapping
//     or a list belongs): it finds them by walking the document beside the
//     layout, since the library's messages carry only a line and a Go type.
//   - It tells a format where each value it decoded came from, so that the
//     format's own checks can name the key and line too.
//
// A format declares its layout as structs with yaml tags whose leaves are
// yaml.Node: the library matches keys to fields and refuses unknown ones
// (KnownFields), and the format reads each leaf itself, since what a value
// means (an expanded ${VAR}, a strict true/false, a duration) is its own.
package yamlnode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one problem found in a document.
type Problem struct {
	// Path is the dotted key ("smtp.port", "signals[0].title"), "" for the
	// document itself.
	Path string
	// Line and Column locate the problem; a Line of 0 means the document
	// as a whole.
	Line, Column int
	Reason       string
	// Want is the kind of node the place needs when the problem is a
	// value of the wrong kind (yaml.MappingNode or yaml.SequenceNode), so
	// a format can word it its own way; 0 otherwise.
	Want yaml.Kind
}

// Problems is the error Decode returns when the document breaks a rule
// that makes decoding it pointless or unsafe (an alias, a repeated key).
type Problems []Problem

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = fmt.Sprintf("line %d: %s: %s", p.Line, p.Path, p.Reason)
	}
	return strings.Join(msgs, "\n")
}

// ExtraDocumentError is the error Decode returns when the input goes on
// after its first YAML document: with a second document, which starts on
// Line, or with text that is no YAML (Err, the library's syntax error).
type ExtraDocumentError struct {
	Line int
	Err  error
}

func (e *ExtraDocumentError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("line %d: a second YAML document", e.Line)
}

func (e *ExtraDocumentError) Unwrap() error { return e.Err }

// Doc is a decoded document: where each key and value of it is.
type Doc struct {
	// Problems are the keys and values the library could not decode
	// (unknown keys, a value of the wrong kind for a mapping or list), in
	// document order, each with its dotted key. Decode has still filled
	// what it could.
	Problems []Problem

	places map[string]place  // each known key and list item, and the root ""
	leaves map[[2]int]string // line and column of each non-null leaf value → its path
}

// place is where one path of the document is: a key and its value, or a
// list item or the root (key is nil).
type place struct{ key, value *yaml.Node }

var nodeType = reflect.TypeOf(yaml.Node{})

// Decode decodes src, which must hold at most one YAML document, into v, a
// pointer to a struct whose fields carry yaml tags; its leaves should be
// yaml.Node, which the library fills without interpreting. Values v already
// holds stay where the document has no key, or a key with no value.
//
// The error is the library's for a syntax error in the first document,
// *ExtraDocumentError for anything after it, and Problems when the
// document breaks one of the rules above; v is then left as it was.
// Problems that keep parts of the document from being decoded are in
// Doc.Problems. An empty src decodes to nothing.
func Decode(src []byte, v any) (*Doc, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return newDoc(), nil
	case err != nil:
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &ExtraDocumentError{Line: extra.Line, Err: err}
	}

	d := newDoc()
	var refused Problems
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	d.walk(&refused, "", nil, root, reflect.TypeOf(v))
	if len(refused) > 0 {
		return nil, refused
	}

	// The library parses src again: only its Decoder checks known fields.
	// It refuses what walk has put in d.Problems, naming a line and a Go
	// type only, so its error adds nothing to them; should it fail on a
	// document walk found no problem in, its message reaches the user.
	strict := yaml.NewDecoder(bytes.NewReader(src))
	strict.KnownFields(true)
	if err := strict.Decode(v); err != nil && len(d.Problems) == 0 {
		d.Problems = append(d.Problems, Problem{Reason: err.Error()})
	}
	return d, nil
}

func newDoc() *Doc {
	return &Doc{places: map[string]place{}, leaves: map[[2]int]string{}}
}

// walk indexes the value n at path, which the library will decode into a
// value of type t. It reports through refused what the library must not
// see, and in d.Problems what the library will not decode. It follows the
// layout: it does not descend into leaves, which the library keeps as
// written, nor into unknown keys and values of the wrong kind, which the
// library skips.
func (d *Doc) walk(refused *Problems, path string, key, n *yaml.Node, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	d.places[path] = place{key: key, value: n}
	switch want := wantKind(t); {
	case n.Kind == yaml.AliasNode:
		*refused = append(*refused, at(path, n, "YAML aliases (*%s) are not supported; write the value out", n.Value))
	case want == 0:
		if !IsNull(n) {
			d.leaves[[2]int{n.Line, n.Column}] = path
		}
	case n.Kind == yaml.ScalarNode && converted(n):
		// The library would give up on the whole document, naming no
		// line, at "!!int x" where a mapping or list belongs.
		*refused = append(*refused, wrongKind(path, n, want))
	case n.Kind != yaml.ScalarNode && n.ShortTag() == "!!null":
		// The library would not decode it where a pointer is.
		*refused = append(*refused, at(path, n, "is tagged !!null but holds %s; remove the tag", Describe(n)))
	case IsNull(n):
		// The library keeps what v holds.
	case n.Kind != want:
		d.Problems = append(d.Problems, wrongKind(path, n, want))
	case want == yaml.MappingNode:
		d.mapping(refused, path, n, t)
	default:
		for i, item := range n.Content {
			d.walk(refused, Index(path, i), nil, item, t.Elem())
		}
	}
}

// mapping walks the keys of mapping n, decoded into struct type t.
func (d *Doc) mapping(refused *Problems, path string, n *yaml.Node, t reflect.Type) {
	fields := fieldsOf(t)
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, val := n.Content[i], n.Content[i+1]
		if name.Kind != yaml.ScalarNode {
			*refused = append(*refused, at(path, name, "keys must be plain names, not %s", Describe(name)))
			continue
		}
		full := Join(path, name.Value)
		if line, dup := first[name.Value]; dup {
			*refused = append(*refused, at(full, name, "is set twice (first on line %d)", line))
			continue
		}
		first[name.Value] = name.Line
		ft, known := fields.types[name.Value]
		switch {
		case !readAsWritten(name):
			// "~", "<<" or "!!binary ...": the library would skip,
			// merge or decode the key instead of matching its text.
			*refused = append(*refused, at(full, name, "%s", fields.unknown()))
		case !known:
			d.Problems = append(d.Problems, at(full, name, "%s", fields.unknown()))
		default:
			d.walk(refused, full, name, val, ft)
		}
	}
}

// readAsWritten reports whether the library matches key to a field by the
// text it shows: it skips a null key ("~"), merges a merge key ("<<") and
// converts a key by an explicit tag.
func readAsWritten(key *yaml.Node) bool {
	switch key.ShortTag() {
	case "!!null", "!!merge":
		return false
	}
	return !converted(key)
}

// converted reports whether scalar n has an explicit tag that the library
// converts its value by ("!!int 5", "!!binary aGk="), failing without a
// line when the value is not of that type.
func converted(n *yaml.Node) bool {
	if n.Style&yaml.TaggedStyle == 0 {
		return false
	}
	switch n.ShortTag() {
	case "!!bool", "!!int", "!!float", "!!null", "!!timestamp", "!!binary":
		return true
	}
	return false
}

// at is a problem with node n, at path.
func at(path string, n *yaml.Node, format string, args ...any) Problem {
	return Problem{Path: path, Line: n.Line, Column: n.Column, Reason: fmt.Sprintf(format, args...)}
}

// fields are the keys of a struct type, in the order of its fields.
type fields struct {
	names []string
	types map[string]reflect.Type
}

func fieldsOf(t reflect.Type) fields {
	fs := fields{types: map[string]reflect.Type{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // the library's default
		}
		fs.names = append(fs.names, name)
		fs.types[name] = f.Type
	}
	return fs
}

// unknown is the reason for a key that is not one of fs.
func (fs fields) unknown() string {
	return fmt.Sprintf("unknown key (known keys here: %s)", strings.Join(fs.names, ", "))
}

// wrongKind reports n, at path, where a node of kind want belongs.
func wrongKind(path string, n *yaml.Node, want yaml.Kind) Problem {
	what := "a mapping of keys to values"
	if want == yaml.SequenceNode {
		what = `a list (items starting with "- ")`
	}
	p := at(path, n, "must be %s, not %s", what, Describe(n))
	p.Want = want
	return p
}

// wantKind is the kind of node a value decoded into t must be: a mapping
// for a struct, a list for a slice; 0 for a leaf.
func wantKind(t reflect.Type) yaml.Kind {
	switch {
	case t == nodeType:
		return 0
	case t.Kind() == reflect.Struct:
		return yaml.MappingNode
	case t.Kind() == reflect.Slice:
		return yaml.SequenceNode
	}
	return 0
}

// PathOf returns the dotted key of a leaf that Decode filled: n is the
// yaml.Node the library stored, found by where it is in the document. It
// returns "" for a leaf the document did not set, or set to null.
func (d *Doc) PathOf(n *yaml.Node) string {
	return d.leaves[[2]int{n.Line, n.Column}]
}

// Value returns the node at path as written (a key's value or a list
// item; "" is the document's root), or nil when the document has none.
func (d *Doc) Value(path string) *yaml.Node {
	return d.places[path].value
}

// Line returns the line of the key at path, or of the list item at path;
// 0 when the document has neither (or path is "").
func (d *Doc) Line(path string) int {
	e, ok := d.places[path]
	switch {
	case !ok || path == "":
		return 0
	case e.key != nil:
		return e.key.Line
	}
	return e.value.Line
}

// Align returns the items of the list at path as the library decoded them
// into decoded, each at its index in the document: the library leaves out
// an item it could not decode (one of the wrong kind, in Doc.Problems), so
// that item is nil here, as is a null item.
func Align[T any](d *Doc, path string, decoded []*T) []*T {
	list := d.Value(path)
	if list == nil || list.Kind != yaml.SequenceNode {
		return decoded
	}
	out := make([]*T, len(list.Content))
	next := 0
	for i, item := range list.Content {
		if (item.Kind == yaml.MappingNode || IsNull(item)) && next < len(decoded) {
			out[i] = decoded[next]
			next++
		}
	}
	return out
}

// End returns where the last node inside n starts, or n's own position
// when it holds none: a problem found after reading a whole mapping (a
// missing key) sorts there, before the key that follows the mapping.
func End(n *yaml.Node) (line, column int) {
	line, column = n.Line, n.Column
	for _, c := range n.Content {
		if l, col := End(c); l > line || l == line && col > column {
			line, column = l, col
		}
	}
	return line, column
}

// IsNull reports whether n is a null scalar: "~", "null", or a key with
// nothing after it.
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Describe names what n is, for "must be X, not <Describe>" messages: "a
// mapping", "a list", "an alias", or a scalar's value quoted.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "an alias"
}

// Join returns the dotted path of key inside the mapping at path:
// Join("smtp", "port") is "smtp.port", Join("", "smtp") is "smtp".
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index returns the path of item i of the list at path: "regions[2]".
func Index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
