package config

import "go.yaml.in/yaml/v3"

// file is the layout of the configuration file. The YAML library matches
// its keys to these fields and refuses unknown ones; each value stays a
// yaml.Node, read by parser.read, because ${VAR} expansion needs the
// environment, which the library has no way to hand to a field's decoder.
// A struct's field order is the order an "unknown key" error lists its keys in.
type file struct {
	Database            yaml.Node     `yaml:"database"`
	BaseURL             yaml.Node     `yaml:"base_url"`
	From                yaml.Node     `yaml:"from"`
	ListID              yaml.Node     `yaml:"list_id"`
	PostalAddress       yaml.Node     `yaml:"postal_address"`
	Secret              yaml.Node     `yaml:"secret"`
	Schedule            yaml.Node     `yaml:"schedule"`
	SendTime            yaml.Node     `yaml:"send_time"`
	FirstDigestLookback yaml.Node     `yaml:"first_digest_lookback"`
	LateBriefGrace      yaml.Node     `yaml:"late_brief_grace"`
	TemplatesDir        yaml.Node     `yaml:"templates_dir"`
	HTTP                httpFile      `yaml:"http"`
	SMTP                smtpFile      `yaml:"smtp"`
	BounceAddress       yaml.Node     `yaml:"bounce_address"`
	DKIM                dkimFile      `yaml:"dkim"`
	Delivery            deliveryFile  `yaml:"delivery"`
	Bounces             bouncesFile   `yaml:"bounces"`
	OptIn               optInFile     `yaml:"optin"`
	Regions             []*regionFile `yaml:"regions"`
}

type httpFile struct {
	Listen      yaml.Node `yaml:"listen"`
	BehindProxy yaml.Node `yaml:"behind_proxy"`
}

type smtpFile struct {
	Host     yaml.Node `yaml:"host"`
	Port     yaml.Node `yaml:"port"`
	TLS      yaml.Node `yaml:"tls"`
	Username yaml.Node `yaml:"username"`
	Password yaml.Node `yaml:"password"`
	Timeout  yaml.Node `yaml:"timeout"`
	HELO     yaml.Node `yaml:"helo"`
}

type dkimFile struct {
	Domain         yaml.Node `yaml:"domain"`
	Selector       yaml.Node `yaml:"selector"`
	PrivateKeyFile yaml.Node `yaml:"private_key_file"`
}

type deliveryFile struct {
	Concurrency   yaml.Node `yaml:"concurrency"`
	Rate          yaml.Node `yaml:"rate"`
	MaxAttempts   yaml.Node `yaml:"max_attempts"`
	RetryWindow   yaml.Node `yaml:"retry_window"`
	MaxLateness   yaml.Node `yaml:"max_lateness"`
	ShutdownGrace yaml.Node `yaml:"shutdown_grace"`
}

type bouncesFile struct {
	SoftThreshold yaml.Node `yaml:"soft_threshold"`
}

type optInFile struct {
	ExpireAfter        yaml.Node `yaml:"expire_after"`
	ConsentTextVersion yaml.Node `yaml:"consent_text_version"`
}

type regionFile struct {
	Code     yaml.Node `yaml:"code"`
	Name     yaml.Node `yaml:"name"`
	TimeZone yaml.Node `yaml:"timezone"`
}
