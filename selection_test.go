package digest

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var testRegions = Regions{{Code: "lagos"}, {Code: "bxl"}, {Code: "dc"}}

// TestSelect is the rule of which briefs a digest carries, case by case.
// Briefs are named by id; the pass instant is 2026-11-26T09:30Z unless a
// case says otherwise.
func TestSelect(t *testing.T) {
	sel := Selection{FirstDigestLookback: 24 * time.Hour, LateBriefGrace: 6 * time.Hour}
	type brief struct {
		id        int64
		region    string
		published string
		removed   bool
	}
	sent := func(cutoff string, ids ...int64) Delivery {
		return Delivery{Status: DeliverySent, Cutoff: mustTime(t, cutoff), BriefIDs: ids}
	}
	tests := []struct {
		name      string
		now       string
		regions   []string
		watermark string
		history   []Delivery
		briefs    []brief
		want      []int64
	}{
		{
			name:    "first digest: the look-back, 24 hours back",
			regions: []string{"lagos"},
			briefs: []brief{
				{1, "lagos", "2026-11-25T09:30:00Z", false}, // exactly 24 h ago: out
				{2, "lagos", "2026-11-25T09:31:00Z", false},
				{3, "lagos", "2026-11-26T09:30:00Z", false}, // exactly now: in
				{4, "lagos", "2026-11-26T09:31:00Z", false}, // after now: out
			},
			want: []int64{3, 2},
		},
		{
			name:      "since the watermark, less the grace",
			regions:   []string{"lagos"},
			watermark: "2026-11-25T08:00:00Z",
			history:   []Delivery{sent("2026-11-25T08:00:00Z", 10)},
			briefs: []brief{
				{10, "lagos", "2026-11-25T07:00:00Z", false}, // carried by that digest
				{11, "lagos", "2026-11-25T07:30:00Z", false}, // published before it, stored after: within the grace
				{12, "lagos", "2026-11-25T01:59:00Z", false}, // before the grace: out
				{13, "lagos", "2026-11-26T06:00:00Z", false},
			},
			want: []int64{13, 11},
		},
		{
			name:    "a lagging watermark widens the window, never sends a brief twice",
			regions: []string{"lagos"},
			// The watermark still says the day before yesterday: the last
			// digest's catch-up did not run.
			watermark: "2026-11-24T08:00:00Z",
			history: []Delivery{
				sent("2026-11-24T08:00:00Z", 20),
				sent("2026-11-25T08:00:00Z", 21, 22),
			},
			briefs: []brief{
				{20, "lagos", "2026-11-24T07:00:00Z", false},
				{21, "lagos", "2026-11-24T20:00:00Z", false},
				{22, "lagos", "2026-11-25T07:00:00Z", false},
				{23, "lagos", "2026-11-24T21:00:00Z", false}, // stored too late for yesterday's
				{24, "lagos", "2026-11-26T07:00:00Z", false},
			},
			want: []int64{24, 23},
		},
		{
			name:      "only sent deliveries count, and only those cut off inside the window",
			regions:   []string{"lagos"},
			watermark: "2026-11-25T08:00:00Z",
			history: []Delivery{
				{Status: DeliveryFailed, Cutoff: mustTime(t, "2026-11-25T09:00:00Z"), BriefIDs: []int64{30}},
				{Status: DeliveryQueued, Cutoff: mustTime(t, "2026-11-26T09:00:00Z"), BriefIDs: []int64{31}},
				sent("2026-11-25T02:00:00Z", 32), // cut off at the window's start: carried nothing of it
			},
			briefs: []brief{
				{30, "lagos", "2026-11-25T07:00:00Z", false},
				{31, "lagos", "2026-11-26T07:00:00Z", false},
				{32, "lagos", "2026-11-25T06:00:00Z", false},
			},
			want: []int64{31, 30, 32},
		},
		{
			name:    "a removed brief is never carried",
			regions: []string{"lagos"},
			briefs: []brief{
				{40, "lagos", "2026-11-26T07:00:00Z", true},
				{41, "lagos", "2026-11-26T06:00:00Z", false},
			},
			want: []int64{41},
		},
		{
			name:    "briefs of a region the newsroom does not publish, and a reader's unknown code",
			regions: []string{"atlantis", "lagos"},
			briefs: []brief{
				{50, "atlantis", "2026-11-26T07:00:00Z", false},
				{51, "lagos", "2026-11-26T06:00:00Z", false},
			},
			want: []int64{51},
		},
		{
			name:    "the reader's region order, each region once, newest first with ties by id",
			regions: []string{"dc", "lagos", "dc", "bxl"},
			briefs: []brief{
				{60, "lagos", "2026-11-26T07:00:00Z", false},
				{61, "lagos", "2026-11-26T08:00:00Z", false},
				{62, "dc", "2026-11-26T06:00:00Z", false},
				{63, "dc", "2026-11-26T06:00:00Z", false}, // the same instant: the higher id first
				{64, "bxl", "2026-11-26T05:00:00Z", false},
				{65, "dc", "2026-11-26T09:00:00Z", false},
			},
			want: []int64{65, 63, 62, 61, 60, 64},
		},
		{
			name:    "nothing new",
			regions: []string{"bxl"},
			briefs:  []brief{{70, "lagos", "2026-11-26T07:00:00Z", false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := mustTime(t, "2026-11-26T09:30:00Z")
			if tt.now != "" {
				now = mustTime(t, tt.now)
			}
			var heads []BriefHead
			for _, b := range tt.briefs {
				heads = append(heads, BriefHead{ID: b.id, Region: b.region, PublishedAt: mustTime(t, b.published), Removed: b.removed})
			}
			sub := &Subscriber{Regions: tt.regions}
			if tt.watermark != "" {
				sub.Watermark = mustTime(t, tt.watermark)
			}
			c := NewCandidates(testRegions, now)
			if err := c.Cover(time.Time{}, func(_, _ time.Time) ([]BriefHead, error) { return heads, nil }); err != nil {
				t.Fatal(err)
			}
			if got := sel.Select(nil, c, sub, tt.history, now); !slices.Equal(got, tt.want) {
				t.Errorf("Select = %v, want %v", got, tt.want)
			}
		})
	}
}

// On a day whose local length is 23 or 25 hours, a reader's window is
// still counted in instants: the look-back is 24 hours, not a local day,
// and a digest carries what was published since the last one's cut-off
// however long the local day between them was.
func TestSelectOnDSTDays(t *testing.T) {
	sel := Selection{FirstDigestLookback: 24 * time.Hour, LateBriefGrace: 0}
	brussels, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		t.Fatal(err)
	}
	seven := TimeOfDay{Hour: 7}
	tests := []struct {
		name      string
		day       [3]int // the reader's local day of the digest
		hours     float64
		watermark bool // the day before's digest was sent at its send time
		briefs    map[int64]string
		want      []int64
	}{
		{"springs forward, first digest", [3]int{2026, 3, 29}, 23, false,
			map[int64]string{
				1: "2026-03-28T05:30:00Z", // 06:30 the day before: 23.5 h back, inside 24
				2: "2026-03-28T04:59:00Z", // 24 h and a minute back
				3: "2026-03-29T04:59:00Z",
			}, []int64{3, 1}},
		{"springs forward, after a digest", [3]int{2026, 3, 29}, 23, true,
			map[int64]string{
				1: "2026-03-28T05:30:00Z", // before the day before's 07:00 CET (06:00Z)
				2: "2026-03-28T06:30:00Z",
				3: "2026-03-29T05:00:00Z", // exactly 07:00 CEST: the cut-off
			}, []int64{3, 2}},
		{"falls back, first digest", [3]int{2026, 10, 25}, 25, false,
			map[int64]string{
				1: "2026-10-24T05:30:00Z", // 07:30 CEST the day before, after its send time, but 24.5 h back
				2: "2026-10-24T06:01:00Z",
			}, []int64{2}},
		{"falls back, after a digest", [3]int{2026, 10, 25}, 25, true,
			map[int64]string{
				1: "2026-10-24T05:30:00Z", // after the day before's 07:00 CEST (05:00Z)
				2: "2026-10-24T04:59:00Z",
			}, []int64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y, m, d := tt.day[0], time.Month(tt.day[1]), tt.day[2]
			now := seven.On(y, m, d, brussels)
			day := seven.DayAt(now, brussels)
			if !day.Due() || day.Date != DateOf(now.In(brussels)) {
				t.Fatalf("DayAt(%v) = %+v: want due on that day", now, day)
			}
			prev := seven.On(y, m, d-1, brussels)
			if h := now.Sub(prev).Hours(); h != tt.hours {
				t.Fatalf("the local day has %v hours, want %v", h, tt.hours)
			}
			sub := &Subscriber{Regions: []string{"bxl"}}
			var history []Delivery
			if tt.watermark {
				sub.Watermark = prev
				history = []Delivery{{Status: DeliverySent, Cutoff: prev}}
			}
			var heads []BriefHead
			for id, at := range tt.briefs {
				heads = append(heads, BriefHead{ID: id, Region: "bxl", PublishedAt: mustTime(t, at)})
			}
			c := NewCandidates(testRegions, now)
			if err := c.Cover(sel.WindowStart(sub.Watermark, now), func(_, _ time.Time) ([]BriefHead, error) { return heads, nil }); err != nil {
				t.Fatal(err)
			}
			if got := sel.Select(nil, c, sub, history, now); !slices.Equal(got, tt.want) {
				t.Errorf("Select = %v, want %v", got, tt.want)
			}
		})
	}
}

// Candidates are loaded once for the first window and extended back, from
// where they start, only when a window starts earlier; a brief loaded by
// an extension takes its place in the region's order.
func TestCandidatesCover(t *testing.T) {
	now := mustTime(t, "2026-11-26T09:30:00Z")
	all := []BriefHead{
		{ID: 1, Region: "lagos", PublishedAt: mustTime(t, "2026-11-20T12:00:00Z")},
		{ID: 2, Region: "lagos", PublishedAt: mustTime(t, "2026-11-26T06:00:00Z")},
		{ID: 3, Region: "lagos", PublishedAt: mustTime(t, "2026-11-24T06:00:00Z")},
	}
	var spans [][2]time.Time
	load := func(from, to time.Time) ([]BriefHead, error) {
		spans = append(spans, [2]time.Time{from, to})
		var out []BriefHead
		for _, h := range all {
			if h.PublishedAt.After(from) && !h.PublishedAt.After(to) {
				out = append(out, h)
			}
		}
		return out, nil
	}
	c := NewCandidates(testRegions, now)
	day, week := now.Add(-24*time.Hour), now.Add(-7*24*time.Hour)
	for _, after := range []time.Time{day, now.Add(-time.Hour), week, day} {
		if err := c.Cover(after, load); err != nil {
			t.Fatal(err)
		}
	}
	want := [][2]time.Time{{day, now}, {week, day}}
	if !slices.Equal(spans, want) {
		t.Errorf("loaded %v, want %v: once, then one extension back", spans, want)
	}
	sel := Selection{FirstDigestLookback: 7 * 24 * time.Hour}
	if got := sel.Select(nil, c, &Subscriber{Regions: []string{"lagos"}}, nil, now); !slices.Equal(got, []int64{2, 3, 1}) {
		t.Errorf("Select over the extended candidates = %v, want [2 3 1]", got)
	}

	failed := errors.New("store down")
	c = NewCandidates(testRegions, now)
	if err := c.Cover(day, func(_, _ time.Time) ([]BriefHead, error) { return nil, failed }); !errors.Is(err, failed) {
		t.Errorf("Cover = %v, want the load's error", err)
	}
	if err := c.Cover(day, load); err != nil {
		t.Errorf("Cover after a failed load: %v", err)
	}
}

// Select appends to the slice it is given and allocates nothing else.
func TestSelectAllocations(t *testing.T) {
	now := mustTime(t, "2026-11-26T09:30:00Z")
	var heads []BriefHead
	for i := range 40 {
		heads = append(heads, BriefHead{ID: int64(i + 1), Region: testRegions[i%3].Code, PublishedAt: now.Add(-time.Duration(i) * time.Hour)})
	}
	c := NewCandidates(testRegions, now)
	sel := Selection{FirstDigestLookback: 24 * time.Hour, LateBriefGrace: 6 * time.Hour}
	sub := &Subscriber{Regions: []string{"dc", "lagos"}, Watermark: now.Add(-20 * time.Hour)}
	if err := c.Cover(sel.WindowStart(sub.Watermark, now), func(_, _ time.Time) ([]BriefHead, error) { return heads, nil }); err != nil {
		t.Fatal(err)
	}
	history := []Delivery{{Status: DeliverySent, Cutoff: sub.Watermark, BriefIDs: []int64{3, 6, 9}}}
	buf := make([]int64, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = sel.Select(buf[:0], c, sub, history, now) }); n != 0 {
		t.Errorf("Select allocated %v times per call, want 0", n)
	}
}
