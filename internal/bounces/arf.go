package bounces

import (
	"fmt"
	"strings"
)

// feedbackReports turns an RFC 5965 feedback report into complaints, one per
// recipient of the reported message: the ARF Original-Rcpt-To fields (the
// envelope recipients, authoritative), else the To of the enclosed message.
func (m *message) feedbackReports() ([]Report, error) {
	var fields header
	rest := m.feedback[0].body
	for len(rest) > 0 {
		rest = trimBlankLines(rest)
		h, after := parseHeader(rest)
		if h == nil {
			_, after = nextLine(rest)
		}
		fields = append(fields, h...)
		rest = after
	}
	ftype := strings.ToLower(strings.TrimSpace(fields.get("feedback-type")))
	switch ftype {
	case "auth-failure", "not-spam":
		// An authentication-failure (DMARC forensic, RFC 6591) report says
		// the message failed SPF/DKIM somewhere, not that the reader
		// complained; "not-spam" is the opposite of a complaint.
		return nil, fmt.Errorf("%w: feedback report of type %q is not a complaint", ErrNotABounce, ftype)
	}
	if ftype == "" {
		ftype = "abuse"
	}
	returned := m.returnedHeader()
	var recipients []string
	for _, v := range fields.all("original-rcpt-to") {
		if a := normalizeAddr(typedValue(v)); a != "" {
			recipients = append(recipients, a)
		}
	}
	if len(recipients) == 0 {
		recipients = addressesIn(returned.get("to"))
	}
	token := returnPathToken(returned)
	if token == "" {
		for _, a := range addressesIn(fields.get("original-mail-from")) {
			if token = verpToken(a); token != "" {
				break
			}
		}
	}
	arrival := parseDate(fields.get("arrival-date"))
	if arrival.IsZero() {
		arrival = parseDate(fields.get("received-date"))
	}
	base := Report{
		Kind:              Complaint,
		Diagnostic:        ftype,
		OriginalMessageID: m.originalMessageID(returned),
		VERPToken:         token,
		ReportingMTA:      typedValue(fields.get("reporting-mta")),
		Arrival:           arrival,
	}
	if len(recipients) == 0 {
		// Redacted reports name nobody; the Message-ID or VERP token may
		// still identify the delivery.
		return []Report{base}, nil
	}
	reports := make([]Report, 0, len(recipients))
	for _, a := range recipients {
		r := base
		r.Recipient = a
		reports = append(reports, r)
	}
	return reports, nil
}

// jmrpRecipient returns the recipient of a Microsoft JMRP complaint (the
// pre-ARF format of Hotmail/Outlook.com: the reported message attached, with
// an X-HmXmrOriginalRecipient header), or "".
func (m *message) jmrpRecipient() string {
	if len(m.enclosed) == 0 {
		return ""
	}
	return normalizeAddr(m.enclosed[0].header.get("x-hmxmroriginalrecipient"))
}

// jmrpReports returns the one complaint of a JMRP report.
func (m *message) jmrpReports() []Report {
	returned := m.enclosed[0].header
	return []Report{{
		Kind:              Complaint,
		Recipient:         m.jmrpRecipient(),
		Diagnostic:        "abuse",
		OriginalMessageID: m.originalMessageID(returned),
		VERPToken:         returnPathToken(returned),
	}}
}
