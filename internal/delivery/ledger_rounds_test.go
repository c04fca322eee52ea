package delivery

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
)

// roundStore stands in for the database at the ledger's one seam, Settle,
// and notes the delivery ids each round recorded.
type roundStore struct {
	Store
	mu     sync.Mutex
	rounds [][]int64
}

func (s *roundStore) Settle(_ context.Context, _ time.Time, results []outbox.Result, claims []outbox.ClaimRequest) ([][]outbox.Claim, []error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for _, r := range results {
		ids = append(ids, r.DeliveryID)
	}
	s.rounds = append(s.rounds, ids)
	return make([][]outbox.Claim, len(claims)), make([]error, len(results)), nil
}

func sent(id int64) []outbox.Result {
	return []outbox.Result{{DeliveryID: id, Status: digest.DeliverySent}}
}

// TestLedgerRounds checks when the ledger closes a round: once every
// worker still working is in it, without waiting for one that left, and
// after its gather bound when a worker is slow. Workers 1 and 2 hand in an
// outcome each; third does what the third worker does meanwhile.
func TestLedgerRounds(t *testing.T) {
	tests := []struct {
		name   string
		gather time.Duration // an hour: only the third worker may close the round
		third  func(l *ledger)
		want   []int64
	}{
		{"every worker", time.Hour, func(l *ledger) { <-l.submit(sent(3), outbox.ClaimRequest{}).done }, []int64{1, 2, 3}},
		{"a worker that left", time.Hour, func(l *ledger) { l.leave() }, []int64{1, 2}},
		{"a slow worker", time.Millisecond, func(*ledger) {}, []int64{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &roundStore{}
			l := newLedger(store, time.Now, 3)
			l.gather = tt.gather
			// Both are waiting before the ledger starts (the channel holds
			// one per worker), so no scheduling delay can split them.
			a, b := l.submit(sent(1), outbox.ClaimRequest{}), l.submit(sent(2), outbox.ClaimRequest{})
			go l.run()
			defer l.close()
			tt.third(l)
			if sa, sb := <-a.done, <-b.done; sa.err != nil || sb.err != nil {
				t.Fatalf("settle errors %v, %v", sa.err, sb.err)
			}
			store.mu.Lock()
			defer store.mu.Unlock()
			if len(store.rounds) != 1 || !slices.Equal(store.rounds[0], tt.want) {
				t.Errorf("rounds %v, want one round of %v", store.rounds, tt.want)
			}
		})
	}
}
