// Package yamlnode walks yaml.Node trees with precise, line-numbered errors
// for strict formats: the configuration file and the briefs' front matter.
//
// Those formats read nodes rather than decoding into structs so that every
// problem names its dotted key and line, unknown keys are refused (a
// misspelt key must not silently leave a setting unset), and aliases are
// refused. This package holds the walking and wording they share; what a
// value means, and how a problem is recorded, stays with each format.
package yamlnode

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Fail records a problem with the value at path (a dotted key such as
// "smtp.port" or "signals[0].title", "" for the document itself) found on
// line (0 for the document as a whole). The format and args are as for
// fmt.Sprintf.
type Fail func(path string, line int, format string, args ...any)

// Key is one entry in a table of the keys a mapping may hold. Tables are
// slices whose order is the order an "unknown key" error lists them in.
type Key interface {
	KeyName() string
}

// Root returns the single top-level node of a decoded document, or doc
// itself when it is not a one-node document.
func Root(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return doc
}

// Mapping walks the keys of mapping node n at path against the table keys.
// It reports through fail an alias, a node that is not a mapping, a key
// that is not a plain name, a key given twice and a key not in the table;
// for every other key it calls value with the table entry, the key's
// dotted path, and the key and value nodes. It reports whether n was a
// mapping.
//
// A null n is not a mapping here: formats where "key:" with no value means
// an empty mapping check IsNull first.
func Mapping[K Key](fail Fail, path string, n *yaml.Node, keys []K, value func(key K, path string, name, val *yaml.Node)) bool {
	if RefuseAlias(fail, path, n) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		fail(path, n.Line, "must be a mapping of keys to values, not %s", Describe(n))
		return false
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, val := n.Content[i], n.Content[i+1]
		if name.Kind != yaml.ScalarNode {
			fail(path, name.Line, "keys must be plain names, not %s", Describe(name))
			continue
		}
		full := Join(path, name.Value)
		if line, dup := first[name.Value]; dup {
			fail(full, name.Line, "is set twice (first on line %d)", line)
			continue
		}
		first[name.Value] = name.Line
		key, ok := lookup(keys, name.Value)
		if !ok {
			fail(full, name.Line, "unknown key (known keys here: %s)", keyNames(keys))
			continue
		}
		value(key, full, name, val)
	}
	return true
}

// Scalar reports whether n is a single value. When it is not, it reports
// through fail an alias as RefuseAlias does, or anything else as "must be
// <what>, not <Describe(n)>": what is the format's word for the value
// ("text", "a single value").
func Scalar(fail Fail, path string, n *yaml.Node, what string) bool {
	if RefuseAlias(fail, path, n) {
		return false
	}
	if n.Kind != yaml.ScalarNode {
		fail(path, n.Line, "must be %s, not %s", what, Describe(n))
		return false
	}
	return true
}

// RefuseAlias reports through fail, and reports whether, n is a YAML
// alias. Following aliases would let a small file expand into a huge one
// (nested aliases grow exponentially), and strict formats have no need.
func RefuseAlias(fail Fail, path string, n *yaml.Node) bool {
	if n.Kind != yaml.AliasNode {
		return false
	}
	fail(path, n.Line, "YAML aliases (*%s) are not supported; write the value out", n.Value)
	return true
}

// IsNull reports whether n is a null scalar: "~", "null", or a key with
// nothing after it.
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Describe names what n is, for "must be X, not <Describe>" errors: "a
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

func lookup[K Key](keys []K, name string) (K, bool) {
	for _, k := range keys {
		if k.KeyName() == name {
			return k, true
		}
	}
	var zero K
	return zero, false
}

func keyNames[K Key](keys []K) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.KeyName()
	}
	return strings.Join(names, ", ")
}
