package render

import (
	"fmt"
	"strings"
	"text/template/parse"
)

// field is one of the view's personal fields: the only ones that differ
// between readers who get the same digest (see GroupKey).
type field uint8

const (
	fieldName field = iota
	fieldEmail
	fieldUnsubscribe
	fieldPreferences
	numFields
)

// String is the field's name in the view, as templates spell it.
func (f field) String() string {
	switch f {
	case fieldName:
		return "Name"
	case fieldEmail:
		return "Email"
	case fieldUnsubscribe:
		return "UnsubscribeURL"
	case fieldPreferences:
		return "PreferencesURL"
	}
	return fmt.Sprintf("field(%d)", f)
}

// personalField returns the personal field a view field name denotes.
func personalField(name string) (field, bool) {
	for f := range numFields {
		if f.String() == name {
			return f, true
		}
	}
	return 0, false
}

// checkFields proves, from the parse tree of a template as written (before
// html/template adds its escaping), that the template's output is its
// reader-independent text with each personal field printed wherever it
// prints it: that it does nothing else with a personal field than print it
// as {{.Name}}, test it ({{if .Name}}, {{with .Name}}…{{.}}…{{end}},
// and/or/not inside {{if}}) — emptiness, which Prepare keys by — or print
// it inside {{with}}. Anything else (passing it to a function such as wrap
// or printf, piping it, comparing it, storing it in a variable, handing the
// whole view to a function or another template) is refused with the
// template location, since Personalize could not reproduce it for every
// value. How the HTML part escapes what it prints, Prepare finds out from
// the output (see splitPart).
func checkFields(tree *parse.Tree) error {
	c := &treeCheck{tree: tree}
	c.list(tree.Root, value{kind: valView})
	return c.err
}

// treeCheck walks one template tree; the first refusal stops it.
type treeCheck struct {
	tree *parse.Tree
	err  error
}

// valueKind says what a pipeline evaluates to, as far as personal data goes.
type valueKind uint8

const (
	valOther valueKind = iota // the same for every reader of a digest
	valView                   // the whole view, personal fields included
	valField                  // one personal field
)

type value struct {
	kind  valueKind
	field field
}

func (v value) String() string {
	switch v.kind {
	case valView:
		return "the whole view (with the reader's fields)"
	case valField:
		return "the reader's " + v.field.String()
	}
	return "shared data"
}

func (c *treeCheck) fail(n parse.Node, format string, args ...any) {
	if c.err == nil {
		loc, _ := c.tree.ErrorContext(n)
		c.err = fmt.Errorf("%s: %s", loc, fmt.Sprintf(format, args...))
	}
}

func (c *treeCheck) list(l *parse.ListNode, dot value) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		c.node(n, dot)
	}
}

func (c *treeCheck) node(n parse.Node, dot value) {
	if c.err != nil {
		return
	}
	switch n := n.(type) {
	case *parse.TextNode, *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
	case *parse.ActionNode:
		v := c.pipe(n.Pipe, dot, false)
		if len(n.Pipe.Decl) > 0 {
			if v.kind != valOther {
				c.fail(n, "%s is stored in a variable", v)
			}
			return
		}
		if v.kind == valView {
			c.fail(n, "prints %s", v)
		}
	case *parse.IfNode:
		v := c.pipe(n.Pipe, dot, true)
		if len(n.Pipe.Decl) > 0 && v.kind != valOther {
			c.fail(n, "%s is stored in a variable", v)
		}
		c.list(n.List, dot)
		c.list(n.ElseList, dot)
	case *parse.WithNode:
		v := c.pipe(n.Pipe, dot, false)
		if len(n.Pipe.Decl) > 0 && v.kind != valOther {
			c.fail(n, "%s is stored in a variable", v)
		}
		c.list(n.List, v)
		c.list(n.ElseList, dot)
	case *parse.RangeNode:
		if v := c.pipe(n.Pipe, dot, false); v.kind != valOther {
			c.fail(n, "ranges over %s", v)
		}
		c.list(n.List, value{})
		c.list(n.ElseList, dot)
	case *parse.TemplateNode:
		if n.Pipe != nil {
			if v := c.pipe(n.Pipe, dot, false); v.kind != valOther {
				c.fail(n, "passes %s to template %q", v, n.Name)
			}
		}
	default:
		c.fail(n, "uses %s, which the check does not know", n)
	}
}

// pipe evaluates a pipeline's kind. cond is set for an {{if}} condition, where only the
// truth of the result counts: there and, or and not may take personal
// fields, since their truth follows from the fields' emptiness.
func (c *treeCheck) pipe(p *parse.PipeNode, dot value, cond bool) value {
	cond = cond && len(p.Cmds) == 1
	var cur value
	for i, cmd := range p.Cmds {
		if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok {
			logical := cond && (id.Ident == "and" || id.Ident == "or" || id.Ident == "not")
			if i > 0 && cur.kind != valOther {
				c.fail(cmd, "%s is piped to %s", cur, id.Ident)
			}
			for _, a := range cmd.Args[1:] {
				if v := c.arg(a, dot, logical); v.kind != valOther && !logical {
					c.fail(cmd, "%s is passed to %s", v, id.Ident)
				}
			}
			cur = value{}
			continue
		}
		if i > 0 && cur.kind != valOther {
			c.fail(cmd, "%s is piped to %s", cur, cmd)
		}
		v := c.arg(cmd.Args[0], dot, cond)
		if len(cmd.Args) > 1 { // a method call with arguments
			for _, a := range cmd.Args[1:] {
				if w := c.arg(a, dot, false); w.kind != valOther {
					v = w
				}
			}
			if v.kind != valOther {
				c.fail(cmd, "%s is used in a method call", v)
			}
			v = value{}
		}
		cur = v
	}
	return cur
}

// arg evaluates one operand.
func (c *treeCheck) arg(n parse.Node, dot value, cond bool) value {
	switch n := n.(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		return c.fieldOf(n, dot, n.Ident)
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			return c.fieldOf(n, value{kind: valView}, n.Ident[1:])
		}
		// node refuses to declare a variable holding anything but
		// shared data, so every other variable holds shared data.
		return value{}
	case *parse.ChainNode:
		return c.fieldOf(n, c.arg(n.Node, dot, false), n.Field)
	case *parse.PipeNode:
		return c.pipe(n, dot, cond)
	case *parse.IdentifierNode, *parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
		return value{}
	}
	c.fail(n, "uses %s, which the check does not know", n)
	return value{}
}

// fieldOf evaluates the field chain idents on base.
func (c *treeCheck) fieldOf(n parse.Node, base value, idents []string) value {
	if len(idents) == 0 || base.kind == valOther {
		return base
	}
	if base.kind == valField {
		c.fail(n, "reads .%s of %s", strings.Join(idents, "."), base)
		return value{}
	}
	f, ok := personalField(idents[0])
	if !ok {
		return value{}
	}
	if len(idents) > 1 {
		c.fail(n, "reads .%s of the reader's %s", strings.Join(idents[1:], "."), f)
	}
	return value{kind: valField, field: f}
}
