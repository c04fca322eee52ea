package bounces

import (
	"fmt"
	"strings"
)

// dsnRecipient is one per-recipient block of a delivery-status body.
type dsnRecipient struct {
	final, original string
	action          string
	status          string
	diagnostic      string
	remoteMTA       string
}

// dsnFields is a parsed delivery-status body.
type dsnFields struct {
	reportingMTA string
	arrival      string
	recipients   []dsnRecipient
}

// parseDSNFields reads RFC 3464 fields: per-message fields, then
// per-recipient blocks. It does not rely on the blank lines between blocks
// (some MTAs leave them out): a second Final-Recipient or Original-Recipient
// starts a new recipient.
func parseDSNFields(body []byte) dsnFields {
	var d dsnFields
	var cur *dsnRecipient
	var sawFinal, sawOriginal bool
	startNew := func() {
		d.recipients = append(d.recipients, dsnRecipient{})
		cur = &d.recipients[len(d.recipients)-1]
		sawFinal, sawOriginal = false, false
	}
	rest := body
	for len(rest) > 0 && len(d.recipients) < maxReports {
		rest = trimBlankLines(rest)
		var h header
		h, rest = parseHeader(rest)
		if h == nil {
			// Not a field line: skip it and read on.
			_, rest = nextLine(rest)
			continue
		}
		for _, f := range h {
			switch f.name {
			case "reporting-mta":
				d.reportingMTA = typedValue(f.value)
			case "arrival-date":
				d.arrival = f.value
			case "final-recipient":
				if cur == nil || sawFinal {
					startNew()
				}
				cur.final, sawFinal = typedValue(f.value), true
			case "original-recipient":
				if cur == nil || sawOriginal {
					startNew()
				}
				cur.original, sawOriginal = typedValue(f.value), true
			case "action", "status", "diagnostic-code", "remote-mta":
				if cur == nil {
					startNew()
				}
				switch f.name {
				case "action":
					cur.action = strings.ToLower(strings.TrimSpace(f.value))
				case "status":
					cur.status = statusIn(f.value)
				case "diagnostic-code":
					cur.diagnostic = typedValue(f.value)
				case "remote-mta":
					cur.remoteMTA = typedValue(f.value)
				}
			}
		}
		// A blank line ends a recipient block.
		cur = nil
	}
	return d
}

// trimBlankLines drops empty lines at the start of b.
func trimBlankLines(b []byte) []byte {
	for len(b) > 0 {
		line, rest := nextLine(b)
		if len(strings.TrimSpace(string(line))) != 0 {
			return b
		}
		b = rest
	}
	return b
}

// dsnReports turns a delivery-status body into reports. Recipients whose
// action is delivered, relayed or expanded are not failures and give none.
func (m *message) dsnReports(body []byte) ([]Report, error) {
	d := parseDSNFields(body)
	if len(d.recipients) == 0 {
		// An empty or mangled delivery-status part: read the text instead.
		return m.textReports()
	}
	returned := m.returnedHeader()
	msgID := m.originalMessageID(returned)
	if msgID == "" {
		// A misdeclared boundary can leave the returned headers inside
		// the delivery-status part (seen from sendmail).
		msgID = normalizeMessageID(scanMessageID(string(body)))
	}
	token := m.verp(returned)
	arrival := parseDate(d.arrival)
	var texts map[string]*textRecipient
	var reports []Report
	succeeded := 0
	for _, r := range d.recipients {
		if r.action == "delivered" || r.action == "relayed" || r.action == "expanded" || strings.HasPrefix(r.status, "2.") {
			succeeded++
			continue
		}
		addr := normalizeAddr(r.original)
		if addr == "" {
			addr = normalizeAddr(r.final)
		}
		if addr == "" && r.action == "" && r.status == "" {
			continue // a stray field, not a recipient block
		}
		diag := r.diagnostic
		if diag == "" {
			// Some MTAs put the reason only in the human-readable part.
			if texts == nil {
				texts = map[string]*textRecipient{}
				for _, t := range m.textRecipients() {
					texts[t.addr] = t
				}
			}
			for _, a := range []string{addr, normalizeAddr(r.final)} {
				if t := texts[a]; t != nil && diag == "" && t.telling() {
					diag = t.diagnostic()
				}
			}
		}
		status := refineStatus(r.status, diag)
		delayed := r.action == "delayed" || r.action == "expired"
		reports = append(reports, Report{
			Kind:              kindOf(delayed, status, diag),
			Recipient:         addr,
			Status:            status,
			Diagnostic:        diag,
			OriginalMessageID: msgID,
			VERPToken:         token,
			ReportingMTA:      d.reportingMTA,
			Arrival:           arrival,
		})
	}
	if len(reports) == 0 && succeeded > 0 {
		return nil, fmt.Errorf("%w: delivery status notification of success", ErrNotABounce)
	}
	return reports, nil
}
