// Package mailer turns a digest email into MIME bytes and sends it over
// SMTP. go-mail builds and renders the message (headers, multipart,
// transfer encodings) through its public API; internal/smtpclient carries
// it. The message is rendered (and signed) once and written out as it is.
// The package owns the message's header set (Message-ID, List-Id, RFC 8058
// one-click unsubscribe, the DKIM signature), the envelope sender, the
// defences against header injection, the choice of transfer encoding (8bit
// where the server offers 8BITMIME and the text allows, else
// quoted-printable), and the use of the session: one connection reused for
// many messages, reset after a refused message and re-dialled after a
// broken one, failures classified. It knows nothing of subscribers,
// templates or the database.
package mailer

import (
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
	// Text is the text/plain body (required); HTML, when not empty, is the
	// text/html alternative. Each is one string (StringBody) or text
	// shared with other messages and this one's values (Shared.Body).
	Text, HTML Body
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
// UseEightBit switches the parts to 8bit for a server that offers
// 8BITMIME.
func Build(m Message) (*gomail.Msg, error) {
	msg, _, err := build(m, nil, nil)
	return msg, err
}

// envelopeAddrs is a message's SMTP envelope: the bare addresses of MAIL FROM
// and RCPT TO.
type envelopeAddrs struct {
	from, to string
}

// repeated remembers the header values that are the same on every message
// of a pass (the author, the list), worked out from the last message a
// Sender built, so the next one need not parse and format them again.
type repeated struct {
	from, listID        string // the Message fields last seen
	fromAddr            mail.Address
	listIDValue         string
	fromValid, listIDOK bool
}

// fromAddress parses m.From, or returns the result for the same From last
// time; the caller gets its own copy.
func (r *repeated) fromAddress(from string) (*mail.Address, error) {
	if r != nil && r.fromValid && r.from == from {
		a := r.fromAddr
		return &a, nil
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, err
	}
	a.Name = headerText(a.Name)
	if r != nil {
		r.from, r.fromAddr, r.fromValid = from, *a, true
	}
	return a, nil
}

// listIDHeader is formatListID, remembered like fromAddress.
func (r *repeated) listIDHeader(listID string) (string, error) {
	if r != nil && r.listIDOK && r.listID == listID {
		return r.listIDValue, nil
	}
	v, err := formatListID(listID)
	if err != nil {
		return "", err
	}
	if r != nil {
		r.listID, r.listIDValue, r.listIDOK = listID, v, true
	}
	return v, nil
}

// build is Build with the text parts in 8bit where they allow it, spliced
// in by sp, when sp is not nil (see partBody), and the repeated headers
// taken from memo when it is not nil. It also returns the envelope.
func build(m Message, memo *repeated, sp *splicer) (*gomail.Msg, envelopeAddrs, error) {
	// Name the record by its Message-ID only once that is known to be
	// printable: error texts end up in logs and in the database.
	if !messageIDPattern.MatchString(m.MessageID) {
		record := fmt.Sprintf("message to %q", m.ToEmail)
		return nil, envelopeAddrs{}, digest.Invalid(record, "message-id", "%q is not of the form <id@domain>", m.MessageID)
	}
	record := "message " + m.MessageID
	msg := gomail.NewMsg(
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingQP),
		gomail.WithNoDefaultUserAgent(),
	)
	// go-mail adds the angle brackets itself.
	msg.SetMessageIDWithValue(m.MessageID[1 : len(m.MessageID)-1])

	from, err := memo.fromAddress(m.From)
	if err != nil {
		return nil, envelopeAddrs{}, digest.Invalid(record, "from", "%q is not an email address: %v", m.From, err)
	}
	msg.FromMailAddress(from)
	env := envelopeAddrs{from: from.Address}

	to, err := bareAddress(m.ToEmail)
	if err != nil {
		return nil, envelopeAddrs{}, digest.Invalid(record, "to", "%v", err)
	}
	to.Name = headerText(m.ToName)
	msg.ToMailAddress(to)
	env.to = to.Address

	if m.EnvelopeFrom != "" {
		sender, err := bareAddress(m.EnvelopeFrom)
		if err != nil {
			return nil, envelopeAddrs{}, digest.Invalid(record, "envelope-from", "%v", err)
		}
		// Parsed once here; go-mail's EnvelopeFrom(string) would parse
		// it again. A Msg from Build carries it for go-mail's own client.
		msg.EnvelopeFromMailAddress(sender)
		env.from = sender.Address
	}

	if m.Date.IsZero() {
		return nil, envelopeAddrs{}, digest.Invalid(record, "date", "not set")
	}
	msg.SetDateWithValue(m.Date)
	msg.Subject(headerText(m.Subject))

	if m.ListID != "" {
		listID, err := memo.listIDHeader(m.ListID)
		if err != nil {
			return nil, envelopeAddrs{}, digest.Invalid(record, "list-id", "%v", err)
		}
		msg.SetGenHeader(headerListID, listID)
	}
	if m.UnsubscribeURL != "" {
		u, err := checkUnsubscribeURL(m.UnsubscribeURL)
		if err != nil {
			return nil, envelopeAddrs{}, digest.Invalid(record, "unsubscribe-url", "%v", err)
		}
		// Set both headers ourselves rather than with go-mail's
		// SetListUnsubscribeOneClick, which refuses the http loopback URLs
		// of development; generic headers are also written in a stable
		// order, unlike go-mail's preformatted ones.
		msg.SetGenHeader(gomail.HeaderListUnsubscribe, "<"+u+">")
		msg.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}

	if err := m.Text.check(); err != nil {
		return nil, envelopeAddrs{}, digest.Invalid(record, "text", "%v", err)
	}
	if m.Text.Len() == 0 {
		return nil, envelopeAddrs{}, digest.Invalid(record, "text", "the text body is empty")
	}
	if err := m.HTML.check(); err != nil {
		return nil, envelopeAddrs{}, digest.Invalid(record, "html", "%v", err)
	}
	setBodies(msg, m.Text, m.HTML, sp)
	return msg, env, nil
}

// WriteSignedTo builds m and writes it to w as it would go over the wire (an
// .eml file), without sending it, with a DKIM signature by signer, or none
// when signer is nil: the bytes a Sender configured with the same signer puts on
// the wire to a server without 8BITMIME, so a saved .eml verifies as the
// sent message would (apart from the signature's timestamp). The parts are
// always quoted-printable here, never 8bit: an .eml file is read by tools
// and mail clients that may not expect raw 8-bit text, and it is not
// written often enough for the cost of encoding to matter.
func WriteSignedTo(w io.Writer, m Message, signer *dkim.Signer) error {
	msg, err := Build(m)
	if err != nil {
		return err
	}
	var r rendering
	if err := r.render(msg); err != nil {
		return fmt.Errorf("message %s: %w", m.MessageID, err)
	}
	if err := r.sign(signer); err != nil {
		return fmt.Errorf("message %s: %w", m.MessageID, err)
	}
	for _, b := range [][]byte{r.signature, r.body} {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write message %s: %w", m.MessageID, err)
		}
	}
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

// bareAddress parses addr, which must be one plain email address, with no
// display name and nothing around it.
func bareAddress(addr string) (*mail.Address, error) {
	a, err := mail.ParseAddress(addr)
	if err != nil {
		return nil, fmt.Errorf("%q is not an email address: %w", addr, err)
	}
	if a.Name != "" || a.Address != strings.TrimSpace(addr) {
		return nil, fmt.Errorf("%q is not a bare email address", addr)
	}
	return a, nil
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
