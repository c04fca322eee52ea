package main

// Colours mark outcomes in tables for people at a terminal; never in pipes
// or files, and never when NO_COLOR is set (https://no-color.org).

const (
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiDefault = "\x1b[39m" // same length as the others, so tabwriter columns stay aligned
	ansiReset   = "\x1b[0m"
)

// colorOK reports whether stdout gets colours.
func (a *app) colorOK() bool {
	if _, set := a.getenv("NO_COLOR"); set {
		return false
	}
	return isTerminal(a.stdout)
}

// colorStatus colours a delivery state or pass outcome by how it went.
// Every value of a column gets an escape of the same length, so that
// tabwriter, which counts the escape bytes as width, keeps the column
// aligned.
func (a *app) colorStatus(s string) string {
	if !a.colorOK() {
		return s
	}
	c := ansiDefault
	switch s {
	case "sent", "active":
		c = ansiGreen
	case "failed", "bounced", "expired", "UNREADABLE":
		c = ansiRed
	case "deferred", "interrupted", "waiting", "queued", "sending", "pending", "suppressed", "unsubscribed":
		c = ansiYellow
	}
	return c + s + ansiReset
}
