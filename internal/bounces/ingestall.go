package bounces

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Ingested is what became of one message read, or of one report in it.
type Ingested struct {
	// Source names the message: its file, or its place in an mbox.
	Source string
	// Outcome is the report's, for a message that held one; the zero
	// Outcome for one that did not.
	Outcome Outcome
	// Err is ErrNotABounce for a message that is not a report (skipped),
	// or why the message could not be read; nil for a report.
	Err error
}

// Summary accounts for every message IngestAll read, in the order read.
type Summary struct {
	Items []Ingested
	// Acted counts reports acted on; Unmatched, reports that matched no
	// subscriber; Skipped, messages that are no report; Unreadable,
	// messages that could not be read.
	Acted, Unmatched, Skipped, Unreadable int
}

// IngestAll reads every message under paths (a file holds one message, or
// is an mbox when its first line starts with "From "; a directory is read
// recursively in lexical order, dotfiles skipped; "-" is stdin) and ingests
// each report in them. A message that is not a report, or cannot be read, is counted and
// listed, not an error: every message is accounted for. The error is one
// that stopped the reading or a store error; the summary then holds what
// was done before it.
func (in *Ingester) IngestAll(ctx context.Context, paths []string, stdin io.Reader) (Summary, error) {
	var sum Summary
	for _, path := range paths {
		err := readPath(ctx, path, stdin, func(res Result) error {
			switch {
			case errors.Is(res.Err, ErrNotABounce):
				sum.Skipped++
				sum.Items = append(sum.Items, Ingested{Source: res.Source, Err: res.Err})
				return nil
			case res.Err != nil:
				sum.Unreadable++
				sum.Items = append(sum.Items, Ingested{Source: res.Source, Err: res.Err})
				return nil
			}
			for _, r := range res.Reports {
				out, err := in.ingest(ctx, r)
				if err != nil {
					return fmt.Errorf("%s: %w", res.Source, err)
				}
				if out.Action == ActionNoSubscriber {
					sum.Unmatched++
				} else {
					sum.Acted++
				}
				sum.Items = append(sum.Items, Ingested{Source: res.Source, Outcome: out})
			}
			return nil
		})
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}
