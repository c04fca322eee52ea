package subscribers

import "strings"

// Spreadsheets run a cell that starts with =, +, -, @, a tab or a carriage
// return as a formula: a reader who signs up as `=HYPERLINK("http://evil",
// "x")` would otherwise get a live link (or worse) into the operator's
// spreadsheet when the export is opened. OWASP's defence
// (https://owasp.org/www-community/attacks/CSV_Injection) is a leading
// apostrophe, which spreadsheets show as text and do not display.
//
// The rule, applied to every CSV cell, is a bijection so that export and
// import round-trip exactly:
//
//   - export: a cell that starts with zero or more apostrophes followed by
//     one of = + - @ TAB CR gets one more apostrophe in front;
//   - import: a cell that starts with one or more apostrophes followed by
//     one of those characters loses one apostrophe.
//
// So "=1+1" exports as "'=1+1" and imports as "=1+1"; "'=1+1", typed as
// such, exports as "''=1+1" and imports as "'=1+1". A cell like "'quoted'"
// is untouched both ways.

// formulaStart reports whether c makes a spreadsheet read a cell as a
// formula.
func formulaStart(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// apostrophesThenFormula reports whether s is zero or more apostrophes
// followed by a formula character.
func apostrophesThenFormula(s string) bool {
	rest := strings.TrimLeft(s, "'")
	return rest != "" && formulaStart(rest[0])
}

// neutralise makes a CSV cell safe to open in a spreadsheet.
func neutralise(s string) string {
	if apostrophesThenFormula(s) {
		return "'" + s
	}
	return s
}

// unneutralise undoes neutralise.
func unneutralise(s string) string {
	if strings.HasPrefix(s, "'") && apostrophesThenFormula(s) {
		return s[1:]
	}
	return s
}
