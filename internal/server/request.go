package server

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxFormBytes caps the body of the preferences form: a few fields per
// region, a few kilobytes even with a hundred regions.
const maxFormBytes = 64 << 10

// readForm parses an application/x-www-form-urlencoded body of at most
// limit bytes. On failure it returns the status to answer.
func readForm(w http.ResponseWriter, r *http.Request, limit int64) (int, error) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return http.StatusRequestEntityTooLarge, err
		}
		return http.StatusBadRequest, err
	}
	return http.StatusOK, nil
}

// crossSite returns why a state-changing request from one of our forms
// looks as if another site made it, or "" when it does not. There are no
// cookies to steal a session from, and the path token already proves the
// link was in the reader's hands, so this is defence in depth against a
// page that learnt a link (a forwarded digest) and posts to it:
//
//   - Sec-Fetch-Site, which browsers set and pages cannot, must be
//     same-origin or none (typed or bookmarked) when present.
//   - Origin, when present, must be this host (as the request names it, or
//     as base_url does when a proxy rewrites Host). "Origin: null" is
//     treated as absent: our pages send Referrer-Policy: no-referrer, and
//     with that policy browsers send "null" as the Origin of our own forms'
//     POSTs. Sec-Fetch-Site still speaks for those browsers.
func (s *Server) crossSite(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site is " + strconv.Quote(site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return ""
	}
	if s.publicOrigin != "" && strings.EqualFold(origin, s.publicOrigin) {
		return ""
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host) {
		return ""
	}
	return "Origin " + strconv.Quote(origin) + " is not this site"
}

// refuseCrossSite answers a request crossSite objects to, and logs why.
func (s *Server) refuseCrossSite(w http.ResponseWriter, r *http.Request, reason string) {
	s.logger.Info("cross-site request refused", "path_kind", strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0], "reason", reason)
	s.renderMessage(w, http.StatusForbidden, "Request refused",
		"This request did not come from our page, so nothing was changed. Open the link from your email and try again.")
}

// clientIP is the address recorded with a consent: the connection's peer,
// or, behind a trusted proxy, the last X-Forwarded-For entry. Only the last
// one is the proxy's own: a client can send the header with any addresses
// in it, and a proxy appends to what it received.
func (s *Server) clientIP(r *http.Request) string {
	if s.opts.BehindProxy {
		if values := r.Header.Values("X-Forwarded-For"); len(values) > 0 {
			all := strings.Split(strings.Join(values, ","), ",")
			if ip := net.ParseIP(strings.TrimSpace(all[len(all)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return ""
}

// maxUserAgent caps the user agent kept with a consent, in bytes.
const maxUserAgent = 512

// userAgent returns the request's User-Agent as it is safe to store and
// show: valid UTF-8, one line, at most maxUserAgent bytes.
func userAgent(r *http.Request) string {
	ua := strings.ToValidUTF8(r.UserAgent(), "\uFFFD")
	ua = strings.Map(func(c rune) rune {
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			return ' '
		}
		return c
	}, ua)
	ua = strings.TrimSpace(ua)
	for len(ua) > maxUserAgent {
		_, size := utf8.DecodeLastRuneInString(ua)
		ua = ua[:len(ua)-size]
	}
	return ua
}

// Form tokens. The preferences form carries, besides the path token, a
// token that binds it to the subscriber and to when the page was served:
// "UNIX.MAC", MAC being the link signer's token for the subscriber under
// the purpose "prefs-form" + UNIX. A form older than formTokenTTL is
// refused, so a form page left in a browser history or cache cannot be
// replayed for ever.
const (
	purposeFormToken = "prefs-form"
	formTokenTTL     = 24 * time.Hour
	// formTokenSkew allows for a clock that stepped back a little between
	// serving the form and receiving it.
	formTokenSkew = 5 * time.Minute
)

// formToken returns a fresh form token for a subscriber.
func (s *Server) formToken(subscriberID int64) string {
	issued := strconv.FormatInt(s.opts.Now().Unix(), 10)
	return issued + "." + s.tokens.Sign(purposeFormToken+"\x00"+issued, subscriberID)
}

// Reasons a form token is refused, for the log; the reader sees one page.
var (
	errFormTokenMissing = errors.New("no form token")
	errFormTokenInvalid = errors.New("form token invalid")
	errFormTokenExpired = errors.New("form token expired")
)

// checkFormToken verifies a form token for a subscriber.
func (s *Server) checkFormToken(subscriberID int64, tok string) error {
	if tok == "" {
		return errFormTokenMissing
	}
	issued, mac, ok := strings.Cut(tok, ".")
	unix, err := strconv.ParseInt(issued, 10, 64)
	if !ok || err != nil || strconv.FormatInt(unix, 10) != issued {
		return errFormTokenInvalid
	}
	if id, err := s.tokens.Verify(purposeFormToken+"\x00"+issued, mac); err != nil || id != subscriberID {
		return errFormTokenInvalid
	}
	age := s.opts.Now().Sub(time.Unix(unix, 0))
	if age > formTokenTTL || age < -formTokenSkew {
		return errFormTokenExpired
	}
	return nil
}
