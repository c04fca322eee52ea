// Package templates embeds the default email templates, so that a lone
// digest binary can render digests. The templates_dir config key replaces
// them with a directory on disk.
package templates

import "embed"

// FS holds digest.html.tmpl, digest.txt.tmpl and subject.txt.tmpl.
//
//go:embed *.tmpl
var FS embed.FS
