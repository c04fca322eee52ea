// Package bounces reads bounce and complaint reports that come back as mail:
// RFC 3464 delivery-status notifications, the free-text bounces of MTAs that
// never adopted it (qmail, old Exim, Exchange, Gmail, Yahoo, …), RFC 5965 ARF
// complaint reports, and Microsoft's older JMRP complaints. It turns each into
// one Report per recipient, and tells ordinary mail and auto-replies apart
// (ErrNotABounce). It owns reading .eml files, directories and mbox files for
// `digest bounces ingest`; what to do with a report (suppress a reader, count
// soft bounces) belongs to the caller.
package bounces

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Kind is what a report says about a recipient.
type Kind string

// The kinds of report.
const (
	Hard      Kind = "hard"      // permanent failure for the recipient: 5.x.x (mailbox unknown, domain gone, …)
	Soft      Kind = "soft"      // temporary: 4.x.x, mailbox full, over quota, greylisted, …
	Complaint Kind = "complaint" // ARF feedback report (abuse/fraud/… marked as spam)
)

// Report is one recipient's outcome found in one message.
type Report struct {
	Kind Kind
	// Recipient is the address that bounced or complained, as it was sent
	// to (a DSN's Original-Recipient before its Final-Recipient), with the
	// domain lowercased; "" when the report does not name it.
	Recipient string
	// Status is the RFC 3463 enhanced status code ("5.1.1") when known.
	Status string
	// Diagnostic is the remote server's words, one trimmed line of at most
	// 500 characters. For a complaint it is the feedback type ("abuse").
	Diagnostic string
	// OriginalMessageID is the Message-ID ("<…>") of the message that
	// bounced, from the returned message or headers; "" if absent.
	OriginalMessageID string
	// VERPToken is TOKEN when the report was addressed to LOCAL+TOKEN@domain
	// (or the returned message's Return-Path is such an address); "" otherwise.
	// It is taken from the mail as sent by a stranger: verify it before use.
	VERPToken string
	// ReportingMTA is the host that wrote the report, when it says.
	ReportingMTA string
	// Arrival is when the reporting system received the original message
	// (DSN or ARF Arrival-Date), else the report's own Date; zero if unknown.
	Arrival time.Time
}

var (
	// ErrNotABounce is returned, wrapped with the reason, for ordinary mail,
	// auto-replies (RFC 3834, vacation) and reports that are not failures
	// (a DSN of successful delivery, a DMARC authentication-failure report).
	ErrNotABounce = errors.New("not a bounce or complaint")
	// ErrTooLarge is returned for a message over MaxMessageSize.
	ErrTooLarge = errors.New("message too large")
)

// parse reads one message. It returns the reports it found (a DSN can name
// several recipients), an error matching ErrNotABounce for ordinary mail and
// auto-replies, or another error for input it cannot read at all.
func parse(r io.Reader) ([]Report, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxMessageSize+1))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	if len(data) > MaxMessageSize {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxMessageSize)
	}
	return parseMessage(data)
}

// message is a parsed report with its parts sorted by what they are for.
type message struct {
	root     *entity
	from     string // decoded From header
	subject  string // decoded Subject header
	date     time.Time
	dsn      []*entity // message/delivery-status parts
	feedback []*entity // message/feedback-report parts
	enclosed []*entity // messages inside message/rfc822 parts
	headers  []header  // text/rfc822-headers parts
	texts    []*entity // text/plain parts outside enclosed messages
	htmls    []*entity // text/html parts outside enclosed messages

	text     string // bounceText, once built
	textDone bool
}

// collect sorts the parts of e into m, without descending into enclosed
// messages: a forwarded or returned message is evidence, not the report.
func (m *message) collect(e *entity) {
	if len(e.parts) > 0 {
		for _, p := range e.parts {
			m.collect(p)
		}
		return
	}
	switch e.mediaType {
	case "message/delivery-status", "message/global-delivery-status":
		m.dsn = append(m.dsn, e)
	case "message/feedback-report":
		m.feedback = append(m.feedback, e)
	case "message/rfc822", "message/global":
		if e.enclosed != nil {
			m.enclosed = append(m.enclosed, e.enclosed)
		}
	case "text/rfc822-headers", "message/rfc822-headers", "message/global-headers":
		h, _ := parseHeader(skipEnvelopeLine(e.body))
		m.headers = append(m.headers, h)
	case "text/plain":
		m.texts = append(m.texts, e)
	default:
		if strings.HasPrefix(e.mediaType, "multipart/") {
			m.texts = append(m.texts, e) // a multipart without parts
		}
	case "text/html":
		m.htmls = append(m.htmls, e)
	}
}

func parseMessage(data []byte) ([]Report, error) {
	data = skipEnvelopeLine(data)
	if len(data) == 0 {
		return nil, errors.New("empty message")
	}
	st := &parseState{}
	root := parseEntity(data, 0, st)
	if len(root.header) == 0 {
		return nil, errors.New("no header fields: not a mail message")
	}
	m := &message{
		root:    root,
		from:    decodeWords(root.header.get("from")),
		subject: decodeWords(root.header.get("subject")),
		date:    parseDate(root.header.get("date")),
	}
	m.collect(root)

	var (
		reports []Report
		err     error
	)
	switch {
	case len(m.feedback) > 0:
		reports, err = m.feedbackReports()
	case len(m.dsn) > 0:
		reports, err = m.dsnReports(m.dsn[0].body)
	case m.jmrpRecipient() != "":
		reports = m.jmrpReports()
	default:
		if why := m.notBounceLike(); why != "" {
			return nil, fmt.Errorf("%w: %s", ErrNotABounce, why)
		}
		reports, err = m.textReports()
	}
	if err != nil {
		return nil, err
	}
	if len(reports) > maxReports {
		reports = reports[:maxReports]
	}
	for i := range reports {
		reports[i].Diagnostic = cleanDiagnostic(reports[i].Diagnostic)
		if reports[i].Arrival.IsZero() {
			reports[i].Arrival = m.date
		}
	}
	return reports, nil
}

// returnedHeader is the header of the message that bounced: from a
// message/rfc822 part, a text/rfc822-headers part, or the copy quoted in the
// text after a line such as "--- Below this line is a copy of the message.".
func (m *message) returnedHeader() header {
	if len(m.enclosed) > 0 && len(m.enclosed[0].header) > 0 {
		return m.enclosed[0].header
	}
	if len(m.headers) > 0 && len(m.headers[0]) > 0 {
		return m.headers[0]
	}
	_, quoted := splitQuoted(m.bounceText())
	h, _ := parseHeader(skipEnvelopeLine([]byte(strings.TrimLeft(quoted, " \t\r\n"))))
	if h.get("message-id") == "" {
		// Some MTAs (Zoho) paste the headers without a marker line, or
		// after prose; a "Message-ID:" line is still unambiguous.
		if id := scanMessageID(m.bounceText()); id != "" {
			h = append(h, field{name: "message-id", value: id})
		}
	}
	return h
}

// originalMessageID returns the normalized Message-ID of the returned message.
func (m *message) originalMessageID(h header) string {
	return normalizeMessageID(h.get("message-id"))
}

// verp finds the VERP token: first in the addresses the report was delivered
// to, then in the Return-Path of the returned message (the envelope sender
// the bounce went back to).
func (m *message) verp(returned header) string {
	for _, name := range []string{"delivered-to", "x-original-to", "envelope-to", "to"} {
		for _, v := range m.root.header.all(name) {
			for _, a := range addressesIn(v) {
				if t := verpToken(a); t != "" {
					return t
				}
			}
		}
	}
	return returnPathToken(returned)
}

// returnPathToken returns the VERP token of a header's Return-Path.
func returnPathToken(h header) string {
	for _, a := range addressesIn(h.get("return-path")) {
		if t := verpToken(a); t != "" {
			return t
		}
	}
	return ""
}

// bounceText is the text of the report for people: its text/plain parts, or
// its HTML with the tags removed when there is no plain text.
func (m *message) bounceText() string {
	if m.textDone {
		return m.text
	}
	var b strings.Builder
	for _, e := range m.texts {
		b.WriteString(e.text())
		b.WriteString("\n\n")
	}
	if b.Len() == 0 {
		for _, e := range m.htmls {
			b.WriteString(htmlToText(e.text()))
			b.WriteString("\n\n")
		}
	}
	m.text, m.textDone = b.String(), true
	return m.text
}
