package bounces

import "context"

// Ingest exposes ingest to the external tests, which drive the Ingester
// with reports they build instead of mail.
func (in *Ingester) Ingest(ctx context.Context, r Report) (Outcome, error) {
	return in.ingest(ctx, r)
}
