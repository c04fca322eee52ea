package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// Load reads the configuration file at path, expands ${VAR} references with
// getenv (os.LookupEnv in production), applies defaults to missing keys,
// calls ApplyDerived and validates the result. Every problem is reported at
// once: the error joins one *digest.FieldError per problem, whose Field is
// the dotted key ("smtp.port") and whose Record is the path and, where
// known, the line ("digest.yaml:12: smtp.port: ...").
//
// Unknown keys are errors, so that a misspelt key cannot silently leave a
// setting at its default. A file that uses a YAML alias or merge key, or
// gives a key twice, is refused with those problems alone: the YAML
// library would follow, merge or drop them, so the rest is not read. Values
// may reference the environment as ${VAR}; "$$" writes a literal "$".
// secret and smtp.password must be exactly one ${VAR} reference.
func Load(path string, getenv func(string) (string, bool)) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	return parse(f, path, getenv)
}

// parse is Load's work on a configuration read from r; source names it in
// errors ("" when it comes from no file).
func parse(r io.Reader, source string, getenv func(string) (string, bool)) (*Config, error) {
	p := &parser{source: source, getenv: getenv, failed: map[string]bool{}, fromEnv: map[string][2]string{}}
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, p.wrap(err)
	}
	var f file
	doc, err := yamlnode.Decode(src, &f)
	var refused yamlnode.Problems
	var extra *yamlnode.ExtraDocumentError
	switch {
	case errors.As(err, &refused):
		// The document was not decoded: what it holds is not known, so
		// validating it would only add noise.
		for _, pr := range refused {
			p.fail(pr)
		}
		return nil, p.joined(nil)
	case errors.As(err, &extra) && extra.Err == nil:
		return nil, p.wrap(fmt.Errorf("line %d: a second YAML document; the configuration is one document", extra.Line))
	case errors.As(err, &extra):
		return nil, p.wrap(extra.Err)
	case err != nil:
		return nil, p.wrap(err)
	}
	p.doc = doc
	for _, pr := range doc.Problems {
		p.fail(pr)
	}
	c := Default()
	p.read(&f, c)
	c.ApplyDerived()
	if err := p.joined(c); err != nil {
		return nil, err
	}
	return c, nil
}

// read stores into c each value f sets. A key that is missing, or has no
// value, keeps c's default.
func (p *parser) read(f *file, c *Config) {
	p.str(&f.Database, &c.Database)
	p.str(&f.BaseURL, &c.BaseURL)
	p.str(&f.From, &c.From)
	p.str(&f.ListID, &c.ListID)
	p.str(&f.PostalAddress, &c.PostalAddress)
	p.secret(&f.Secret, &c.Secret, "DIGEST_SECRET")
	p.str(&f.Schedule, &c.Schedule)
	p.timeOfDay(&f.SendTime, &c.SendTime)
	p.duration(&f.FirstDigestLookback, &c.FirstDigestLookback)
	p.duration(&f.LateBriefGrace, &c.LateBriefGrace)
	p.str(&f.TemplatesDir, &c.TemplatesDir)
	p.str(&f.HTTP.Listen, &c.HTTP.Listen)
	p.boolean(&f.HTTP.BehindProxy, &c.HTTP.BehindProxy)
	p.str(&f.SMTP.Host, &c.SMTP.Host)
	p.integer(&f.SMTP.Port, &c.SMTP.Port)
	p.str(&f.SMTP.TLS, &c.SMTP.TLS)
	p.str(&f.SMTP.Username, &c.SMTP.Username)
	p.secret(&f.SMTP.Password, &c.SMTP.Password, "DIGEST_SMTP_PASSWORD")
	p.duration(&f.SMTP.Timeout, &c.SMTP.Timeout)
	p.str(&f.SMTP.HELO, &c.SMTP.HELO)
	p.str(&f.BounceAddress, &c.BounceAddress)
	p.str(&f.DKIM.Domain, &c.DKIM.Domain)
	p.str(&f.DKIM.Selector, &c.DKIM.Selector)
	p.str(&f.DKIM.PrivateKeyFile, &c.DKIM.PrivateKeyFile)
	p.integer(&f.Delivery.Concurrency, &c.Delivery.Concurrency)
	p.number(&f.Delivery.Rate, &c.Delivery.Rate)
	p.integer(&f.Delivery.MaxAttempts, &c.Delivery.MaxAttempts)
	p.duration(&f.Delivery.RetryWindow, &c.Delivery.RetryWindow)
	p.duration(&f.Delivery.MaxLateness, &c.Delivery.MaxLateness)
	p.duration(&f.Delivery.ShutdownGrace, &c.Delivery.ShutdownGrace)
	p.integer(&f.Bounces.SoftThreshold, &c.Bounces.SoftThreshold)
	p.duration(&f.OptIn.ExpireAfter, &c.OptIn.ExpireAfter)
	p.str(&f.OptIn.ConsentTextVersion, &c.OptIn.ConsentTextVersion)
	if f.Regions != nil { // a list replaces the defaults entirely
		items := yamlnode.Align(p.doc, "regions", f.Regions)
		c.Regions = make(digest.Regions, len(items))
		for i, r := range items {
			if r != nil { // else not a mapping (reported) or empty
				p.str(&r.Code, &c.Regions[i].Code)
				p.str(&r.Name, &c.Regions[i].Name)
				p.str(&r.TimeZone, &c.Regions[i].TimeZone)
			}
		}
	}
}

// parser reads a decoded configuration file: it expands ${VAR} inside each
// scalar value, converts it, and keeps each problem with its key and line.
type parser struct {
	source string // file name for errors, "" when there is none
	getenv func(string) (string, bool)
	doc    *yamlnode.Doc
	errs   []yamlnode.Problem
	failed map[string]bool // keys whose value could not be read
	// fromEnv holds, for each key whose value has a ${VAR} reference, the
	// value as written and as expanded.
	fromEnv map[string][2]string
}

// joined returns every problem, those found reading the file in the order
// of the file, then c's validation problems in key order; nil if none. c
// is nil when the file could not be read at all.
func (p *parser) joined(c *Config) error {
	slices.SortStableFunc(p.errs, func(a, b yamlnode.Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	var errs []error
	for _, e := range p.errs {
		reason := e.Reason
		if c != nil {
			reason = c.redactSecrets(reason)
		}
		errs = append(errs, &digest.FieldError{Record: p.at(e.Line), Field: e.Path, Reason: p.hideEnvValue(e.Path, reason)})
	}
	if c != nil {
		for _, e := range c.problems() {
			if p.failed[e.Field] {
				continue // already reported while reading; the value is not the user's
			}
			e.Record = p.at(p.lineOf(e.Field))
			e.Reason = p.hideEnvValue(e.Field, e.Reason)
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

// hideEnvValue shows a value that came from the environment as written in
// the file ("https://${DIGEST_HOST}") rather than as expanded: the
// environment is where secrets live, and a variable put under the wrong
// key by mistake must not end up in logs through an error message.
func (p *parser) hideEnvValue(field, reason string) string {
	v, ok := p.fromEnv[field]
	if !ok || v[1] == "" {
		return reason
	}
	reason = strings.ReplaceAll(reason, strconv.Quote(v[1]), strconv.Quote(v[0]))
	// Messages from libraries (cron) repeat parts of the value unquoted;
	// a short value could match ordinary words, a long one will not.
	if len(v[1]) >= 8 {
		reason = strings.ReplaceAll(reason, v[1], v[0])
	}
	return reason
}

// scalar returns the expanded, trimmed value of the leaf n, and its key;
// ok is false when the file sets no value (take the default) or the value
// could not be read (reported).
func (p *parser) scalar(n *yaml.Node) (v, field string, ok bool) {
	if n.Kind == 0 || yamlnode.IsNull(n) {
		return "", "", false
	}
	field = p.doc.PathOf(n)
	if n.Kind != yaml.ScalarNode {
		p.failAt(field, n, "must be a single value, not %s", yamlnode.Describe(n))
		return "", field, false
	}
	v, err := expand(n.Value, p.getenv)
	if err != nil {
		p.failAt(field, n, "%v", err)
		return "", field, false
	}
	v = strings.TrimSpace(strings.ReplaceAll(v, "\r\n", "\n"))
	if strings.Contains(n.Value, "$") {
		p.fromEnv[field] = [2]string{n.Value, v}
	}
	return v, field, true
}

func (p *parser) str(n *yaml.Node, dst *string) {
	if v, _, ok := p.scalar(n); ok {
		*dst = v
	}
}

// secret reads a key that must come from the environment. The value is
// never put in an error: a literal secret is refused without quoting it.
func (p *parser) secret(n *yaml.Node, dst *string, example string) {
	if n.Kind == 0 || yamlnode.IsNull(n) {
		return
	}
	field := p.doc.PathOf(n)
	switch {
	case n.Kind != yaml.ScalarNode:
		p.failAt(field, n, "must be a single value, not %s", yamlnode.Describe(n))
	case !secretRef.MatchString(n.Value):
		p.failAt(field, n, "must come from the environment, e.g. ${%s}", example)
	default:
		v, err := expand(n.Value, p.getenv)
		if err != nil {
			p.failAt(field, n, "%v", err)
			return
		}
		*dst = v // exactly as given: a secret's spaces are part of it
	}
}

func (p *parser) integer(n *yaml.Node, dst *int) {
	v, field, ok := p.scalar(n)
	if !ok {
		return
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		p.failAt(field, n, "%q is not a whole number", v)
		return
	}
	*dst = i
}

// boolean reads true or false, and nothing else: YAML 1.1's yes/no/on/off
// are refused rather than guessed at.
func (p *parser) boolean(n *yaml.Node, dst *bool) {
	v, field, ok := p.scalar(n)
	if !ok {
		return
	}
	switch v {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		p.failAt(field, n, "%q is not true or false", v)
	}
}

func (p *parser) number(n *yaml.Node, dst *float64) {
	v, field, ok := p.scalar(n)
	if !ok {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.failAt(field, n, "%q is not a number", v)
		return
	}
	*dst = f
}

func (p *parser) duration(n *yaml.Node, dst *time.Duration) {
	v, field, ok := p.scalar(n)
	if !ok {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.failAt(field, n, "%q is not a duration like 30s, 15m or 24h", v)
		return
	}
	*dst = d
}

func (p *parser) timeOfDay(n *yaml.Node, dst *digest.TimeOfDay) {
	v, field, ok := p.scalar(n)
	if !ok {
		return
	}
	t, err := digest.ParseTimeOfDay(v)
	if err != nil {
		p.failAt(field, n, "%v", err)
		return
	}
	*dst = t
}

// failAt records a problem with the value n of field.
func (p *parser) failAt(field string, n *yaml.Node, format string, args ...any) {
	p.fail(yamlnode.Problem{Path: field, Line: n.Line, Column: n.Column, Reason: fmt.Sprintf(format, args...)})
}

func (p *parser) fail(pr yamlnode.Problem) {
	if pr.Want == yaml.SequenceNode { // regions, the one list
		pr.Reason = "must be a list of regions, each with code, name and timezone"
	}
	p.failed[pr.Path] = true
	p.errs = append(p.errs, pr)
}

// lineOf returns the line of field or, failing that, of the nearest
// enclosing key: a missing "regions[2].code" points at regions[2].
func (p *parser) lineOf(field string) int {
	for f := field; f != ""; {
		if line := p.doc.Line(f); line != 0 {
			return line
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}

// at names where a problem is: "path:line", "path", "line N" or "".
func (p *parser) at(line int) string {
	switch {
	case line == 0:
		return p.source
	case p.source == "":
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("%s:%d", p.source, line)
}

// wrap prefixes a whole-file error (YAML syntax) with the file name.
func (p *parser) wrap(err error) error {
	if p.source == "" {
		return fmt.Errorf("parse config: %w", err)
	}
	return fmt.Errorf("parse config %s: %w", p.source, err)
}
