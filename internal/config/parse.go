package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// Load reads the configuration file at path, then parses, completes and
// validates it like Parse. Every problem is reported at once, each prefixed
// with the path and, where known, the line: "digest.yaml:12: smtp.port: ...".
func Load(path string, getenv func(string) (string, bool)) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	return parse(f, path, getenv)
}

// Parse reads a YAML configuration from r, expands ${VAR} references with
// getenv (os.LookupEnv in production), applies defaults to missing keys,
// calls ApplyDerived and validates the result. The error joins one
// *digest.FieldError per problem, whose Field is the dotted key
// ("smtp.port") and whose Record is "line N" where the line is known.
//
// Unknown keys are errors, so that a misspelt key cannot silently leave a
// setting at its default. Values may reference the environment as ${VAR};
// "$$" writes a literal "$". secret and smtp.password must be exactly one
// ${VAR} reference.
func Parse(r io.Reader, getenv func(string) (string, bool)) (*Config, error) {
	return parse(r, "", getenv)
}

func parse(r io.Reader, source string, getenv func(string) (string, bool)) (*Config, error) {
	p := &parser{source: source, getenv: getenv, lines: map[string]int{}, failed: map[string]bool{}, fromEnv: map[string][2]string{}}
	c := Default()
	var doc yaml.Node
	dec := yaml.NewDecoder(r)
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		// An empty file: every key takes its default, and validation
		// names the required ones.
	case err != nil:
		return nil, p.wrap(err)
	default:
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			if err != nil {
				return nil, p.wrap(err)
			}
			return nil, p.wrap(fmt.Errorf("line %d: a second YAML document; the configuration is one document", extra.Line))
		}
		p.document(&doc, c)
	}
	c.ApplyDerived()

	errs := make([]error, 0, len(p.errs))
	for _, e := range p.errs {
		e.Reason = p.hideEnvValue(e.Field, c.redactSecrets(e.Reason))
		errs = append(errs, e)
	}
	for _, e := range c.problems() {
		if p.failed[e.Field] {
			continue // already reported while parsing; the value is not the user's
		}
		e.Record = p.at(p.lineOf(e.Field))
		e.Reason = p.hideEnvValue(e.Field, e.Reason)
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// parser walks the YAML node tree of a configuration file. Walking nodes,
// rather than decoding into a struct, lets it expand ${VAR} inside scalar
// values only, keep each key's line for validation errors, and refuse
// unknown keys with the dotted key in the message.
type parser struct {
	source string // file name for errors, "" for Parse
	getenv func(string) (string, bool)
	errs   []*digest.FieldError
	lines  map[string]int  // dotted key → line of the key
	failed map[string]bool // keys whose value could not be read
	// fromEnv holds, for each key whose value has a ${VAR} reference, the
	// value as written and as expanded.
	fromEnv map[string][2]string
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

// key is one key a mapping may hold and how to read its value.
type key struct {
	name string
	read func(field string, n *yaml.Node)
}

// KeyName makes key a row of a yamlnode.Mapping table.
func (k key) KeyName() string { return k.name }

func (p *parser) document(doc *yaml.Node, c *Config) {
	p.mapping("", yamlnode.Root(doc), []key{
		{"database", p.str(&c.Database)},
		{"base_url", p.str(&c.BaseURL)},
		{"from", p.str(&c.From)},
		{"list_id", p.str(&c.ListID)},
		{"postal_address", p.str(&c.PostalAddress)},
		{"secret", p.secret(&c.Secret, "DIGEST_SECRET")},
		{"schedule", p.str(&c.Schedule)},
		{"send_time", p.timeOfDay(&c.SendTime)},
		{"first_digest_lookback", p.duration(&c.FirstDigestLookback)},
		{"late_brief_grace", p.duration(&c.LateBriefGrace)},
		{"templates_dir", p.str(&c.TemplatesDir)},
		{"http", func(field string, n *yaml.Node) {
			p.mapping(field, n, []key{
				{"listen", p.str(&c.HTTP.Listen)},
				{"behind_proxy", p.boolean(&c.HTTP.BehindProxy)},
			})
		}},
		{"smtp", func(field string, n *yaml.Node) {
			p.mapping(field, n, []key{
				{"host", p.str(&c.SMTP.Host)},
				{"port", p.integer(&c.SMTP.Port)},
				{"tls", p.str(&c.SMTP.TLS)},
				{"username", p.str(&c.SMTP.Username)},
				{"password", p.secret(&c.SMTP.Password, "DIGEST_SMTP_PASSWORD")},
				{"timeout", p.duration(&c.SMTP.Timeout)},
				{"helo", p.str(&c.SMTP.HELO)},
			})
		}},
		{"bounce_address", p.str(&c.BounceAddress)},
		{"dkim", func(field string, n *yaml.Node) {
			p.mapping(field, n, []key{
				{"domain", p.str(&c.DKIM.Domain)},
				{"selector", p.str(&c.DKIM.Selector)},
				{"private_key_file", p.str(&c.DKIM.PrivateKeyFile)},
			})
		}},
		{"delivery", func(field string, n *yaml.Node) {
			p.mapping(field, n, []key{
				{"concurrency", p.integer(&c.Delivery.Concurrency)},
				{"rate", p.number(&c.Delivery.Rate)},
				{"max_attempts", p.integer(&c.Delivery.MaxAttempts)},
				{"retry_window", p.duration(&c.Delivery.RetryWindow)},
				{"max_lateness", p.duration(&c.Delivery.MaxLateness)},
				{"shutdown_grace", p.duration(&c.Delivery.ShutdownGrace)},
			})
		}},
		{"bounces", func(field string, n *yaml.Node) {
			p.mapping(field, n, []key{{"soft_threshold", p.integer(&c.Bounces.SoftThreshold)}})
		}},
		{"optin", func(field string, n *yaml.Node) {
			p.mapping(field, n, []key{
				{"expire_after", p.duration(&c.OptIn.ExpireAfter)},
				{"consent_text_version", p.str(&c.OptIn.ConsentTextVersion)},
			})
		}},
		{"regions", p.regions(&c.Regions)},
	})
}

// mapping reads the keys of a mapping node, refusing unknown and repeated
// keys. A null value (a key with nothing after it) counts as empty.
func (p *parser) mapping(field string, n *yaml.Node, keys []key) {
	if yamlnode.IsNull(n) {
		return
	}
	yamlnode.Mapping(p.fail, field, n, keys, func(k key, full string, name, v *yaml.Node) {
		p.lines[full] = name.Line
		k.read(full, v)
	})
}

func (p *parser) regions(dst *digest.Regions) func(string, *yaml.Node) {
	return func(field string, n *yaml.Node) {
		if yamlnode.RefuseAlias(p.fail, field, n) || yamlnode.IsNull(n) {
			return // no list: keep the default regions
		}
		if n.Kind != yaml.SequenceNode {
			p.fail(field, n.Line, "must be a list of regions, each with code, name and timezone")
			return
		}
		rs := make(digest.Regions, 0, len(n.Content))
		for i, item := range n.Content {
			f := yamlnode.Index(field, i)
			p.lines[f] = item.Line
			var r digest.Region
			p.mapping(f, item, []key{
				{"code", p.str(&r.Code)},
				{"name", p.str(&r.Name)},
				{"timezone", p.str(&r.TimeZone)},
			})
			rs = append(rs, r)
		}
		*dst = rs // a list replaces the defaults entirely
	}
}

// scalar returns the expanded, trimmed value of a scalar node; ok is false
// when the value is null (take the default) or could not be read (reported).
func (p *parser) scalar(field string, n *yaml.Node) (string, bool) {
	if !yamlnode.Scalar(p.fail, field, n, "a single value") || yamlnode.IsNull(n) {
		return "", false
	}
	v, err := expand(n.Value, p.getenv)
	if err != nil {
		p.fail(field, n.Line, "%v", err)
		return "", false
	}
	v = strings.TrimSpace(strings.ReplaceAll(v, "\r\n", "\n"))
	if strings.Contains(n.Value, "$") {
		p.fromEnv[field] = [2]string{n.Value, v}
	}
	return v, true
}

func (p *parser) str(dst *string) func(string, *yaml.Node) {
	return func(field string, n *yaml.Node) {
		if v, ok := p.scalar(field, n); ok {
			*dst = v
		}
	}
}

// secret reads a key that must come from the environment. The value is
// never put in an error: a literal secret is refused without quoting it.
func (p *parser) secret(dst *string, example string) func(string, *yaml.Node) {
	return func(field string, n *yaml.Node) {
		if !yamlnode.Scalar(p.fail, field, n, "a single value") || yamlnode.IsNull(n) {
			return
		}
		if !secretRef.MatchString(n.Value) {
			p.fail(field, n.Line, "must come from the environment, e.g. ${%s}", example)
			return
		}
		v, err := expand(n.Value, p.getenv)
		if err != nil {
			p.fail(field, n.Line, "%v", err)
			return
		}
		*dst = v // exactly as given: a secret's spaces are part of it
	}
}

func (p *parser) integer(dst *int) func(string, *yaml.Node) {
	return func(field string, n *yaml.Node) {
		v, ok := p.scalar(field, n)
		if !ok {
			return
		}
		i, err := strconv.Atoi(v)
		if err != nil {
			p.fail(field, n.Line, "%q is not a whole number", v)
			return
		}
		*dst = i
	}
}

// boolean reads true or false, and nothing else: YAML 1.1's yes/no/on/off
// are refused rather than guessed at.
func (p *parser) boolean(dst *bool) func(string, *yaml.Node) {
	return func(field string, n *yaml.Node) {
		v, ok := p.scalar(field, n)
		if !ok {
			return
		}
		switch v {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			p.fail(field, n.Line, "%q is not true or false", v)
		}
	}
}

func (p *parser) number(dst *float64) func(string, *yaml.Node) {
	return func(field string, n *yaml.Node) {
		v, ok := p.scalar(field, n)
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			p.fail(field, n.Line, "%q is not a number", v)
			return
		}
		*dst = f
	}
}

func (p *parser) duration(dst *time.Duration) func(string, *yaml.Node) {
	return func(field string, n *yaml.Node) {
		v, ok := p.scalar(field, n)
		if !ok {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			p.fail(field, n.Line, "%q is not a duration like 30s, 15m or 24h", v)
			return
		}
		*dst = d
	}
}

func (p *parser) timeOfDay(dst *digest.TimeOfDay) func(string, *yaml.Node) {
	return func(field string, n *yaml.Node) {
		v, ok := p.scalar(field, n)
		if !ok {
			return
		}
		t, err := digest.ParseTimeOfDay(v)
		if err != nil {
			p.fail(field, n.Line, "%v", err)
			return
		}
		*dst = t
	}
}

func (p *parser) fail(field string, line int, format string, args ...any) {
	p.failed[field] = true
	p.errs = append(p.errs, &digest.FieldError{Record: p.at(line), Field: field, Reason: fmt.Sprintf(format, args...)})
}

// lineOf returns the line of field or, failing that, of the nearest
// enclosing key: a missing "regions[2].code" points at regions[2].
func (p *parser) lineOf(field string) int {
	for f := field; f != ""; {
		if line, ok := p.lines[f]; ok {
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
