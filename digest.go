// Package digest holds the domain of the digest service: regions (editions),
// briefs with their signals and sources, subscribers, deliveries, and the
// errors shared by every layer. It imports nothing from the project, so every
// other package can depend on it and on nothing else in common.
//
// It also owns the two rules every part of the service must apply alike,
// as pure functions with no I/O: which briefs a reader's digest carries and
// in which order (Selection.Select over Candidates and the reader's
// history), and when a reader is due, for which local day (TimeOfDay.DayAt).
// The pass, previews, lint, dry runs, the status forecast and the
// preferences page call them; storage only fetches what they read. They
// live here, not in the package of one caller, so that no caller can hold a
// copy of its own.
package digest
