package config

import (
	"fmt"
	"regexp"
	"strings"
)

// envName is what may stand between ${ and }: a portable environment
// variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// secretRef matches a value that is exactly one ${VAR} reference, the only
// form allowed for secret keys.
var secretRef = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)

// expand replaces each ${NAME} in s with the value of the environment
// variable NAME and each $$ with a single $. Any other $ is kept as it is.
// It works on one scalar value already parsed out of the YAML, so whatever
// the environment holds stays inside that value: it cannot add keys or
// change the document's structure.
//
// The error names the variable, never its value nor the text around it.
func expand(s string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf(`"${" has no closing "}"`)
			}
			name := s[i+2 : i+2+end]
			if !envName.MatchString(name) {
				return "", fmt.Errorf("${%s} is not an environment variable reference: names are letters, digits and _", name)
			}
			v, ok := getenv(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			s = s[i+2+end+1:]
		default:
			b.WriteByte('$')
			s = s[i+1:]
		}
	}
}
