package delivery

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

// roundStore stands in for the database at the ledger's one seam, Settle,
// and notes the delivery ids each round recorded.
type roundStore struct {
	Store
	mu     sync.Mutex
	rounds [][]int64
}

func (s *roundStore) Settle(_ context.Context, _ time.Time, results []digest.DeliveryResult, claims []digest.ClaimRequest) ([][]digest.Claim, []error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for _, r := range results {
		ids = append(ids, r.DeliveryID)
	}
	s.rounds = append(s.rounds, ids)
	return make([][]digest.Claim, len(claims)), make([]error, len(results)), nil
}

func sent(id int64) []digest.DeliveryResult {
	return []digest.DeliveryResult{{DeliveryID: id, Status: digest.DeliverySent}}
}

// TestLedgerRounds checks when the ledger closes a round: once every
// worker still working is in it, without waiting for one that left, and
// after its gather bound when a worker is slow.
func TestLedgerRounds(t *testing.T) {
	t.Run("every worker", func(t *testing.T) {
		store := &roundStore{}
		l := newLedger(store, time.Now, 3)
		l.gather = time.Hour // only the third worker's request may close the round
		go l.run()
		defer l.close()
		a, b := l.submit(sent(1), digest.ClaimRequest{}), l.submit(sent(2), digest.ClaimRequest{})
		c := l.settle(sent(3), digest.ClaimRequest{})
		<-a.done
		<-b.done
		if c.err != nil || len(store.rounds) != 1 || !slices.Equal(store.rounds[0], []int64{1, 2, 3}) {
			t.Errorf("rounds %v (err %v), want one round of all three", store.rounds, c.err)
		}
	})
	t.Run("a worker that left", func(t *testing.T) {
		store := &roundStore{}
		l := newLedger(store, time.Now, 3)
		l.gather = time.Hour
		go l.run()
		defer l.close()
		a, b := l.submit(sent(1), digest.ClaimRequest{}), l.submit(sent(2), digest.ClaimRequest{})
		l.leave()
		<-a.done
		<-b.done
		if len(store.rounds) != 1 || !slices.Equal(store.rounds[0], []int64{1, 2}) {
			t.Errorf("rounds %v, want one round of the two still working", store.rounds)
		}
	})
	t.Run("a slow worker", func(t *testing.T) {
		store := &roundStore{}
		l := newLedger(store, time.Now, 3)
		l.gather = time.Millisecond
		go l.run()
		defer l.close()
		// The third worker never comes: the round closes on the bound.
		a, b := l.submit(sent(1), digest.ClaimRequest{}), l.submit(sent(2), digest.ClaimRequest{})
		<-a.done
		<-b.done
		if len(store.rounds) != 1 || !slices.Equal(store.rounds[0], []int64{1, 2}) {
			t.Errorf("rounds %v, want one round of the two that came", store.rounds)
		}
	})
}
