// Package digest holds the domain of the digest service: regions (editions),
// briefs with their signals and sources, subscribers, deliveries, and the
// errors shared by every layer. It imports nothing from the project, so every
// other package can depend on it and on nothing else in common.
package digest
