// Package mailer turns a digest email into MIME bytes and sends it over SMTP
// with go-mail. It owns the message's header set (Message-ID, List-Id,
// RFC 8058 one-click unsubscribe, the DKIM signature), the envelope sender,
// the defences against header injection, and the SMTP session: one
// connection reused for many messages, reset after a refused message and
// re-dialled after a broken one. It knows nothing of subscribers, templates
// or the database.
package mailer

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/dkim"
)

// Message is one email, ready to build. Every field is set by the caller;
// Build checks them and refuses what it cannot send safely.
type Message struct {
	// MessageID is "<id@domain>", chosen by the caller and kept across
	// re-sends so a retried message is recognisable as the same one.
	MessageID string
	// From is the author, "Name <addr>" or "addr".
	From string
	// ToName (optional) and ToEmail are the single recipient.
	ToName, ToEmail string
	Subject         string
	// Text is the text/plain body (required); HTML, when set, is the
	// text/html alternative.
	Text, HTML string
	// Date is the Date header.
	Date time.Time
	// ListID is the List-Id header (RFC 2919), "<digest.example.org>" or
	// "Name <digest.example.org>"; omitted when empty.
	ListID string
	// UnsubscribeURL is the RFC 8058 one-click target, sent as
	// List-Unsubscribe with List-Unsubscribe-Post. It must be https, or
	// http on a loopback host for development; omitted when empty.
	UnsubscribeURL string
	// EnvelopeFrom is the SMTP MAIL FROM, where bounces go (a VERP address
	// from package verp identifies the delivery); From's address when
	// empty. It is not written into the message: the receiving server
	// records it as the Return-Path header on final delivery, and the From
	// header stays the author.
	EnvelopeFrom string
}

// Header field names go-mail has no constants for.
const (
	headerListID = gomail.Header("List-Id")
)

var (
	// messageIDPattern is a msg-id (RFC 5322 3.6.4) restricted to printable
	// ASCII without spaces or brackets inside.
	messageIDPattern = regexp.MustCompile(`^<[!-;=?-~]+@[!-;=?-~]+>$`)
	// listIDPattern is "phrase <namespace>" or "<namespace>" (RFC 2919).
	listIDPattern = regexp.MustCompile(`(?s)^(.*?)\s*<([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)>$`)
)

// Build checks m and turns it into a go-mail message: multipart/alternative
// with text/plain then text/html (or text/plain alone when HTML is empty),
// UTF-8, quoted-printable, without go-mail's User-Agent. Invalid fields are
// reported as *digest.FieldError naming the message and the field.
func Build(m Message) (*gomail.Msg, error) {
	// Name the record by its Message-ID only once that is known to be
	// printable: error texts end up in logs and in the database.
	record := "message " + m.MessageID
	if !messageIDPattern.MatchString(m.MessageID) {
		record = fmt.Sprintf("message to %q", m.ToEmail)
	}
	msg := gomail.NewMsg(
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingQP),
		gomail.WithNoDefaultUserAgent(),
	)

	if !messageIDPattern.MatchString(m.MessageID) {
		return nil, digest.Invalid(record, "message-id", "%q is not of the form <id@domain>", m.MessageID)
	}
	// go-mail adds the angle brackets itself.
	msg.SetMessageIDWithValue(strings.TrimSuffix(strings.TrimPrefix(m.MessageID, "<"), ">"))

	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, digest.Invalid(record, "from", "%q is not an email address: %v", m.From, err)
	}
	from.Name = headerText(from.Name)
	msg.FromMailAddress(from)

	to, err := bareAddress(m.ToEmail)
	if err != nil {
		return nil, digest.Invalid(record, "to", "%v", err)
	}
	msg.ToMailAddress(&mail.Address{Name: headerText(m.ToName), Address: to})

	if m.EnvelopeFrom != "" {
		env, err := bareAddress(m.EnvelopeFrom)
		if err != nil {
			return nil, digest.Invalid(record, "envelope-from", "%v", err)
		}
		if err := msg.EnvelopeFrom(env); err != nil {
			return nil, digest.Invalid(record, "envelope-from", "%v", err)
		}
	}

	if m.Date.IsZero() {
		return nil, digest.Invalid(record, "date", "not set")
	}
	msg.SetDateWithValue(m.Date)
	msg.Subject(headerText(m.Subject))

	if m.ListID != "" {
		listID, err := formatListID(m.ListID)
		if err != nil {
			return nil, digest.Invalid(record, "list-id", "%v", err)
		}
		msg.SetGenHeader(headerListID, listID)
	}
	if m.UnsubscribeURL != "" {
		u, err := checkUnsubscribeURL(m.UnsubscribeURL)
		if err != nil {
			return nil, digest.Invalid(record, "unsubscribe-url", "%v", err)
		}
		// Set both headers ourselves rather than with go-mail's
		// SetListUnsubscribeOneClick, which refuses the http loopback URLs
		// of development; generic headers are also written in a stable
		// order, unlike go-mail's preformatted ones.
		msg.SetGenHeader(gomail.HeaderListUnsubscribe, "<"+u+">")
		msg.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}

	if m.Text == "" {
		return nil, digest.Invalid(record, "text", "the text body is empty")
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// WriteTo builds m and writes it to w as it would go over the wire (an .eml
// file), without sending it and without a DKIM signature.
func WriteTo(w io.Writer, m Message) error {
	return WriteSignedTo(w, m, nil)
}

// WriteSignedTo is WriteTo with a DKIM signature by signer, or none when
// signer is nil: the bytes a Sender configured with the same signer puts on
// the wire, so a saved .eml verifies as the sent message would (apart from
// the signature's timestamp).
func WriteSignedTo(w io.Writer, m Message, signer *dkim.Signer) error {
	msg, err := Build(m)
	if err != nil {
		return err
	}
	if err := sign(msg, signer); err != nil {
		return fmt.Errorf("sign message %s: %w", m.MessageID, err)
	}
	if _, err := msg.WriteTo(w); err != nil {
		return fmt.Errorf("write message %s: %w", m.MessageID, err)
	}
	return nil
}

// sign adds signer's DKIM-Signature to msg; nothing when signer is nil.
//
// go-mail renders a message anew each time it is written, so the signature
// is computed over one rendering and attached as a preformatted header,
// which go-mail writes out as it is (its own folding of a generic header
// would break the h= tag). Every later rendering is byte-for-byte the same
// apart from that field: the Date and Message-ID are fixed by Build, and
// go-mail keeps the multipart boundary it chose the first time. The tests
// verify what arrives at an SMTP server, so a change in go-mail that broke
// this would show there.
func sign(msg *gomail.Msg, signer *dkim.Signer) error {
	if signer == nil {
		return nil
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return fmt.Errorf("render for signing: %w", err)
	}
	value, err := signer.Sign(buf.Bytes())
	if err != nil {
		return err
	}
	msg.SetGenHeaderPreformatted(gomail.Header(dkim.HeaderName), value)
	return nil
}

// headerText makes s safe as the text of a header (a subject, a display
// name): control characters, CR and LF included, become spaces and runs of
// white space collapse, so no input can end the header early and start
// another. Non-ASCII text stays and is RFC 2047-encoded on output.
func headerText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// bareAddress returns addr if it is one plain email address, with no
// display name and nothing around it.
func bareAddress(addr string) (string, error) {
	a, err := mail.ParseAddress(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not an email address: %w", addr, err)
	}
	if a.Name != "" || a.Address != strings.TrimSpace(addr) {
		return "", fmt.Errorf("%q is not a bare email address", addr)
	}
	return a.Address, nil
}

// formatListID returns the List-Id header value for "phrase <namespace>",
// encoding or quoting the phrase as needed. The namespace never is: it
// must stay readable for the filters that match on it.
func formatListID(s string) (string, error) {
	parts := listIDPattern.FindStringSubmatch(strings.TrimSpace(s))
	if parts == nil {
		return "", fmt.Errorf("%q is not of the form <list.example.org> or Name <list.example.org>", s)
	}
	phrase, id := headerText(parts[1]), "<"+parts[2]+">"
	switch {
	case phrase == "":
		return id, nil
	case !isPrintableASCII(phrase):
		return mime.QEncoding.Encode("utf-8", phrase) + " " + id, nil
	case strings.ContainsAny(phrase, `()<>[]:;@\,."`):
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(phrase) + `" ` + id, nil
	}
	return phrase + " " + id, nil
}

// checkUnsubscribeURL accepts an https URL, or an http URL on a loopback
// host (development), made of characters that need no quoting inside a
// header's angle brackets.
func checkUnsubscribeURL(s string) (string, error) {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`<>"{}|\^`+"`", c) >= 0 {
			return "", fmt.Errorf("%q has characters that are not allowed in a URL", s)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%q is not an absolute URL with a host", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("%q: http is only allowed on a loopback host; use https", s)
		}
	default:
		return "", fmt.Errorf("%q: scheme must be https", s)
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isPrintableASCII(s string) bool {
	for i := range len(s) {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
