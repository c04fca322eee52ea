// Package config owns digest's configuration file: the YAML format and its
// key names, the defaults applied to missing keys, the expansion of ${VAR}
// references from the environment, and the validation that refuses a
// configuration the service could not run with (or could only run with
// unsafely) before anything starts.
//
// Secrets (secret, smtp.password) must come from the environment, so that a
// config file can be committed, shared and logged; a Config logs and prints
// with them redacted.
package config

import (
	"log/slog"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
)

// TLS modes of the SMTP connection (the smtp.tls key).
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, which is required (port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no encryption; only for a relay on the loopback interface (port 25)
)

// Config is the whole configuration of the service. Load returns it
// with defaults applied and validated; the comments name each YAML key.
type Config struct {
	// Database is the path of the SQLite file (database), relative to the
	// working directory. Default "digest.db".
	Database string
	// BaseURL is the public URL of `digest serve` (base_url), used in the
	// links of every email. It must be https, except that http is allowed
	// for loopback hosts during development. After Load it has no trailing
	// slash, so paths can be appended with "/".
	BaseURL string
	// From is the sender, "Name <addr@domain>" (from). Required.
	From string
	// ListID is the RFC 2919 List-Id (list_id). Default "<digest.HOST>",
	// HOST being the host of BaseURL.
	ListID string
	// PostalAddress is the sender's physical postal address (postal_address),
	// shown in every digest as CAN-SPAM requires. May span several lines.
	PostalAddress string
	// Secret is the key that signs links (secret); at least 32 bytes. It must
	// be given as a ${VAR} reference in the file.
	Secret string
	// Schedule is the cron spec of the delivery pass (schedule): five fields
	// or a descriptor such as "@every 5m". Default "*/5 * * * *".
	Schedule string
	// SendTime is the local time of day at which readers who chose none
	// receive their digest (send_time). Default 06:00.
	SendTime digest.TimeOfDay
	// FirstDigestLookback is how far back a new reader's first digest
	// reaches (first_digest_lookback). Default 24h.
	FirstDigestLookback time.Duration
	// LateBriefGrace is how long before a reader's last digest a brief may
	// have been published and still reach them, when it was stored only
	// after that digest went out (late_brief_grace). Default 6h; 0 turns
	// it off.
	LateBriefGrace time.Duration
	// TemplatesDir, when set, is a directory whose templates replace the
	// embedded ones (templates_dir).
	TemplatesDir string
	// HTTP configures `digest serve` (http).
	HTTP HTTP
	// SMTP configures the outgoing mail server (smtp).
	SMTP SMTP
	// BounceAddress, when set, is where bounces go (bounce_address): each
	// message's envelope sender (MAIL FROM) is this address with a token
	// naming the delivery, "bounces+TOKEN@bounces.example.org" (VERP). The
	// From header is unaffected. Empty: the envelope sender is from's
	// address.
	BounceAddress string
	// DKIM, when its keys are set, signs every digest (dkim).
	DKIM DKIM
	// Delivery tunes the delivery engine (delivery).
	Delivery Delivery
	// Bounces tunes how bounce reports count (bounces).
	Bounces Bounces
	// OptIn tunes the double opt-in (optin).
	OptIn OptIn
	// Regions are the editions (regions), in the order readers see them. A
	// file with a regions list replaces the defaults entirely.
	Regions digest.Regions
}

// DKIM configures DKIM signing. All three keys or none: with none, digests
// go out unsigned.
type DKIM struct {
	// Domain is the signing domain, d= (dkim.domain): the domain of from
	// or a parent of it, so that DMARC counts the signature.
	Domain string
	// Selector is s= (dkim.selector): the public key is published as a TXT
	// record at SELECTOR._domainkey.DOMAIN.
	Selector string
	// PrivateKeyFile is the path of the PEM private key
	// (dkim.private_key_file): RSA of at least 2048 bits or Ed25519, not
	// readable by other users. The file, never the key, is in the config;
	// Validate reads it to check it.
	PrivateKeyFile string
}

// Enabled reports whether digests are to be signed: any dkim key is set.
// Validate makes sure that then all of them are.
func (d DKIM) Enabled() bool {
	return d.Domain != "" || d.Selector != "" || d.PrivateKeyFile != ""
}

// Delivery tunes the delivery engine.
type Delivery struct {
	// Concurrency is the number of workers, each with its own SMTP
	// connection (delivery.concurrency). Default 4.
	Concurrency int
	// Rate caps messages per second across all workers (delivery.rate);
	// 0, the default, means no cap.
	Rate float64
	// MaxAttempts is how many times a digest is tried before it fails
	// (delivery.max_attempts). Default 8.
	MaxAttempts int
	// RetryWindow is how long after the reader's send time a deferred
	// digest is still retried (delivery.retry_window). Default 4h.
	RetryWindow time.Duration
	// MaxLateness is how long after the reader's send time a digest not
	// yet sent expires instead (delivery.max_lateness). Default 6h.
	MaxLateness time.Duration
	// ShutdownGrace is how long messages in flight may finish when the
	// process is told to stop (delivery.shutdown_grace). Default 30s.
	ShutdownGrace time.Duration
}

// Bounces tunes how bounce reports count.
type Bounces struct {
	// SoftThreshold is how many soft bounces mark a reader bounced
	// (bounces.soft_threshold). Default 3; 0 never does.
	SoftThreshold int
}

// OptIn tunes the double opt-in: readers added with --confirm are pending
// until they follow the link of their confirmation email.
type OptIn struct {
	// ExpireAfter is how long a pending reader has to confirm before
	// becoming expired (optin.expire_after). Default 168h (7 days).
	ExpireAfter time.Duration
	// ConsentTextVersion names the wording of the consent the reader saw
	// (optin.consent_text_version), recorded with each confirmation so an
	// operator can say what a reader agreed to. Optional.
	ConsentTextVersion string
}

// HTTP configures the HTTP server of `digest serve`.
type HTTP struct {
	// Listen is the host:port to listen on (http.listen). Default
	// "127.0.0.1:8080".
	Listen string
	// BehindProxy says the server sits behind a reverse proxy that sets
	// X-Forwarded-For (http.behind_proxy); only then is that header
	// trusted for the client IP recorded with a confirmation. Default
	// false: the IP is the connection's peer.
	BehindProxy bool
}

// SMTP configures the connection to the outgoing mail server.
type SMTP struct {
	Host string // smtp.host, required
	// Port is smtp.port; by default 587 for starttls, 465 for tls and 25 for none.
	Port int
	// TLS is smtp.tls: TLSStartTLS (default), TLSImplicit or TLSNone; none is
	// only allowed when Host is a loopback address.
	TLS string
	// Username and Password authenticate (smtp.username, smtp.password);
	// both or neither. Password must be a ${VAR} reference in the file.
	Username string
	Password string
	// Timeout bounds each SMTP dial and command (smtp.timeout). Default 30s.
	Timeout time.Duration
	// HELO is the name given in EHLO/HELO (smtp.helo); empty means the
	// library's default.
	HELO string
}

// Default returns the configuration a file with no keys would get before
// validation: every default, the six default regions, and empty values for
// the keys that have none (base_url, from, postal_address, secret,
// smtp.host). SMTP.Port and ListID are left zero because they derive from
// other keys: a caller that builds a Config by hand fills in what it needs,
// then calls ApplyDerived and Validate.
func Default() *Config {
	return &Config{
		Database:            "digest.db",
		Schedule:            "*/5 * * * *",
		SendTime:            digest.TimeOfDay{Hour: 6},
		FirstDigestLookback: 24 * time.Hour,
		LateBriefGrace:      6 * time.Hour,
		HTTP:                HTTP{Listen: "127.0.0.1:8080"},
		SMTP:                SMTP{TLS: TLSStartTLS, Timeout: 30 * time.Second},
		Delivery: Delivery{Concurrency: 4, MaxAttempts: 8, RetryWindow: 4 * time.Hour,
			MaxLateness: 6 * time.Hour, ShutdownGrace: 30 * time.Second},
		Bounces: Bounces{SoftThreshold: 3},
		OptIn:   OptIn{ExpireAfter: 7 * 24 * time.Hour},
		Regions: defaultRegions(),
	}
}

// defaultRegions returns the six editions of the newsroom the service was
// built for. A zone that fails to load (no tzdata on the host) leaves
// Location nil, which ApplyDerived retries and Validate reports.
func defaultRegions() digest.Regions {
	rs := digest.Regions{
		{Code: "dc", Name: "Washington, D.C.", TimeZone: "America/New_York"},
		{Code: "bxl", Name: "Brussels", TimeZone: "Europe/Brussels"},
		{Code: "lagos", Name: "Lagos", TimeZone: "Africa/Lagos"},
		{Code: "riyadh", Name: "Riyadh", TimeZone: "Asia/Riyadh"},
		{Code: "beijing", Name: "Beijing", TimeZone: "Asia/Shanghai"},
		{Code: "sg", Name: "Singapore", TimeZone: "Asia/Singapore"},
	}
	for i := range rs {
		rs[i].Location, _ = time.LoadLocation(rs[i].TimeZone)
	}
	return rs
}

// ApplyDerived fills the settings whose defaults depend on other settings,
// where they are still zero: smtp.port from smtp.tls, list_id from the host
// of base_url, and each region's Location from its TimeZone. It also drops
// a trailing slash from BaseURL. Load calls it; call it yourself after
// building or changing a Config by hand. Values it cannot derive are left
// for Validate to report.
func (c *Config) ApplyDerived() {
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.SMTP.Port == 0 {
		switch c.SMTP.TLS {
		case TLSStartTLS:
			c.SMTP.Port = 587
		case TLSImplicit:
			c.SMTP.Port = 465
		case TLSNone:
			c.SMTP.Port = 25
		}
	}
	if c.ListID == "" {
		if u, ok := parseBaseURL(c.BaseURL); ok {
			c.ListID = defaultListID(u.Hostname())
		}
	}
	for i, r := range c.Regions {
		if r.Location == nil && validZoneName(r.TimeZone) {
			c.Regions[i].Location, _ = time.LoadLocation(r.TimeZone)
		}
	}
}

// LogValue renders the configuration for slog with the secrets redacted, so
// that logging a Config (as slog.Any("config", cfg)) never prints them.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("database", c.Database),
		slog.String("base_url", c.BaseURL),
		slog.String("from", c.From),
		slog.String("list_id", c.ListID),
		slog.String("secret", redact(c.Secret)),
		slog.String("schedule", c.Schedule),
		slog.String("send_time", c.SendTime.String()),
		slog.Duration("first_digest_lookback", c.FirstDigestLookback),
		slog.Duration("late_brief_grace", c.LateBriefGrace),
		slog.String("templates_dir", c.TemplatesDir),
		slog.Group("http", slog.String("listen", c.HTTP.Listen), slog.Bool("behind_proxy", c.HTTP.BehindProxy)),
		slog.Group("smtp",
			slog.String("host", c.SMTP.Host),
			slog.Int("port", c.SMTP.Port),
			slog.String("tls", c.SMTP.TLS),
			slog.String("username", c.SMTP.Username),
			slog.String("password", redact(c.SMTP.Password)),
			slog.Duration("timeout", c.SMTP.Timeout),
			slog.String("helo", c.SMTP.HELO),
		),
		slog.String("bounce_address", c.BounceAddress),
		slog.Group("delivery", slog.Int("concurrency", c.Delivery.Concurrency), slog.Float64("rate", c.Delivery.Rate),
			slog.Int("max_attempts", c.Delivery.MaxAttempts), slog.Duration("retry_window", c.Delivery.RetryWindow),
			slog.Duration("max_lateness", c.Delivery.MaxLateness), slog.Duration("shutdown_grace", c.Delivery.ShutdownGrace)),
		slog.Group("bounces", slog.Int("soft_threshold", c.Bounces.SoftThreshold)),
		slog.Group("optin", slog.Duration("expire_after", c.OptIn.ExpireAfter),
			slog.String("consent_text_version", c.OptIn.ConsentTextVersion)),
		slog.Group("dkim",
			slog.String("domain", c.DKIM.Domain),
			slog.String("selector", c.DKIM.Selector),
			slog.String("private_key_file", c.DKIM.PrivateKeyFile),
		),
		slog.String("regions", strings.Join(c.Regions.Codes(), ",")),
	)
}

// String renders the configuration with the secrets redacted, so that
// printing a *Config with %v or %+v cannot leak them either.
func (c *Config) String() string { return c.LogValue().String() }

// GoString is String for %#v, which would otherwise print every field.
func (c *Config) GoString() string { return c.String() }

// redact hides a secret's value but shows whether it is set.
func redact(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}
