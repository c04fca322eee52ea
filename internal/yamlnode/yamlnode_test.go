package yamlnode_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/newsroom/digest/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

type key string

func (k key) KeyName() string { return string(k) }

// walk decodes src and walks its top-level mapping against keys, returning
// each problem as "line: path: reason" and each key read as "path=value".
func walk(t *testing.T, src string, keys []key) (problems, read []string) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("decode %q: %v", src, err)
	}
	fail := func(path string, line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%d: %s: %s", line, path, fmt.Sprintf(format, args...)))
	}
	yamlnode.Mapping(fail, "top", yamlnode.Root(&doc), keys, func(_ key, path string, _, v *yaml.Node) {
		read = append(read, path+"="+yamlnode.Describe(v))
	})
	return problems, read
}

func TestMapping(t *testing.T) {
	keys := []key{"host", "port"}
	tests := []struct {
		name     string
		src      string
		problems []string
		read     []string
	}{
		{"known keys are read in order", "port: 25\nhost: mail\n", nil,
			[]string{`top.port=the value "25"`, `top.host=the value "mail"`}},
		{"an unknown key lists the known ones", "host: a\nprot: 25\n",
			[]string{"2: top.prot: unknown key (known keys here: host, port)"},
			[]string{`top.host=the value "a"`}},
		{"a repeated key names the first line", "host: a\nport: 1\nhost: b\n",
			[]string{"3: top.host: is set twice (first on line 1)"},
			[]string{`top.host=the value "a"`, `top.port=the value "1"`}},
		{"a key that is not a plain name", "? [a, b]\n: 1\n",
			[]string{"1: top: keys must be plain names, not a list"}, nil},
		{"a list is not a mapping", "- host\n",
			[]string{"1: top: must be a mapping of keys to values, not a list"}, nil},
		{"a scalar is not a mapping", "mail.example\n",
			[]string{`1: top: must be a mapping of keys to values, not the value "mail.example"`}, nil},
		{"an alias value is passed on, for the reader to refuse", "host: &h a\nport: *h\n", nil,
			[]string{`top.host=the value "a"`, "top.port=an alias"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems, read := walk(t, tt.src, keys)
			if !slices.Equal(problems, tt.problems) {
				t.Errorf("problems:\n got %q\nwant %q", problems, tt.problems)
			}
			if !slices.Equal(read, tt.read) {
				t.Errorf("read:\n got %q\nwant %q", read, tt.read)
			}
		})
	}
}

func TestRefuseAlias(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: &x 1\nb: *x\n"), &doc); err != nil {
		t.Fatal(err)
	}
	root := yamlnode.Root(&doc)
	var problems []string
	fail := func(path string, line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%d: %s: %s", line, path, fmt.Sprintf(format, args...)))
	}
	if yamlnode.RefuseAlias(fail, "a", root.Content[1]) {
		t.Error("RefuseAlias refused a plain value")
	}
	if !yamlnode.RefuseAlias(fail, "b", root.Content[3]) {
		t.Error("RefuseAlias let an alias through")
	}
	want := []string{"2: b: YAML aliases (*x) are not supported; write the value out"}
	if !slices.Equal(problems, want) {
		t.Errorf("problems:\n got %q\nwant %q", problems, want)
	}
}

func TestIsNull(t *testing.T) {
	tests := []struct {
		src  string
		want bool
	}{
		{"v:\n", true},
		{"v: ~\n", true},
		{"v: null\n", true},
		{`v: ""` + "\n", false},
		{"v: 'null'\n", false},
		{"v: 0\n", false},
		{"v: []\n", false},
	}
	for _, tt := range tests {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tt.src), &doc); err != nil {
			t.Fatalf("decode %q: %v", tt.src, err)
		}
		if got := yamlnode.IsNull(yamlnode.Root(&doc).Content[1]); got != tt.want {
			t.Errorf("IsNull(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestPaths(t *testing.T) {
	tests := []struct{ got, want string }{
		{yamlnode.Join("", "smtp"), "smtp"},
		{yamlnode.Join("smtp", "port"), "smtp.port"},
		{yamlnode.Join(yamlnode.Index("regions", 2), "code"), "regions[2].code"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestScalar(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: &x 1\nb: *x\nc: [1]\nd: {e: 1}\n"), &doc); err != nil {
		t.Fatal(err)
	}
	root := yamlnode.Root(&doc)
	tests := []struct {
		path    string
		value   *yaml.Node
		want    bool
		problem string
	}{
		{"a", root.Content[1], true, ""},
		{"b", root.Content[3], false, "2: b: YAML aliases (*x) are not supported; write the value out"},
		{"c", root.Content[5], false, "3: c: must be text, not a list"},
		{"d", root.Content[7], false, "4: d: must be text, not a mapping"},
	}
	for _, tt := range tests {
		var problem string
		fail := func(path string, line int, format string, args ...any) {
			problem = fmt.Sprintf("%d: %s: %s", line, path, fmt.Sprintf(format, args...))
		}
		if got := yamlnode.Scalar(fail, tt.path, tt.value, "text"); got != tt.want || problem != tt.problem {
			t.Errorf("Scalar(%s) = %v, problem %q; want %v, %q", tt.path, got, problem, tt.want, tt.problem)
		}
	}
}
