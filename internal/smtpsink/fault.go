package smtpsink

import (
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// Stage is a point in an SMTP session at which Options.Faults is asked
// what the sink should do.
type Stage int

// The stages, in the order a session reaches them.
const (
	// StageConnect: a TCP connection was accepted, nothing sent yet. A
	// reply fault here is the greeting (then the sink hangs up), so
	// ServiceUnavailable gives the classic "421 4.3.2" refusal.
	StageConnect Stage = iota + 1
	// StageMail: MAIL FROM arrived.
	StageMail
	// StageRcpt: one RCPT TO arrived (once per recipient).
	StageRcpt
	// StageData: DATA was accepted. go-smtp has already sent "354" at this
	// point, so a reply fault here reaches the client only after it has
	// sent the whole message, exactly like one at StageDataEnd; a drop or
	// stall hits the client while it is still sending.
	StageData
	// StageDataEnd: the whole message was read, the final reply not yet
	// sent. This is where "did the server get it?" faults belong.
	StageDataEnd
)

// String names the stage as the SMTP command that reaches it.
func (st Stage) String() string {
	switch st {
	case StageConnect:
		return "connect"
	case StageMail:
		return "MAIL"
	case StageRcpt:
		return "RCPT"
	case StageData:
		return "DATA"
	case StageDataEnd:
		return "end of DATA"
	}
	return fmt.Sprintf("stage(%d)", int(st))
}

// Event is one session reaching one stage: what Options.Faults is asked
// about and what Server.Events records.
type Event struct {
	Stage Stage
	// Conn numbers the connection, 1 for the first the sink accepted.
	Conn int
	// From is the envelope sender, from StageMail on.
	From string
	// To is the recipient being offered at StageRcpt, and the accepted
	// recipients at StageData and StageDataEnd.
	To []string
	// Attempt counts, from 1, how many times this stage was reached for
	// the same subject since the sink started: the connection at
	// StageConnect (so it equals Conn), the sender at StageMail, the
	// recipient at StageRcpt, and the recipient list at StageData and
	// StageDataEnd. Addresses are compared without regard to case.
	Attempt int
	// MessageID is the message's Message-ID header (angle brackets kept),
	// at StageDataEnd; empty before, or when the message has none.
	MessageID string
}

// action is what a Fault makes the sink do.
type action int

const (
	actAccept action = iota
	actReply
	actDrop
	actStall
)

// Fault is what the sink does at an Event instead of carrying on. The zero
// value (also Accept()) carries on normally; build the others with Reply,
// ServiceUnavailable, Drop, DropAfterAccept, Stall and StallAfterAccept.
type Fault struct {
	action   action
	code     int
	enhanced smtp.EnhancedCode
	text     string
	// store keeps the message (flagged Unacknowledged) before the drop or
	// stall; it only means something at StageDataEnd.
	store bool
}

// Accept carries on normally: the sink's other options (RejectRcpt,
// RejectData) still apply.
func Accept() Fault { return Fault{} }

// Reply answers with code (4xx or 5xx), enhancedCode ("4.3.0", may be
// empty) and text instead of going on. A 421 also closes the connection
// after the reply, as a server going down does; at StageConnect every
// reply is the greeting and is followed by hanging up.
func Reply(code int, enhancedCode, text string) Fault {
	return Fault{action: actReply, code: code, enhanced: parseEnhancedCode(enhancedCode), text: text}
}

// ServiceUnavailable is "421 4.3.2 service not available": at StageConnect
// the busy or shutting-down server's greeting, elsewhere its parting reply.
func ServiceUnavailable() Fault { return Reply(421, "4.3.2", "service not available") }

// Drop closes the TCP connection at once, without a reply. At
// StageDataEnd the whole message has been read but is not kept: the
// client cannot tell whether it was delivered, and it was not.
func Drop() Fault { return Fault{action: actDrop} }

// DropAfterAccept, at StageDataEnd, keeps the message (Received.
// Unacknowledged is set) and then closes the connection without replying:
// the client cannot tell whether it was delivered, and it was, so a
// re-send is a duplicate the test can count. At other stages it is Drop.
func DropAfterAccept() Fault { return Fault{action: actDrop, store: true} }

// Stall stops answering: the session reads and discards whatever the
// client sends, never replies, and ends when the client hangs up, when
// DropConnections is called or when the sink is closed. At StageDataEnd
// the message is not kept.
func Stall() Fault { return Fault{action: actStall} }

// StallAfterAccept, at StageDataEnd, keeps the message (flagged
// Unacknowledged) and then stalls: the client times out waiting for the
// reply to a message that was in fact delivered. At other stages it is
// Stall.
func StallAfterAccept() Fault { return Fault{action: actStall, store: true} }

// String describes the fault, for test failure messages.
func (f Fault) String() string {
	switch f.action {
	case actReply:
		if f.enhanced == smtp.EnhancedCodeNotSet {
			return fmt.Sprintf("reply %d %s", f.code, f.text)
		}
		return fmt.Sprintf("reply %d %d.%d.%d %s", f.code, f.enhanced[0], f.enhanced[1], f.enhanced[2], f.text)
	case actDrop:
		if f.store {
			return "drop after accept"
		}
		return "drop"
	case actStall:
		if f.store {
			return "stall after accept"
		}
		return "stall"
	}
	return "accept"
}

// smtpError is the reply of a reply fault, as go-smtp sends it.
func (f Fault) smtpError() *smtp.SMTPError {
	return &smtp.SMTPError{Code: f.code, EnhancedCode: f.enhanced, Message: f.text}
}

// replyLine is the reply of a reply fault as one SMTP line, for the replies
// the sink writes itself (a greeting, a 421 before hanging up).
func (f Fault) replyLine() string {
	if f.enhanced == smtp.EnhancedCodeNotSet {
		return fmt.Sprintf("%d %s\r\n", f.code, f.text)
	}
	return fmt.Sprintf("%d %d.%d.%d %s\r\n", f.code, f.enhanced[0], f.enhanced[1], f.enhanced[2], f.text)
}

// parseEnhancedCode reads "4.3.0"; anything else is "not set", which
// go-smtp turns into the generic X.0.0.
func parseEnhancedCode(s string) smtp.EnhancedCode {
	ec := smtp.EnhancedCodeNotSet
	if n, err := fmt.Sscanf(s, "%d.%d.%d", &ec[0], &ec[1], &ec[2]); err != nil || n != 3 {
		return smtp.EnhancedCodeNotSet
	}
	return ec
}

// Plan decides the fault for each event; it is the type of Options.Faults.
// The sink calls it from many sessions at once, so it must be safe for
// concurrent use; the plans built here are (they keep no state: attempts
// are counted by the sink and arrive in Event.Attempt).
//
// A plan reads best built from At, one line per scripted subject:
//
//	Faults: smtpsink.Combine(
//		smtpsink.At(smtpsink.StageRcpt, "ana@example.com", smtpsink.FailFirst(1, smtpsink.Reply(451, "4.3.0", "try later"))),
//		smtpsink.At(smtpsink.StageRcpt, "bob@example.com", smtpsink.Always(smtpsink.Reply(550, "5.1.1", "no such user"))),
//		smtpsink.At(smtpsink.StageDataEnd, "cy@example.com", smtpsink.Sequence(smtpsink.DropAfterAccept())),
//	)
type Plan func(ev Event) Fault

// Script decides the fault by attempt number (1 for the first time the
// subject reaches the stage).
type Script func(attempt int) Fault

// Always gives f on every attempt.
func Always(f Fault) Script { return func(int) Fault { return f } }

// FailFirst gives f on the first n attempts and accepts from then on.
func FailFirst(n int, f Fault) Script {
	return func(attempt int) Fault {
		if attempt <= n {
			return f
		}
		return Accept()
	}
}

// Sequence gives faults[0] on the first attempt, faults[1] on the second
// and so on, and accepts once they run out.
func Sequence(faults ...Fault) Script {
	return func(attempt int) Fault {
		if attempt >= 1 && attempt <= len(faults) {
			return faults[attempt-1]
		}
		return Accept()
	}
}

// At applies script to the events at stage that concern addr: the sender
// at StageMail, a recipient at the other stages (compared without regard
// to case). An empty addr matches every event at stage, and is the only
// thing that matches at StageConnect. Other events are accepted.
func At(stage Stage, addr string, script Script) Plan {
	return func(ev Event) Fault {
		if ev.Stage != stage || !concerns(ev, addr) {
			return Accept()
		}
		return script(ev.Attempt)
	}
}

// OnConnect applies script to every new connection, by connection number:
// OnConnect(FailFirst(1, ServiceUnavailable())) refuses the first
// connection and lets the next ones in.
func OnConnect(script Script) Plan { return At(StageConnect, "", script) }

// Combine asks each plan in turn and returns the first fault that is not
// Accept.
func Combine(plans ...Plan) Plan {
	return func(ev Event) Fault {
		for _, p := range plans {
			if f := p(ev); f.action != actAccept {
				return f
			}
		}
		return Accept()
	}
}

func concerns(ev Event, addr string) bool {
	if addr == "" {
		return true
	}
	if ev.Stage == StageMail {
		return strings.EqualFold(ev.From, addr)
	}
	for _, to := range ev.To {
		if strings.EqualFold(to, addr) {
			return true
		}
	}
	return false
}
