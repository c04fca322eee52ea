package demo

import (
	"context"
	"fmt"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/subscribers"
)

// Store is where Load puts the samples; *sqlite.DB implements it.
type Store interface {
	UpsertBrief(ctx context.Context, b *digest.Brief) (created bool, err error)
	CreateSubscriber(ctx context.Context, s *digest.Subscriber) error
}

// Load stores the sample briefs and subscribers, checked against d, and
// returns them as stored.
func Load(ctx context.Context, store Store, d subscribers.Defaults) ([]digest.Brief, []digest.Subscriber, error) {
	bs, err := sampleBriefs(d.Regions)
	if err != nil {
		return nil, nil, err
	}
	for i := range bs {
		if _, err := store.UpsertBrief(ctx, &bs[i]); err != nil {
			return nil, nil, fmt.Errorf("load sample brief %s: %w", bs[i].Slug, err)
		}
	}
	subs, err := sampleSubscribers(d)
	if err != nil {
		return nil, nil, err
	}
	for i := range subs {
		if err := store.CreateSubscriber(ctx, &subs[i]); err != nil {
			return nil, nil, fmt.Errorf("load sample subscriber %s: %w", subs[i].Email, err)
		}
	}
	return bs, subs, nil
}
