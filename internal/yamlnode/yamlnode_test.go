package yamlnode_test

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/newsroom/digest/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// layout is a small format in the shape of the real ones: leaves are
// yaml.Node, sections are structs, lists hold pointers to structs.
type layout struct {
	Name   yaml.Node    `yaml:"name"`
	Server server       `yaml:"server"`
	Extra  *server      `yaml:"extra"`
	Items  []*itemShape `yaml:"items"`
}

type server struct {
	Host yaml.Node `yaml:"host"`
	Port yaml.Node `yaml:"port"`
}

type itemShape struct {
	Code yaml.Node `yaml:"code"`
}

// problems renders problems as "line:column: path: reason".
func problems(ps []yamlnode.Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%d:%d: %s: %s", p.Line, p.Column, p.Path, p.Reason))
	}
	return out
}

func TestDecodeReadsTheLayout(t *testing.T) {
	src := "name: digest\nserver:\n  host: mail\nitems:\n  - code: a\n  - {code: b}\n"
	var v layout
	v.Server.Port = yaml.Node{Kind: yaml.ScalarNode, Value: "25"} // a default
	d, err := yamlnode.Decode([]byte(src), &v)
	if err != nil || len(d.Problems) > 0 {
		t.Fatalf("Decode: %v, %v", err, d)
	}
	if v.Name.Value != "digest" || v.Server.Host.Value != "mail" || v.Server.Port.Value != "25" || v.Extra != nil {
		t.Errorf("decoded %q %q %q %v", v.Name.Value, v.Server.Host.Value, v.Server.Port.Value, v.Extra)
	}
	if len(v.Items) != 2 || v.Items[1].Code.Value != "b" {
		t.Fatalf("items %v", v.Items)
	}
	for _, tt := range []struct {
		leaf *yaml.Node
		path string
		line int
	}{
		{&v.Name, "name", 1},
		{&v.Server.Host, "server.host", 3},
		{&v.Items[0].Code, "items[0].code", 5},
		{&v.Items[1].Code, "items[1].code", 6},
	} {
		if got := d.PathOf(tt.leaf); got != tt.path {
			t.Errorf("PathOf(%q) = %q, want %q", tt.leaf.Value, got, tt.path)
		}
		if got := d.Line(tt.path); got != tt.line {
			t.Errorf("Line(%q) = %d, want %d", tt.path, got, tt.line)
		}
	}
	if got := d.Line("server"); got != 2 {
		t.Errorf("Line(server) = %d, want the key's line 2", got)
	}
	if got := d.Value("server").Line; got != 3 {
		t.Errorf("Value(server) on line %d, want the mapping's line 3", got)
	}
	if d.Value("server.port") != nil || d.Line("server.port") != 0 || d.PathOf(&v.Server.Port) != "" {
		t.Errorf("a key the document does not have is found")
	}
	if line, col := yamlnode.End(d.Value("items")); line != 6 || col != 12 {
		t.Errorf("End(items) = %d:%d, want 6:12 (the last value inside)", line, col)
	}
}

// TestDecodeNamesWhatTheLibraryRefuses checks that each key and value the
// library refuses while decoding is a problem with the key's path and line.
func TestDecodeNamesWhatTheLibraryRefuses(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown key", "name: a\nnmae: b\n",
			[]string{"2:1: nmae: unknown key (known keys here: name, server, extra, items)"}},
		{"unknown nested key", "server:\n  hots: a\n",
			[]string{"2:3: server.hots: unknown key (known keys here: host, port)"}},
		{"the same unknown key twice on one line", "items: [{code: a, zone: x}, {zone: y}]\n",
			[]string{"1:19: items[0].zone: unknown key (known keys here: code)", "1:30: items[1].zone: unknown key (known keys here: code)"}},
		{"a value where a mapping belongs", "server: yes\n",
			[]string{`1:9: server: must be a mapping of keys to values, not the value "yes"`}},
		{"a list where a mapping belongs", "extra: [a]\n",
			[]string{"1:8: extra: must be a mapping of keys to values, not a list"}},
		{"a mapping where a list belongs", "items: {code: a}\n",
			[]string{"1:8: items: must be a list (items starting with \"- \"), not a mapping"}},
		{"a value where a list item's mapping belongs", "items: [x, {code: a}]\n",
			[]string{`1:9: items[0]: must be a mapping of keys to values, not the value "x"`}},
		{"a list as the document", "- a\n",
			[]string{"1:1: : must be a mapping of keys to values, not a list"}},
		{"a value as the document", "just text\n",
			[]string{`1:1: : must be a mapping of keys to values, not the value "just text"`}},
		{"an unknown key whose value would be refused", "name: &a x\nextra2: *a\n",
			[]string{"2:1: extra2: unknown key (known keys here: name, server, extra, items)"}},
		{"leaves take any value", "name: [&y a, {b: c}]\nserver: {host: {x: *y, x: 1}}\n", nil},
		{"a key with no value keeps the default", "server:\nitems:\nextra: ~\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v layout
			d, err := yamlnode.Decode([]byte(tt.src), &v)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := problems(d.Problems); !slices.Equal(got, tt.want) {
				t.Errorf("problems\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDecodeAlignsListItems(t *testing.T) {
	var v layout
	d, err := yamlnode.Decode([]byte("items: [x, ~, {code: c}, [d]]\n"), &v)
	if err != nil {
		t.Fatal(err)
	}
	items := yamlnode.Align(d, "items", v.Items)
	if len(items) != 4 || items[0] != nil || items[1] != nil || items[3] != nil || items[2] == nil || items[2].Code.Value != "c" {
		t.Fatalf("aligned items %v", items)
	}
	if got := d.PathOf(&items[2].Code); got != "items[2].code" {
		t.Errorf("path %q", got)
	}
	if got := len(d.Problems); got != 2 {
		t.Errorf("%d problems, want 2 (x and [d]; a null item is the format's to judge)", got)
	}
}

// TestDecodeRefuses checks the rules that keep a document from the
// library: each is reported, in document order, and nothing is decoded.
func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"an alias", "name: &n a\nserver: {host: *n}\n",
			[]string{"2:16: server.host: YAML aliases (*n) are not supported; write the value out"}},
		{"an alias for a section", "extra: &s {host: a}\nserver: *s\n",
			[]string{"2:9: server: YAML aliases (*s) are not supported; write the value out"}},
		{"a key given twice", "name: a\nserver: {}\nname: b\n",
			[]string{"3:1: name: is set twice (first on line 1)"}},
		{"a merge key", "server:\n  <<: {host: a}\n",
			[]string{"2:3: server.<<: unknown key (known keys here: host, port)"}},
		{"a null key", "~: a\n",
			[]string{"1:1: ~: unknown key (known keys here: name, server, extra, items)"}},
		{"a key converted by its tag", "!!binary bmFtZQ==: a\n",
			[]string{"1:1: bmFtZQ==: unknown key (known keys here: name, server, extra, items)"}},
		{"a key that is not a plain name", "? [a, b]\n: 1\n",
			[]string{"1:3: : keys must be plain names, not a list"}},
		{"a converting tag where a mapping belongs", "server: !!int abc\n",
			[]string{`1:9: server: must be a mapping of keys to values, not the value "abc"`}},
		{"a mapping tagged null", "extra: !!null {host: a}\n",
			[]string{"1:8: extra: is tagged !!null but holds a mapping; remove the tag"}},
		{"several", "name: &x a\nname: b\nitems: [*x]\n", []string{
			"2:1: name: is set twice (first on line 1)",
			"3:9: items[0]: YAML aliases (*x) are not supported; write the value out"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v layout
			_, err := yamlnode.Decode([]byte(tt.src), &v)
			var refused yamlnode.Problems
			if !errors.As(err, &refused) {
				t.Fatalf("Decode: %v, want Problems", err)
			}
			if got := problems(refused); !slices.Equal(got, tt.want) {
				t.Errorf("problems\n got %q\nwant %q", got, tt.want)
			}
			if v.Name.Kind != 0 || v.Server.Host.Kind != 0 {
				t.Errorf("decoded although refused")
			}
		})
	}
}

// TestDecodeAllows checks what the rules let through: an anchor with no
// alias, a quoted "<<", and keys with a !!str or a custom tag.
func TestDecodeAllows(t *testing.T) {
	var v layout
	d, err := yamlnode.Decode([]byte("name: &n a\n'<<': b\n!!str server: {host: x}\n!mine items: []\n"), &v)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got, want := problems(d.Problems), []string{"2:1: <<: unknown key (known keys here: name, server, extra, items)"}; !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
	if v.Name.Value != "a" || v.Server.Host.Value != "x" || v.Items == nil {
		t.Errorf("not read: name %q, host %q, items %v", v.Name.Value, v.Server.Host.Value, v.Items)
	}
}

func TestDecodeDocuments(t *testing.T) {
	var v layout
	d, err := yamlnode.Decode([]byte("# only a comment\n"), &v)
	if err != nil || len(d.Problems) > 0 || d.Value("") != nil {
		t.Errorf("empty document: %v, %v", err, d)
	}

	_, err = yamlnode.Decode([]byte("name: [\n"), &v)
	if err == nil || err.Error() != "yaml: line 1: did not find expected node content" {
		t.Errorf("syntax error: %v", err)
	}

	_, err = yamlnode.Decode([]byte("name: a\n---\nname: b\n"), &v)
	var extra *yamlnode.ExtraDocumentError
	if !errors.As(err, &extra) || extra.Line != 2 || extra.Err != nil {
		t.Errorf("second document: %v", err)
	}

	_, err = yamlnode.Decode([]byte("name: a\n--- [\n"), &v)
	if !errors.As(err, &extra) || extra.Err == nil || !strings.HasPrefix(err.Error(), "yaml: line") {
		t.Errorf("a second document that is no YAML: %v", err)
	}
}

func TestDescribeAndPaths(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: x\nb: [1]\nc: {d: 1}\ne:\nf: &g 1\nh: *g\n"), &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	tests := []struct {
		n        *yaml.Node
		describe string
		null     bool
	}{
		{root.Content[1], `the value "x"`, false},
		{root.Content[3], "a list", false},
		{root.Content[5], "a mapping", false},
		{root.Content[7], `the value ""`, true},
		{root.Content[11], "an alias", false},
	}
	for _, tt := range tests {
		if got := yamlnode.Describe(tt.n); got != tt.describe {
			t.Errorf("Describe = %q, want %q", got, tt.describe)
		}
		if got := yamlnode.IsNull(tt.n); got != tt.null {
			t.Errorf("IsNull(%s) = %v", tt.describe, got)
		}
	}
	for _, tt := range []struct{ got, want string }{
		{yamlnode.Join("", "smtp"), "smtp"},
		{yamlnode.Join("smtp", "port"), "smtp.port"},
		{yamlnode.Join(yamlnode.Index("regions", 2), "code"), "regions[2].code"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// FuzzDecode checks that the walk foresees the library: on a document
// Decode accepts, the library's own decode fails exactly when Decode
// reports problems, and each of them names its line.
func FuzzDecode(f *testing.F) {
	for _, src := range []string{
		"name: digest\nserver:\n  host: mail\nitems:\n  - code: a\n  - {code: b}\n",
		"items: [x, ~, {code: c}, [d]]\n",
		"name: a\nnmae: b\nserver: yes\nextra: [a]\n",
		"items: {code: a, code: b}\n",
		"name: [&y a, {b: c}]\nserver: {host: {x: *y, x: 1}}\n",
		"extra: !!null {host: a}\nitems: [!!null {code: a}]\n",
		"!!str server: {host: x}\n!mine items: []\n'<<': b\n",
	} {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var v layout
		d, err := yamlnode.Decode([]byte(src), &v)
		if err != nil {
			return
		}
		var w layout
		dec := yaml.NewDecoder(strings.NewReader(src))
		dec.KnownFields(true)
		libErr := dec.Decode(&w)
		if errors.Is(libErr, io.EOF) {
			libErr = nil
		}
		if (libErr != nil) != (len(d.Problems) > 0) {
			t.Fatalf("library: %v; Decode: %q", libErr, problems(d.Problems))
		}
		for _, p := range d.Problems {
			if p.Line == 0 {
				t.Fatalf("a problem without a line: %q", p.Reason)
			}
		}
	})
}
