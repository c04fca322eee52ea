package bounces

import (
	"fmt"
	"html"
	"regexp"
	"strings"
)

var (
	// daemonLocalParts are the senders of bounces (RFC 5321 section 4.5.1,
	// and what MTAs actually use).
	daemonLocalParts = map[string]bool{
		"mailer-daemon": true, "mailerdaemon": true, "mail-daemon": true,
		"postmaster": true, "mdaemon": true,
	}
	// daemonNames are display names of bounce senders.
	daemonNames = []string{"mailer-daemon", "mailer daemon", "mail delivery subsystem", "mail delivery system", "mail delivery service"}
	// bounceSubjects are in the subjects of bounces, in the languages seen.
	bounceSubjects = []string{
		"undeliver", "returned mail", "returned to sender", "delivery status notification",
		"delivery failure", "delivery failed", "failure notice", "delivery notification",
		"non recapitabile", "nicht zustellbar", "non remis", "delivery report",
		"delayed mail", "failed delivery", "could not be delivered", "bounce",
	}
	// quoteMarkers are the lines after which MTAs quote the returned message.
	quoteMarkers = []string{
		"this is a copy of the message", "below this line is a copy of the message",
		"copy of the original message", "original message follows", "- original message -",
		"original message headers", "header of the original message", "headers of the original message",
		"bounced e-mail:", "returned message follows", "undelivered message follows",
		"intestazioni originali del messaggio", "ursprüngliche nachrichtenkopfzeilen",
		"en-têtes de message d'origine",
	}
	// quotedHeaderNames start a quoted header block when no marker line does.
	quotedHeaderNames = map[string]bool{
		"received": true, "return-path": true, "dkim-signature": true, "message-id": true,
		"from": true, "to": true, "subject": true, "date": true, "mime-version": true,
		"content-type": true, "delivered-to": true, "authentication-results": true,
	}
	keyedAddrRE = regexp.MustCompile(`(?i)^(?:target mail address|failed recipients?|failed address|recipient address|original recipient|recipient|e-?mail address)\s*:\s*<?(` + addrPattern + `)`)
	reasonRE    = regexp.MustCompile(`(?i)^(?:reject reason|reason|error|remote server said|remote host said)\s*:\s*(\S.*)$`)
	messageIDRE = regexp.MustCompile(`(?im)^[ \t]*message-id[ \t]*:[ \t]*(\S[^\r\n]*)$`)
	htmlDropRE  = regexp.MustCompile(`(?is)<(script|style)\b.*?</(script|style)\s*>`)
	htmlBreakRE = regexp.MustCompile(`(?i)<(br|/p|/div|/tr|/li|/h[1-6]|hr)\b[^>]*>`)
	htmlTagRE   = regexp.MustCompile(`<[^>]*>`)
	fieldNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
)

// maxTextParse bounds the bytes of report text searched for recipients.
const maxTextParse = 1 << 20

// notBounceLike returns why a message without a delivery-status or feedback
// part is not taken for a bounce, or "" when it looks like one: sent by a
// mailer daemon or postmaster, declared multipart/report, or with a bounce's
// subject and a bounce's envelope (null Return-Path, Auto-Submitted,
// X-Failed-Recipients).
func (m *message) notBounceLike() string {
	if isDaemon(m.from) || m.root.mediaType == "multipart/report" {
		return ""
	}
	h := m.root.header
	subject := strings.ToLower(m.subject)
	auto := strings.ToLower(strings.TrimSpace(h.get("auto-submitted")))
	if containsAny(subject, bounceSubjects) {
		if strings.TrimSpace(h.get("return-path")) == "<>" || auto != "" && auto != "no" || h.get("x-failed-recipients") != "" {
			return ""
		}
	}
	if auto != "" && auto != "no" {
		return "automatic reply (Auto-Submitted: " + auto + ")"
	}
	if h.get("x-autoreply") != "" || h.get("x-autorespond") != "" || strings.Contains(strings.ToLower(h.get("precedence")), "auto_reply") {
		return "automatic reply"
	}
	return "ordinary mail: no delivery report, and neither the sender nor the subject of a bounce"
}

// isDaemon reports whether a From value is a mailer daemon or postmaster.
func isDaemon(from string) bool {
	for _, a := range addressesIn(from) {
		if daemonLocalParts[strings.ToLower(a[:strings.LastIndexByte(a, '@')])] {
			return true
		}
	}
	// Also "MAILER-DAEMON" without a domain, and display names.
	return containsAny(strings.ToLower(from), daemonNames)
}

// splitQuoted splits report text into the MTA's own words and the quoted copy
// of the returned message, at a marker line or, failing one, at the first
// header block.
func splitQuoted(text string) (own, quoted string) {
	for off := 0; off < len(text); {
		line, next := lineAt(text, off)
		if containsAny(strings.ToLower(line), quoteMarkers) {
			return text[:off], text[next:]
		}
		off = next
	}
	for off := 0; off < len(text); {
		line, next := lineAt(text, off)
		name := fieldName([]byte(line))
		if quotedHeaderNames[strings.ToLower(name)] && next < len(text) {
			second, _ := lineAt(text, next)
			if strings.HasPrefix(second, " ") || strings.HasPrefix(second, "\t") || fieldNameRE.MatchString(fieldName([]byte(second))) {
				return text[:off], text[off:]
			}
		}
		off = next
	}
	return text, ""
}

// lineAt returns the line starting at off, without its line ending, and the
// offset of the next line.
func lineAt(text string, off int) (string, int) {
	end := strings.IndexByte(text[off:], '\n')
	if end < 0 {
		return strings.TrimSuffix(text[off:], "\r"), len(text)
	}
	return strings.TrimSuffix(text[off:off+end], "\r"), off + end + 1
}

// scanMessageID returns the value of the first "Message-ID:" line in text.
func scanMessageID(text string) string {
	if m := messageIDRE.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// htmlToText reduces HTML to its text, enough to find addresses and codes.
func htmlToText(s string) string {
	s = htmlDropRE.ReplaceAllString(s, " ")
	s = htmlBreakRE.ReplaceAllString(s, "\n")
	s = htmlTagRE.ReplaceAllString(s, "")
	return html.UnescapeString(s)
}

// textRecipient is a failed address found in report text with the lines
// that follow it (the MTA's explanation for that address).
type textRecipient struct {
	addr  string
	lines []string
}

func (t *textRecipient) text() string { return strings.Join(t.lines, " ") }

// diagnostic is the explanation from its first SMTP code on, or all of it.
func (t *textRecipient) diagnostic() string {
	s, _ := fromCode(t.text())
	return s
}

// telling reports whether the explanation says anything about the failure:
// an SMTP code or a known phrase, not just an echo of DSN fields.
func (t *textRecipient) telling() bool {
	s := t.text()
	if _, ok := fromCode(s); ok {
		return true
	}
	lower := strings.ToLower(s)
	return containsAny(lower, softPhrases) || containsAny(lower, hardPhrases)
}

// leadingAddr returns the address a line starts with ("<a@b>:", "a@b
// <mailto:a@b>", "a@b: 550 …") and the rest of the line after it.
func leadingAddr(line string) (addr, rest string, ok bool) {
	s := strings.TrimPrefix(line, "<")
	loc := addrRE.FindStringIndex(s)
	if loc == nil || loc[0] != 0 {
		return "", "", false
	}
	addr = normalizeAddr(s[:loc[1]])
	rest = s[loc[1]:]
	if addr == "" || rest != "" && !strings.ContainsRune(">:;, \t(<", rune(rest[0])) {
		return "", "", false
	}
	rest = strings.TrimLeft(rest, ">:;, \t")
	if strings.HasPrefix(rest, "(") {
		if i := strings.IndexByte(rest, ')'); i > 0 && strings.Contains(rest[:i], "@") {
			rest = strings.TrimLeft(rest[i+1:], " \t")
		}
	}
	if strings.HasPrefix(strings.ToLower(rest), "<mailto:") {
		if i := strings.IndexByte(rest, '>'); i > 0 {
			rest = rest[i+1:]
		}
	}
	return addr, strings.TrimLeft(rest, ">:;, \t"), true
}

// textRecipients finds the failed addresses in the MTA's own words: lines
// that start with an address (qmail, Exim, Postfix, Gmail, Exchange, …) or
// name one ("target mail address: a@b"); the lines after an address, up to a
// blank line, explain it. An address named twice gathers both explanations
// (Exchange writes a summary and then the diagnostic).
func (m *message) textRecipients() []*textRecipient {
	own, _ := splitQuoted(m.bounceText())
	if len(own) > maxTextParse {
		own = own[:maxTextParse]
	}
	var order []*textRecipient
	byAddr := map[string]*textRecipient{}
	var cur *textRecipient
	begin := func(addr string) {
		if t := byAddr[addr]; t != nil {
			cur = t
			return
		}
		cur = &textRecipient{addr: addr}
		byAddr[addr] = cur
		order = append(order, cur)
	}
	for off := 0; off < len(own) && len(order) < maxReports; {
		raw, next := lineAt(own, off)
		off = next
		line := strings.TrimSpace(raw)
		if line == "" {
			cur = nil
			continue
		}
		if addr, rest, ok := leadingAddr(line); ok {
			if cur != nil && cur.addr == addr {
				cur.lines = append(cur.lines, line)
				continue
			}
			begin(addr)
			if rest != "" {
				cur.lines = append(cur.lines, rest)
			}
			continue
		}
		if sm := keyedAddrRE.FindStringSubmatch(line); sm != nil {
			if addr := normalizeAddr(sm[1]); addr != "" {
				begin(addr)
				continue
			}
		}
		if cur != nil {
			cur.lines = append(cur.lines, line)
		}
	}
	return order
}

// paragraphs returns the blank-line separated paragraphs of text, each
// joined into one line.
func paragraphs(text string) []string {
	var out []string
	var cur []string
	for off := 0; off < len(text); {
		line, next := lineAt(text, off)
		off = next
		if t := strings.TrimSpace(line); t != "" {
			cur = append(cur, t)
			continue
		}
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, " "))
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, strings.Join(cur, " "))
	}
	return out
}

// messageEvidence is what the whole of the MTA's text says, for a recipient
// whose own lines carry no code: the first paragraph with an SMTP code, else
// a "reason:" line, else the first paragraph with telling words.
func messageEvidence(own string) (status, diag, text string) {
	paras := paragraphs(own)
	for _, p := range paras {
		if d, ok := fromCode(p); ok {
			return firstStatus(p), d, p
		}
	}
	for off := 0; off < len(own); {
		line, next := lineAt(own, off)
		off = next
		if sm := reasonRE.FindStringSubmatch(strings.TrimSpace(line)); sm != nil {
			return "", sm[1], sm[1]
		}
	}
	for _, list := range [][]string{softPhrases, hardPhrases} {
		for _, p := range paras {
			if containsAny(strings.ToLower(p), list) {
				return "", p, p
			}
		}
	}
	return "", "", ""
}

// firstStatus returns the first specific enhanced code in s, or the first
// generic one ("5.0.0"), or "".
func firstStatus(s string) string {
	codes := enhancedCodes(s)
	for _, c := range codes {
		if !strings.HasSuffix(c.code, ".0.0") {
			return c.code
		}
	}
	if len(codes) > 0 {
		return codes[0].code
	}
	return ""
}

// textReports reads a bounce that has no usable delivery-status part: the
// DSN fields some MTAs paste as text, else addresses and SMTP codes in the
// MTA's words, else X-Failed-Recipients. A bounce that names nobody still
// gives one report, with no recipient: its Message-ID or VERP token may
// identify the delivery.
func (m *message) textReports() ([]Report, error) {
	returned := m.returnedHeader()
	base := Report{
		OriginalMessageID: m.originalMessageID(returned),
		VERPToken:         m.verp(returned),
	}
	text := m.bounceText()
	own, _ := splitQuoted(text)
	if len(own) > maxTextParse {
		own = own[:maxTextParse]
	}
	if d := parseDSNFields([]byte(own)); len(d.recipients) > 0 && hasAddress(d.recipients) {
		return m.dsnReports([]byte(own))
	}

	recipients := m.textRecipients()
	if len(recipients) == 0 {
		for _, v := range m.root.header.all("x-failed-recipients") {
			for _, a := range addressesIn(v) {
				recipients = append(recipients, &textRecipient{addr: a})
			}
		}
	}
	if len(recipients) == 0 {
		// A postmaster's notice ("your mailbox is almost full") is not a
		// bounce: without a failed address, a status code or a returned
		// message there is nothing that ties it to a delivery.
		if _, coded := fromCode(own); !coded && len(returned) == 0 && base.VERPToken == "" {
			return nil, fmt.Errorf("%w: no failed recipient, status code or returned message", ErrNotABounce)
		}
		recipients = []*textRecipient{{}}
	}
	delayed := containsAny(strings.ToLower(own), delayPhrases) || strings.Contains(strings.ToLower(m.subject), "delay")
	reports := make([]Report, 0, len(recipients))
	for _, t := range recipients {
		r := base
		r.Recipient = t.addr
		r.Kind, r.Status, r.Diagnostic = textOutcome(t, own, len(recipients) == 1, delayed)
		reports = append(reports, r)
	}
	return reports, nil
}

// textOutcome classifies one recipient found in the MTA's text (own). Its
// own lines come first; when they carry no code and it is the only
// recipient, the rest of the text speaks for it (Gmail writes the address,
// then the SMTP reply paragraphs later).
func textOutcome(t *textRecipient, own string, only, delayed bool) (kind Kind, status, diag string) {
	block := t.text()
	evidence := block
	switch _, coded := fromCode(block); {
	case coded:
		status, diag = firstStatus(block), t.diagnostic()
	case only:
		var text string
		status, diag, text = messageEvidence(own)
		if block != "" && status == "" {
			diag = block
		}
		evidence = block + " " + text
	default:
		diag = block
	}
	return kindOf(delayed, status, evidence), status, diag
}

// hasAddress reports whether any DSN recipient names an address.
func hasAddress(rs []dsnRecipient) bool {
	for _, r := range rs {
		if normalizeAddr(r.final) != "" || normalizeAddr(r.original) != "" {
			return true
		}
	}
	return false
}
