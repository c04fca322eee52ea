package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

const (
	testSecret   = "0123456789abcdef0123456789abcdef-secret"
	testPassword = "hunter2-smtp-password"
)

// testEnv is the environment the tests run with.
// parseYAML parses a configuration that comes from no file, as Load does
// one that does: errors carry lines but no file name.
func parseYAML(r io.Reader, getenv func(string) (string, bool)) (*Config, error) {
	return parse(r, "", getenv)
}

func testEnv(extra map[string]string) func(string) (string, bool) {
	env := map[string]string{"DIGEST_SECRET": testSecret, "DIGEST_SMTP_PASSWORD": testPassword}
	for k, v := range extra {
		env[k] = v
	}
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

// baseKeys is a minimal valid configuration, one dotted key per entry.
var baseKeys = [][2]string{
	{"database", "digest.db"},
	{"base_url", "https://digest.example.org"},
	{"from", "Daily Digest <digest@example.org>"},
	{"postal_address", "1 Example Street, Washington, DC 20001"},
	{"secret", "${DIGEST_SECRET}"},
	{"http.listen", "127.0.0.1:8080"},
	{"smtp.host", "smtp.example.org"},
	{"smtp.username", "digest"},
	{"smtp.password", "${DIGEST_SMTP_PASSWORD}"},
}

// absent, as an override, removes a key from the base configuration.
const absent = "\x00absent"

// configYAML renders baseKeys with overrides applied: a value replaces the
// base one (raw YAML, so quote it when needed), absent deletes it, and new
// keys are added. Nested keys are grouped under their parent.
func configYAML(over map[string]string) string {
	var keys []string
	vals := map[string]string{}
	for _, kv := range baseKeys {
		keys = append(keys, kv[0])
		vals[kv[0]] = kv[1]
	}
	var added []string
	for k, v := range over {
		if _, ok := vals[k]; !ok {
			added = append(added, k)
		}
		vals[k] = v
	}
	slices.Sort(added)
	keys = append(keys, added...)
	groups := map[string][]string{}
	var order []string
	for _, k := range keys {
		parent, _, nested := strings.Cut(k, ".")
		if !nested {
			parent = k
		}
		if _, seen := groups[parent]; !seen {
			order = append(order, parent)
		}
		groups[parent] = append(groups[parent], k)
	}
	var b strings.Builder
	for _, parent := range order {
		header := false
		for _, k := range groups[parent] {
			v := vals[k]
			if v == absent {
				continue
			}
			_, child, nested := strings.Cut(k, ".")
			if !nested {
				fmt.Fprintf(&b, "%s: %s\n", k, v)
				continue
			}
			if !header {
				fmt.Fprintf(&b, "%s:\n", parent)
				header = true
			}
			fmt.Fprintf(&b, "  %s: %s\n", child, v)
		}
	}
	return b.String()
}

// problemsOf lists "field: reason" of each *digest.FieldError joined in err,
// leaving out where (the line), which TestLoadNamesFileAndLine checks.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []string
	for _, e := range errs {
		var fe *digest.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %q is not a *digest.FieldError", e)
		}
		out = append(out, fe.Field+": "+fe.Reason)
	}
	return out
}

func TestParseValidMinimal(t *testing.T) {
	cfg, err := parseYAML(strings.NewReader(configYAML(nil)), testEnv(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.BaseURL = "https://digest.example.org"
	want.From = "Daily Digest <digest@example.org>"
	want.ListID = "<digest.digest.example.org>"
	want.PostalAddress = "1 Example Street, Washington, DC 20001"
	want.Secret = testSecret
	want.SMTP.Host = "smtp.example.org"
	want.SMTP.Port = 587
	want.SMTP.Username = "digest"
	want.SMTP.Password = testPassword
	for i, r := range cfg.Regions {
		if r.Location == nil || r.Location.String() != r.TimeZone {
			t.Errorf("region %s: Location %v, want %s loaded", r.Code, r.Location, r.TimeZone)
		}
		cfg.Regions[i].Location, want.Regions[i].Location = nil, nil // compared by name above
	}
	if got, want := fmt.Sprintf("%#v", *cfg), fmt.Sprintf("%#v", *want); got != want {
		t.Errorf("config\n got %s\nwant %s", got, want)
	}
}

func TestParseValidationRules(t *testing.T) {
	templatesFile := filepath.Join(t.TempDir(), "file.tmpl")
	if err := os.WriteFile(templatesFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		over map[string]string
		env  map[string]string
		want []string // "field: reason"; nil means valid
	}{
		{"empty database", map[string]string{"database": `""`}, nil,
			[]string{"database: is required, e.g. digest.db"}},
		{"missing base_url", map[string]string{"base_url": absent}, nil,
			[]string{"base_url: is required, e.g. https://digest.example.org"}},
		{"http base_url on a public host", map[string]string{"base_url": "http://digest.example.org"}, nil,
			[]string{`base_url: "http://digest.example.org" must use https (http is only allowed for localhost, 127.0.0.1 and ::1)`}},
		{"http base_url on localhost", map[string]string{"base_url": "http://localhost:8080/"}, nil, nil},
		{"http base_url on 127.0.0.1", map[string]string{"base_url": "http://127.0.0.1:8080"}, nil, nil},
		{"http base_url on ::1", map[string]string{"base_url": "http://[::1]:8080"}, nil, nil},
		{"relative base_url", map[string]string{"base_url": "digest.example.org"}, nil,
			[]string{`base_url: "digest.example.org" is not an absolute http(s) URL like https://digest.example.org`}},
		{"javascript base_url", map[string]string{"base_url": `"javascript:alert(1)"`}, nil,
			[]string{`base_url: "javascript:alert(1)" is not an absolute http(s) URL like https://digest.example.org`}},
		{"base_url with a quote in the host", map[string]string{"base_url": `'https://digest.example.org"'`}, nil,
			[]string{`base_url: "https://digest.example.org\"" is not an absolute http(s) URL like https://digest.example.org`}},
		{"base_url with credentials", map[string]string{"base_url": "https://u:p@digest.example.org"}, nil,
			[]string{`base_url: "https://u:p@digest.example.org" must not contain a user name or password`}},
		{"base_url with query", map[string]string{"base_url": "https://digest.example.org/?a=1"}, nil,
			[]string{`base_url: "https://digest.example.org/?a=1" must not have a query or fragment`}},
		{"missing from", map[string]string{"from": absent}, nil,
			[]string{`from: is required, e.g. "Daily Digest <digest@example.org>"`}},
		{"bad from", map[string]string{"from": "Daily Digest"}, nil,
			[]string{`from: "Daily Digest" is not an address like "Daily Digest <digest@example.org>"`}},
		{"bare from address", map[string]string{"from": "digest@example.org"}, nil, nil},
		{"list_id without brackets", map[string]string{"list_id": "digest.example.org"}, nil,
			[]string{`list_id: "digest.example.org" is not a list id like "Daily Digest <digest.example.org>" (RFC 2919)`}},
		{"list_id without a dot", map[string]string{"list_id": `"<digest>"`}, nil,
			[]string{`list_id: "<digest>" is not a list id like "Daily Digest <digest.example.org>" (RFC 2919)`}},
		{"list_id with a phrase", map[string]string{"list_id": `"Daily Digest <daily.example.org>"`}, nil, nil},
		{"missing postal_address", map[string]string{"postal_address": absent}, nil,
			[]string{"postal_address: is required: every digest must show the sender's physical postal address (CAN-SPAM)"}},
		{"missing secret", map[string]string{"secret": absent}, nil,
			[]string{"secret: is required: at least 32 random bytes from the environment, e.g. ${DIGEST_SECRET}"}},
		{"literal secret", map[string]string{"secret": "correct-horse-battery-staple-0123456789"}, nil,
			[]string{"secret: must come from the environment, e.g. ${DIGEST_SECRET}"}},
		{"secret with text around the reference", map[string]string{"secret": "pre${DIGEST_SECRET}"}, nil,
			[]string{"secret: must come from the environment, e.g. ${DIGEST_SECRET}"}},
		{"short secret", nil, map[string]string{"DIGEST_SECRET": "only-31-bytes-long-0123456789ab"},
			[]string{"secret: must be at least 32 bytes long"}},
		{"secret variable unset", map[string]string{"secret": "${NOT_SET}"}, nil,
			[]string{"secret: environment variable NOT_SET is not set"}},
		{"bad schedule", map[string]string{"schedule": `"* * *"`}, nil,
			[]string{`schedule: "* * *" is not a cron schedule: expected exactly 5 fields, found 3: [* * *]`}},
		{"schedule out of range", map[string]string{"schedule": `"61 * * * *"`}, nil,
			[]string{`schedule: "61 * * * *" is not a cron schedule: end of range (61) above maximum (59): 61`}},
		{"schedule that panics the cron parser", map[string]string{"schedule": "CRON_TZ=UTC"}, nil,
			[]string{`schedule: "CRON_TZ=UTC" is not a cron schedule: a CRON_TZ=Zone/Name prefix must be followed by five fields`}},
		{"schedule descriptor", map[string]string{"schedule": `"@every 1m"`}, nil, nil},
		{"schedule with zone", map[string]string{"schedule": `"CRON_TZ=Europe/Brussels 0 6 * * *"`}, nil, nil},
		{"bad send_time", map[string]string{"send_time": "6am"}, nil,
			[]string{`send_time: "6am" is not a time of day in HH:MM form`}},
		{"send_time out of range", map[string]string{"send_time": `"24:00"`}, nil,
			[]string{`send_time: "24:00" is not a time of day between 00:00 and 23:59`}},
		{"zero lookback", map[string]string{"first_digest_lookback": "0s"}, nil,
			[]string{"first_digest_lookback: must be positive, e.g. 24h"}},
		{"negative grace", map[string]string{"late_brief_grace": "-1h"}, nil,
			[]string{"late_brief_grace: must not be negative, e.g. 6h (0 turns it off)"}},
		{"lookback not a duration", map[string]string{"first_digest_lookback": "1 day"}, nil,
			[]string{`first_digest_lookback: "1 day" is not a duration like 30s, 15m or 24h`}},
		{"missing templates_dir", map[string]string{"templates_dir": "/nonexistent/templates"}, nil,
			[]string{`templates_dir: "/nonexistent/templates" does not exist`}},
		{"templates_dir is a file", map[string]string{"templates_dir": templatesFile}, nil,
			[]string{fmt.Sprintf("templates_dir: %q is not a directory", templatesFile)}},
		{"templates_dir exists", map[string]string{"templates_dir": t.TempDir()}, nil, nil},
		{"listen without host", map[string]string{"http.listen": `":8080"`}, nil, nil},
		{"listen without port", map[string]string{"http.listen": `"8080"`}, nil,
			[]string{`http.listen: "8080" is not host:port, e.g. 127.0.0.1:8080`}},
		{"listen on port 0", map[string]string{"http.listen": `"127.0.0.1:0"`}, nil,
			[]string{`http.listen: "127.0.0.1:0": the port must be a number between 1 and 65535`}},
		{"missing smtp.host", map[string]string{"smtp.host": absent}, nil,
			[]string{"smtp.host: is required, e.g. smtp.example.org"}},
		{"smtp.host with port", map[string]string{"smtp.host": "smtp.example.org:587"}, nil,
			[]string{`smtp.host: "smtp.example.org:587" is not a host name or IP address (give the port as smtp.port)`}},
		{"no workers", map[string]string{"delivery.concurrency": "0"}, nil,
			[]string{"delivery.concurrency: must be between 1 and 64, e.g. 4"}},
		{"negative rate", map[string]string{"delivery.rate": "-1"}, nil,
			[]string{"delivery.rate: must not be negative (0 means no limit)"}},
		{"rate not a number", map[string]string{"delivery.rate": "fast"}, nil,
			[]string{`delivery.rate: "fast" is not a number`}},
		{"zero attempts", map[string]string{"delivery.max_attempts": "0"}, nil,
			[]string{"delivery.max_attempts: must be between 1 and 100, e.g. 8"}},
		{"zero retry window", map[string]string{"delivery.retry_window": "0s"}, nil,
			[]string{"delivery.retry_window: must be positive, e.g. 4h"}},
		{"zero lateness", map[string]string{"delivery.max_lateness": "0s"}, nil,
			[]string{"delivery.max_lateness: must be positive, e.g. 6h"}},
		{"endless grace", map[string]string{"delivery.shutdown_grace": "1h"}, nil,
			[]string{"delivery.shutdown_grace: must be between 1s and 10m, e.g. 30s"}},
		{"negative soft threshold", map[string]string{"bounces.soft_threshold": "-2"}, nil,
			[]string{"bounces.soft_threshold: must not be negative (0 never marks a reader bounced for soft bounces)"}},
		{"fractional rate", map[string]string{"delivery.rate": "12.5"}, nil, nil},
		{"opt-in settings", map[string]string{"optin.expire_after": "48h", "optin.consent_text_version": `"signup-form 2026-03"`, "http.behind_proxy": "true"}, nil, nil},
		{"zero opt-in expiry", map[string]string{"optin.expire_after": "0s"}, nil,
			[]string{"optin.expire_after: must be positive, e.g. 168h"}},
		{"negative opt-in expiry", map[string]string{"optin.expire_after": "-1h"}, nil,
			[]string{"optin.expire_after: must be positive, e.g. 168h"}},
		{"opt-in expiry not a duration", map[string]string{"optin.expire_after": "7d"}, nil,
			[]string{`optin.expire_after: "7d" is not a duration like 30s, 15m or 24h`}},
		{"consent text version on two lines", map[string]string{"optin.consent_text_version": `"v1\nv2"`}, nil,
			[]string{"optin.consent_text_version: must be one line without control characters"}},
		{"consent text version too long", map[string]string{"optin.consent_text_version": strings.Repeat("v", 101)}, nil,
			[]string{"optin.consent_text_version: is 101 characters long; the limit is 100"}},
		{"unknown optin key", map[string]string{"optin.expires": "1h"}, nil,
			[]string{"optin.expires: unknown key (known keys here: expire_after, consent_text_version)"}},
		{"behind_proxy yes", map[string]string{"http.behind_proxy": "yes"}, nil,
			[]string{`http.behind_proxy: "yes" is not true or false`}},
		{"unknown http key", map[string]string{"http.proxy": "true"}, nil,
			[]string{"http.proxy: unknown key (known keys here: listen, behind_proxy)"}},
		{"smtp.port too large", map[string]string{"smtp.port": "70000"}, nil,
			[]string{"smtp.port: 70000 is not a port number between 1 and 65535"}},
		{"smtp.port not a number", map[string]string{"smtp.port": "smtp"}, nil,
			[]string{`smtp.port: "smtp" is not a whole number`}},
		{"unknown smtp.tls", map[string]string{"smtp.tls": "ssl"}, nil,
			[]string{`smtp.tls: "ssl" is not one of starttls, tls, none`}},
		{"smtp.tls none on a remote host", map[string]string{"smtp.tls": "none"}, nil,
			[]string{`smtp.tls: "none" is only allowed when smtp.host is a loopback address (localhost, 127.0.0.1, ::1): mail and passwords would cross the network unencrypted`}},
		{"smtp.tls none on localhost", map[string]string{"smtp.tls": "none", "smtp.host": "localhost"}, nil, nil},
		{"smtp.tls none on ::1", map[string]string{"smtp.tls": "none", "smtp.host": `"::1"`}, nil, nil},
		{"username without password", map[string]string{"smtp.password": absent}, nil,
			[]string{"smtp.password: is required when smtp.username is set, e.g. ${DIGEST_SMTP_PASSWORD}"}},
		{"password without username", map[string]string{"smtp.username": absent}, nil,
			[]string{"smtp.username: is required when smtp.password is set"}},
		{"no login at all", map[string]string{"smtp.username": absent, "smtp.password": absent}, nil, nil},
		{"literal smtp.password", map[string]string{"smtp.password": "hunter2"}, nil,
			[]string{"smtp.password: must come from the environment, e.g. ${DIGEST_SMTP_PASSWORD}"}},
		{"zero smtp.timeout", map[string]string{"smtp.timeout": "0s"}, nil,
			[]string{"smtp.timeout: must be positive, e.g. 30s"}},
		{"bad smtp.helo", map[string]string{"smtp.helo": `"mail example"`}, nil,
			[]string{`smtp.helo: "mail example" is not a host name`}},
		{"empty regions", map[string]string{"regions": "[]"}, nil,
			[]string{"regions: at least one region is required"}},
		{"bad region code", map[string]string{"regions": "[{code: DC, name: D.C., timezone: America/New_York}]"}, nil,
			[]string{`regions[0].code: "DC" must be 1 to 32 lowercase letters, digits or hyphens, starting with a letter`}},
		{"duplicate region code", map[string]string{"regions": "[{code: dc, name: A, timezone: UTC}, {code: dc, name: B, timezone: UTC}]"}, nil,
			[]string{`regions[1].code: "dc" is already the code of regions[0]`}},
		{"region without name or zone", map[string]string{"regions": "[{code: dc}]"}, nil,
			[]string{"regions[0].name: is required", "regions[0].timezone: is required, e.g. Europe/Brussels"}},
		{"region in Local", map[string]string{"regions": "[{code: dc, name: D.C., timezone: Local}]"}, nil,
			[]string{`regions[0].timezone: "Local" is not allowed: name an IANA zone such as Europe/Brussels`}},
		{"region in an unknown zone", map[string]string{"regions": "[{code: dc, name: D.C., timezone: Mars/Olympus}]"}, nil,
			[]string{`regions[0].timezone: unknown time zone "Mars/Olympus"`}},
		{"unknown top-level key", map[string]string{"smpt": "x"}, nil,
			[]string{"smpt: unknown key (known keys here: database, base_url, from, list_id, postal_address, secret, schedule, send_time, first_digest_lookback, late_brief_grace, templates_dir, http, smtp, bounce_address, dkim, delivery, bounces, optin, regions)"}},
		{"unknown smtp key", map[string]string{"smtp.hots": "x"}, nil,
			[]string{"smtp.hots: unknown key (known keys here: host, port, tls, username, password, timeout, helo)"}},
		{"region that is not a mapping", map[string]string{"regions": "[x, {code: kyiv, name: Kyiv}]"}, nil,
			[]string{
				`regions[0]: must be a mapping of keys to values, not the value "x"`,
				"regions[0].code: is required",
				"regions[0].name: is required",
				"regions[0].timezone: is required, e.g. Europe/Brussels",
				"regions[1].timezone: is required, e.g. Europe/Brussels",
			}},
		{"regions not a list", map[string]string{"regions": "{code: kyiv}"}, nil,
			[]string{"regions: must be a list of regions, each with code, name and timezone"}},
		{"problems in the order of the file", map[string]string{"database": "[a]", "smtp.hots": "x", "smtp.port": "x"}, nil,
			[]string{
				"database: must be a single value, not a list",
				"smtp.hots: unknown key (known keys here: host, port, tls, username, password, timeout, helo)",
				`smtp.port: "x" is not a whole number`,
			}},
		{"unknown region key", map[string]string{"regions": "[{code: dc, name: D.C., zone: UTC}]"}, nil,
			[]string{"regions[0].zone: unknown key (known keys here: code, name, timezone)", "regions[0].timezone: is required, e.g. Europe/Brussels"}},
		{"list where a value belongs", map[string]string{"database": "[a, b]"}, nil,
			[]string{"database: must be a single value, not a list"}},
		{"value where a mapping belongs", map[string]string{"http": "yes", "http.listen": absent}, nil,
			[]string{`http: must be a mapping of keys to values, not the value "yes"`}},
		{"unset variable", map[string]string{"from": "${DIGEST_FROM}"}, nil,
			[]string{"from: environment variable DIGEST_FROM is not set"}},
		{"unterminated reference", map[string]string{"from": `"${DIGEST_FROM"`}, nil,
			[]string{`from: "${" has no closing "}"`}},
		{"secret variable under the wrong key", map[string]string{"from": "${DIGEST_SECRET}", "secret": absent}, nil,
			[]string{
				`from: "${DIGEST_SECRET}" is not an address like "Daily Digest <digest@example.org>"`,
				"secret: is required: at least 32 random bytes from the environment, e.g. ${DIGEST_SECRET}",
			}},
		{"environment value in a cron error", map[string]string{"schedule": "${SCHEDULE}"}, map[string]string{"SCHEDULE": "*/5 * * * * *"},
			[]string{`schedule: "${SCHEDULE}" is not a cron schedule: expected exactly 5 fields, found 6: [${SCHEDULE}]`}},
		{"bad variable name", map[string]string{"from": `"${1X}"`}, nil,
			[]string{"from: ${1X} is not an environment variable reference: names are letters, digits and _"}},
		{"every problem at once",
			map[string]string{"base_url": absent, "smtp.port": "0x", "send_time": "noon", "regions": "[]"}, nil,
			[]string{
				`smtp.port: "0x" is not a whole number`,
				`send_time: "noon" is not a time of day in HH:MM form`,
				"base_url: is required, e.g. https://digest.example.org",
				"regions: at least one region is required",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseYAML(strings.NewReader(configYAML(tt.over)), testEnv(tt.env))
			got := problemsOf(t, err)
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems of\n%s\n got %q\nwant %q", configYAML(tt.over), got, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), testPassword)) {
				t.Errorf("error text contains a secret: %v", err)
			}
		})
	}
}

func TestParseDefaultsAndDerived(t *testing.T) {
	tests := []struct {
		name  string
		over  map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"port 587 for starttls", nil, func(t *testing.T, c *Config) {
			if c.SMTP.Port != 587 || c.SMTP.TLS != TLSStartTLS {
				t.Errorf("smtp %s:%d, want starttls:587", c.SMTP.TLS, c.SMTP.Port)
			}
		}},
		{"port 465 for tls", map[string]string{"smtp.tls": "tls"}, func(t *testing.T, c *Config) {
			if c.SMTP.Port != 465 {
				t.Errorf("port %d, want 465", c.SMTP.Port)
			}
		}},
		{"port 25 for none", map[string]string{"smtp.tls": "none", "smtp.host": "127.0.0.1"}, func(t *testing.T, c *Config) {
			if c.SMTP.Port != 25 {
				t.Errorf("port %d, want 25", c.SMTP.Port)
			}
		}},
		{"explicit port kept", map[string]string{"smtp.tls": "tls", "smtp.port": "2465"}, func(t *testing.T, c *Config) {
			if c.SMTP.Port != 2465 {
				t.Errorf("port %d, want 2465", c.SMTP.Port)
			}
		}},
		{"list id from an IP base_url", map[string]string{"base_url": "http://127.0.0.1:8080"}, func(t *testing.T, c *Config) {
			if c.ListID != "<digest.localhost>" {
				t.Errorf("list id %q", c.ListID)
			}
		}},
		{"trailing slash dropped", map[string]string{"base_url": "https://example.org/digest/"}, func(t *testing.T, c *Config) {
			if c.BaseURL != "https://example.org/digest" || c.ListID != "<digest.example.org>" {
				t.Errorf("base url %q, list id %q", c.BaseURL, c.ListID)
			}
		}},
		{"null value keeps the default", map[string]string{"schedule": "", "smtp.timeout": "~"}, func(t *testing.T, c *Config) {
			if c.Schedule != "*/5 * * * *" || c.SMTP.Timeout != 30*time.Second {
				t.Errorf("schedule %q timeout %v", c.Schedule, c.SMTP.Timeout)
			}
		}},
		{"regions replace the defaults", map[string]string{"regions": "[{code: kyiv, name: Kyiv, timezone: Europe/Kyiv}]"}, func(t *testing.T, c *Config) {
			if got := c.Regions.Codes(); !slices.Equal(got, []string{"kyiv"}) {
				t.Errorf("regions %v", got)
			}
			if c.Regions[0].Location == nil || c.Regions[0].Location.String() != "Europe/Kyiv" {
				t.Errorf("location %v", c.Regions[0].Location)
			}
		}},
		{"multi-line postal address", map[string]string{"postal_address": "|\n  Example Newsroom\n  1 Example Street\n"}, func(t *testing.T, c *Config) {
			if c.PostalAddress != "Example Newsroom\n1 Example Street" {
				t.Errorf("postal address %q", c.PostalAddress)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseYAML(strings.NewReader(configYAML(tt.over)), testEnv(nil))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseEnvExpansion(t *testing.T) {
	injection := "1 Example Street\nsmtp:\n  host: evil.example.net\nregions: []"
	env := map[string]string{
		"DIGEST_HOST":   "digest.example.org",
		"DIGEST_PORT":   "2525",
		"DIGEST_ADDR":   injection,
		"DIGEST_LISTEN": "127.0.0.1:9090\nhttp:\n  listen: 0.0.0.0:80",
	}
	over := map[string]string{
		"base_url":       "https://${DIGEST_HOST}/",
		"smtp.port":      "${DIGEST_PORT}",
		"postal_address": "${DIGEST_ADDR}",
		"from":           `"Price $$5 <digest@${DIGEST_HOST}>"`,
	}
	c, err := parseYAML(strings.NewReader(configYAML(over)), testEnv(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.BaseURL != "https://digest.example.org" || c.SMTP.Port != 2525 {
		t.Errorf("base_url %q port %d", c.BaseURL, c.SMTP.Port)
	}
	if c.From != "Price $5 <digest@digest.example.org>" {
		t.Errorf("from %q, want $$ written as $", c.From)
	}
	// The injected text stays inside postal_address, a plain string; it
	// neither changes smtp.host nor empties the regions.
	if c.PostalAddress != injection {
		t.Errorf("postal address %q, want the variable's text as is", c.PostalAddress)
	}
	if c.SMTP.Host != "smtp.example.org" || len(c.Regions) != 6 {
		t.Errorf("injection changed the structure: smtp.host %q, %d regions", c.SMTP.Host, len(c.Regions))
	}

	// Injected into a key that must be one host:port, it is refused as a
	// value, and the message shows the reference, not the environment.
	_, err = parseYAML(strings.NewReader(configYAML(map[string]string{"http.listen": "${DIGEST_LISTEN}"})), testEnv(env))
	want := []string{`http.listen: "${DIGEST_LISTEN}" is not host:port, e.g. 127.0.0.1:8080`}
	if got := problemsOf(t, err); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestParseRefusesDocumentTricks(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"duplicate key", configYAML(nil) + "database: other.db\n",
			"line 12: database: is set twice (first on line 1)"},
		{"alias", "anchor: &a x\n", "line 1: anchor: unknown key (known keys here: database, base_url, from, list_id, postal_address, secret, schedule, send_time, first_digest_lookback, late_brief_grace, templates_dir, http, smtp, bounce_address, dkim, delivery, bounces, optin, regions)"},
		{"alias value", configYAML(map[string]string{"smtp.host": "&h smtp.example.org", "smtp.helo": "*h"}),
			"line 12: smtp.helo: YAML aliases (*h) are not supported; write the value out"},
		{"second document", configYAML(nil) + "---\ndatabase: x\n",
			"parse config: line 12: a second YAML document; the configuration is one document"},
		{"syntax error", "database: [\n", "parse config: yaml: line 1: did not find expected node content"},
		{"not a mapping", "- a\n- b\n", "line 1: must be a mapping of keys to values, not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseYAML(strings.NewReader(tt.yaml), testEnv(nil))
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if first, _, _ := strings.Cut(err.Error(), "\n"); first != tt.want {
				t.Errorf("first error %q\nwant %q", first, tt.want)
			}
		})
	}
}

// TestParseRefusedDocumentAlone checks that a document refused before
// decoding (here for a key given twice) reports only why: the rest of it
// was not read, so validating it would report keys as missing that are not.
func TestParseRefusedDocumentAlone(t *testing.T) {
	_, err := parseYAML(strings.NewReader(configYAML(map[string]string{"smtp.port": "x"})+"from: again\n"), testEnv(nil))
	if err == nil || err.Error() != "line 13: from: is set twice (first on line 3)" {
		t.Errorf("error %v", err)
	}
}

func TestLoadNamesFileAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digest.yaml")
	text := configYAML(map[string]string{"smtp.port": "70000", "secret": "not-from-env-0123456789-0123456789", "base_url": absent})
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, testEnv(nil))
	want := strings.Join([]string{
		path + ":4: secret: must come from the environment, e.g. ${DIGEST_SECRET}",
		path + ": base_url: is required, e.g. https://digest.example.org",
		path + ":11: smtp.port: 70000 is not a port number between 1 and 65535",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("Load error\n%v\nwant\n%s", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "not-from-env") {
		t.Errorf("error text contains the literal secret")
	}

	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"), testEnv(nil))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want os.ErrNotExist", err)
	}
}

// TestExampleConfigValidates keeps config.example.yaml loadable: a key
// renamed or a rule added without updating the example fails here.
func TestExampleConfigValidates(t *testing.T) {
	c, err := Load("../../config.example.yaml", testEnv(nil))
	if err != nil {
		t.Fatalf("config.example.yaml does not validate:\n%v", err)
	}
	if got, want := c.Regions.Codes(), Default().Regions.Codes(); !slices.Equal(got, want) {
		t.Errorf("example regions %v, want the defaults %v", got, want)
	}
	if c.Secret != testSecret || c.SMTP.Password != testPassword {
		t.Errorf("example secrets were not read from the environment")
	}
}

func TestDefaultCompletedByHandValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err == nil {
		t.Fatal("Default() validates although base_url, from, secret... are empty")
	}
	c.BaseURL = "http://127.0.0.1:8080/"
	c.From = "Digest <digest@localhost>"
	c.PostalAddress = "Nowhere 1"
	c.Secret = testSecret
	c.SMTP.Host = "127.0.0.1"
	c.SMTP.TLS = TLSNone
	c.ApplyDerived()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.SMTP.Port != 25 || c.ListID != "<digest.localhost>" || c.BaseURL != "http://127.0.0.1:8080" {
		t.Errorf("derived port %d, list id %q, base url %q", c.SMTP.Port, c.ListID, c.BaseURL)
	}
	want := []string{"dc", "bxl", "lagos", "riyadh", "beijing", "sg"}
	if got := c.Regions.Codes(); !slices.Equal(got, want) {
		t.Errorf("default regions %v, want %v", got, want)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	c, err := parseYAML(strings.NewReader(configYAML(nil)), testEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "config", c)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("loaded", "config", c)
	outputs := map[string]string{
		"slog":  logged.String(),
		"%v":    fmt.Sprintf("%v", c),
		"%+v":   fmt.Sprintf("%+v", c),
		"%#v":   fmt.Sprintf("%#v", c),
		"%s":    fmt.Sprintf("%s", c),
		"Print": fmt.Sprint(c),
	}
	for how, out := range outputs {
		if strings.Contains(out, testSecret) || strings.Contains(out, testPassword) {
			t.Errorf("%s prints a secret: %s", how, out)
		}
		if !strings.Contains(out, "[redacted]") || !strings.Contains(out, "smtp.example.org") {
			t.Errorf("%s does not show the redacted config: %s", how, out)
		}
	}
}

// FuzzParse checks that no input panics the parser, that whatever it
// accepts passes Validate, and that the secrets never reach an error.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example))
	f.Add(configYAML(nil))
	f.Add(configYAML(map[string]string{"schedule": "CRON_TZ=UTC", "regions": "[{code: dc}]"}))
	f.Add(configYAML(map[string]string{"smtp.host": "${X}", "from": "$$${DIGEST_SECRET}"}))
	f.Add("a: &a [*a]\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := parseYAML(strings.NewReader(text), testEnv(map[string]string{"X": "\nsmtp:\n  host: evil"}))
		if err != nil {
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), testPassword) {
				t.Fatalf("error text contains a secret: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", err)
		}
	})
}

func TestOptInAndProxySettings(t *testing.T) {
	cfg, err := parseYAML(strings.NewReader(configYAML(nil)), testEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OptIn.ExpireAfter != 168*time.Hour || cfg.OptIn.ConsentTextVersion != "" || cfg.HTTP.BehindProxy {
		t.Errorf("defaults: optin %+v, behind_proxy %v; want 168h, no version, false", cfg.OptIn, cfg.HTTP.BehindProxy)
	}
	cfg, err = parseYAML(strings.NewReader(configYAML(map[string]string{
		"optin.expire_after": "36h", "optin.consent_text_version": "signup-v4", "http.behind_proxy": "true",
	})), testEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OptIn.ExpireAfter != 36*time.Hour || cfg.OptIn.ConsentTextVersion != "signup-v4" || !cfg.HTTP.BehindProxy {
		t.Errorf("set: optin %+v, behind_proxy %v", cfg.OptIn, cfg.HTTP.BehindProxy)
	}
}
