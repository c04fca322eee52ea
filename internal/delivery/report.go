package delivery

import "sync"

// tally collects the items of a pass as planning and the workers produce
// them: every outcome is counted, and items are kept up to a limit, so the
// report of a big pass stays small.
type tally struct {
	mu      sync.Mutex
	limit   int // 0: keep all; negative: keep none
	counts  map[Outcome]int
	items   []Item
	omitted int
	sent    int64 // bytes of the digests sent, HTML and text
	lastErr error // the last item's error, for a pass that sent nothing
}

func newTally(limit int) *tally {
	return &tally{limit: limit, counts: map[Outcome]int{}}
}

// add records it. Safe for concurrent use.
func (t *tally) add(it Item) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[it.Outcome]++
	if it.Outcome == OutcomeSent {
		t.sent += int64(it.HTMLBytes + it.TextBytes)
	}
	if it.Err != nil {
		t.lastErr = it.Err
	}
	if t.limit < 0 || (t.limit > 0 && len(t.items) >= t.limit) {
		t.omitted++
		return
	}
	t.items = append(t.items, it)
}

func (t *tally) count(o Outcome) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[o]
}

// lastError is the error of the last item added that had one.
func (t *tally) lastError() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastErr
}

// fill copies what was collected into rep.
func (t *tally) fill(rep *Report) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rep.Counts = make(map[Outcome]int, len(t.counts))
	for o, n := range t.counts {
		rep.Counts[o] = n
	}
	rep.Items = append([]Item(nil), t.items...)
	rep.Omitted = t.omitted
	rep.SentBytes = t.sent
}
