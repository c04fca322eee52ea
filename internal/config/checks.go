package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/mailsyntax"
	"github.com/robfig/cron/v3"
)

// parseBaseURL parses s as base_url must be: an absolute http(s) URL with a
// host and nothing after the path.
func parseBaseURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	// The host must be a host name or an IP address: list_id derives from
	// it, and url.Parse lets through hosts with quotes and other
	// characters that are neither.
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" || !isHostOrIP(u.Hostname()) {
		return nil, false
	}
	return u, true
}

func checkBaseURL(s string) string {
	if s == "" {
		return "is required, e.g. https://digest.example.org"
	}
	u, ok := parseBaseURL(s)
	switch {
	case !ok || hasControl(s, "") || strings.ContainsAny(s, " \t"):
		return fmt.Sprintf("%q is not an absolute http(s) URL like https://digest.example.org", s)
	case u.User != nil:
		return fmt.Sprintf("%q must not contain a user name or password", s)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Sprintf("%q must not have a query or fragment", s)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Sprintf("%q must use https (http is only allowed for localhost, 127.0.0.1 and ::1)", s)
	}
	return ""
}

func checkFrom(s string) string {
	if s == "" {
		return `is required, e.g. "Daily Digest <digest@example.org>"`
	}
	if hasControl(s, "") {
		return "must be one line without control characters"
	}
	if _, err := mail.ParseAddress(s); err != nil {
		return fmt.Sprintf("%q is not an address like \"Daily Digest <digest@example.org>\"", s)
	}
	return ""
}

// defaultListID derives a List-Id from the host readers know the service
// by. An IP address is not a domain, so it gets the RFC 2919 namespace for
// unregistered ids.
func defaultListID(host string) string {
	if host == "" || net.ParseIP(host) != nil {
		return "<digest.localhost>"
	}
	return "<digest." + strings.ToLower(host) + ">"
}

// checkListID checks an RFC 2919 List-Id: an optional phrase, then
// "<label.namespace>" where the id is dot-atom text of at most 255 octets
// with at least one dot.
func checkListID(s string) string {
	bad := fmt.Sprintf("%q is not a list id like \"Daily Digest <digest.example.org>\" (RFC 2919)", s)
	if s == "" {
		return "is required, e.g. <digest.example.org>"
	}
	lt := strings.IndexByte(s, '<')
	if lt < 0 || !strings.HasSuffix(s, ">") || strings.Count(s, "<") != 1 || strings.Count(s, ">") != 1 || hasControl(s, "") {
		return bad
	}
	id := s[lt+1 : len(s)-1]
	if len(id) > 255 || !strings.Contains(id, ".") || !mailsyntax.IsDotAtom(id) {
		return bad
	}
	return ""
}

func checkPostalAddress(s string) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "is required: every digest must show the sender's physical postal address (CAN-SPAM)"
	case hasControl(s, "\n\t"):
		return "must not contain control characters other than line breaks"
	}
	return ""
}

// checkSchedule parses a cron spec the way the scheduler will. The cron
// parser panics on some malformed CRON_TZ= prefixes, so a panic is turned
// into the error it should have been.
func checkSchedule(s string) (reason string) {
	if strings.TrimSpace(s) == "" {
		return `is required, e.g. "*/5 * * * *"`
	}
	defer func() {
		// The panics seen are index errors on a prefix with nothing
		// after it ("CRON_TZ=UTC"); their text would not help.
		if recover() != nil {
			reason = fmt.Sprintf("%q is not a cron schedule: a CRON_TZ=Zone/Name prefix must be followed by five fields", s)
		}
	}()
	if _, err := cron.ParseStandard(s); err != nil {
		return fmt.Sprintf("%q is not a cron schedule: %v", s, err)
	}
	return ""
}

func checkDir(dir string) string {
	if dir == "" {
		return ""
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Sprintf("%q does not exist", dir)
	case err != nil:
		return fmt.Sprintf("%q cannot be read: %v", dir, err)
	case !fi.IsDir():
		return fmt.Sprintf("%q is not a directory", dir)
	}
	return ""
}

func checkListen(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port, e.g. 127.0.0.1:8080", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%q: the port must be a number between 1 and 65535", s)
	}
	if host != "" && !isHostOrIP(host) {
		return fmt.Sprintf("%q: %q is not a host name or IP address", s, host)
	}
	return ""
}

func checkZone(r digest.Region) string {
	switch {
	case r.TimeZone == "":
		return "is required, e.g. Europe/Brussels"
	case !validZoneName(r.TimeZone):
		return fmt.Sprintf("%q is not allowed: name an IANA zone such as Europe/Brussels", r.TimeZone)
	}
	if _, err := time.LoadLocation(r.TimeZone); err != nil {
		return fmt.Sprintf("unknown time zone %q", r.TimeZone)
	}
	if r.Location == nil {
		return fmt.Sprintf("%q is not loaded into Location (call ApplyDerived before Validate)", r.TimeZone)
	}
	return ""
}

// validZoneName refuses the names time.LoadLocation accepts but that do
// not name one fixed zone: "" is UTC and "Local" is whatever the server
// runs in, so either would silently change with the machine.
func validZoneName(name string) bool {
	return strings.TrimSpace(name) != "" && name != "Local"
}

// isLoopback reports whether host is a loopback host: localhost or a
// loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isHostOrIP(s string) bool {
	return net.ParseIP(s) != nil || mailsyntax.IsHostname(s)
}

// hasControl reports whether s has a control character other than those
// in allowed.
func hasControl(s, allowed string) bool {
	for _, r := range s {
		if unicode.IsControl(r) && !strings.ContainsRune(allowed, r) {
			return true
		}
	}
	return false
}
