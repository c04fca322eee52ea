// Package benchrun runs `digest bench`: it stores generated briefs and
// readers (package bench), sends the raw limit, runs one complete pass
// over the data, profiled as asked, sends the raw limit again, and returns
// the figures. It is a package of its own because the delivery package's
// benchmarks use bench's generators, and this one runs delivery's pass.
package benchrun

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	gomail "github.com/wneessen/go-mail"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/bench"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/subscribers"
)

// RawSample is how many readers' digests Run chooses the raw limit's
// message from.
const RawSample = 200

// Store is where Run puts the generated briefs and readers, and reads
// readers back from; *sqlite.DB implements it.
type Store interface {
	subscribers.ImportStore
	UpsertBrief(ctx context.Context, b *digest.Brief) (created bool, err error)
	ActivePage(ctx context.Context, afterID int64, limit int) ([]digest.Subscriber, error)
}

// Pass is the delivery pass measured; *delivery.Outbox implements it.
type Pass interface {
	Run(ctx context.Context, now time.Time, ro delivery.RunOptions) (delivery.Report, error)
	Preview(ctx context.Context, sub digest.Subscriber, at time.Time) (delivery.Preview, error)
}

// Options say what Run generates and where it sends.
type Options struct {
	Readers, Briefs, Days int
	Regions               digest.Regions // the regions the data use
	Seed                  uint64
	// Host and Port are the SMTP server the pass sends to, and the raw
	// limit over Connections connections (the pass's concurrency).
	Host        string
	Port        int
	Connections int
	// CPUProfile and MemProfile, when set, are files for a CPU profile of
	// the pass and the run's allocation profile after it.
	CPUProfile, MemProfile string
	// Progress, when set, is told what Run is doing, for people watching.
	Progress func(format string, args ...any)
}

// Result holds what Run measured.
type Result struct {
	Load time.Duration // generating and storing the data
	// Report is the pass's; Sent counts its sent messages.
	Report delivery.Report
	Sent   int
	// PassWall and PassCPU are the pass's wall and CPU time.
	PassWall, PassCPU time.Duration
	// RawBefore and RawAfter are the raw limit's wall times before and
	// after the pass; RawCPU is the mean CPU time of the two.
	RawBefore, RawAfter, RawCPU time.Duration
	// RawDigestKB is the size (HTML and text) of the raw limit's digest,
	// the one nearest SampleKB, the mean of Sampled readers' digests.
	RawDigestKB, SampleKB float64
	Sampled               int
	// PeakRSSMB is the peak resident set during the pass, or of the whole
	// process where it cannot be reset (PeakOfPass false).
	PeakRSSMB  float64
	PeakOfPass bool
}

// Raw is the mean of the two raw-limit runs.
func (r Result) Raw() time.Duration { return (r.RawBefore + r.RawAfter) / 2 }

// Run measures one complete pass: it stores o.Briefs generated briefs and
// o.Readers readers (all due at the pass's instant) in store, sends a raw
// limit, runs pass, and sends the raw limit again. The raw limit is one
// reader's digest of typical size, pre-built once and sent as many times
// as the pass sends over as many connections; it runs before and after
// the pass because a shared machine's speed drifts over the minutes a run
// takes, and the spread of the two says by how much.
func Run(ctx context.Context, store Store, pass Pass, o Options) (Result, error) {
	var res Result
	if o.MemProfile != "" {
		// Sample allocations more finely than the default, so that the
		// profile of one pass shows its smaller allocation sites.
		runtime.MemProfileRate = 64 << 10
	}
	say := o.Progress
	if say == nil {
		say = func(string, ...any) {}
	}
	at := time.Now().UTC()
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed))
	start := time.Now()
	if err := load(ctx, store, bench.Briefs(o.Briefs, o.Days, o.Regions, at, rng), o.Readers, o.Regions, rng); err != nil {
		return res, err
	}
	res.Load = time.Since(start)
	say("generated %d readers and %d briefs in %v; running the pass...\n", o.Readers, o.Briefs, res.Load.Round(time.Millisecond))

	pv, err := typicalDigest(ctx, store, pass, at, o.Readers, RawSample)
	if err != nil {
		return res, err
	}
	res.RawDigestKB, res.SampleKB, res.Sampled = pv.kb, pv.meanKB, pv.sampled
	build := func() (*gomail.Msg, error) { return mailer.Build(pv.Message) }
	rawRun := func() (time.Duration, time.Duration, error) {
		cpu0 := bench.CPUTime()
		wall, err := bench.RawLimit(ctx, o.Host, o.Port, o.Connections, o.Readers, build)
		return wall, bench.CPUTime() - cpu0, err
	}
	say("raw limit before the pass...\n")
	var rawCPUBefore, rawCPUAfter time.Duration
	if res.RawBefore, rawCPUBefore, err = rawRun(); err != nil {
		return res, err
	}

	if err := runPass(ctx, pass, at, o, &res); err != nil {
		return res, err
	}

	say("raw limit after the pass...\n")
	if res.RawAfter, rawCPUAfter, err = rawRun(); err != nil {
		return res, err
	}
	res.RawCPU = (rawCPUBefore + rawCPUAfter) / 2
	return res, nil
}

// runPass runs the pass, profiled as asked, and records its figures.
func runPass(ctx context.Context, pass Pass, at time.Time, o Options, res *Result) error {
	if o.CPUProfile != "" {
		pf, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
	}
	res.PeakOfPass = bench.ResetPeakRSS()
	cpu0 := bench.CPUTime()
	passStart := time.Now()
	rep, err := pass.Run(ctx, at, delivery.RunOptions{MaxItems: 1000}) // a sample, for the message size
	res.PassWall = time.Since(passStart)
	res.PassCPU = bench.CPUTime() - cpu0
	res.PeakRSSMB = bench.PeakRSSMB()
	if o.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if o.MemProfile != "" {
		if werr := writeHeapProfile(o.MemProfile); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	res.Report = rep
	res.Sent = rep.Count(delivery.OutcomeSent)
	if res.Sent == 0 {
		return fmt.Errorf("the pass sent nothing (%d failed, %d deferred)", rep.Count(delivery.OutcomeFailed), rep.Count(delivery.OutcomeDeferred))
	}
	return nil
}

// load stores the generated data, the readers as an import would.
func load(ctx context.Context, store Store, briefs []digest.Brief, readers int, regions digest.Regions, rng *rand.Rand) error {
	for i := range briefs {
		if _, err := store.UpsertBrief(ctx, &briefs[i]); err != nil {
			return err
		}
	}
	var im subscribers.Import
	for i := 0; i < readers; i += subscribers.ImportBatch {
		for _, s := range bench.Readers(i, min(subscribers.ImportBatch, readers-i), regions, rng) {
			im.Add(subscribers.Row{Subscriber: s})
		}
	}
	_, err := im.Write(ctx, store, nil)
	return err
}

// sample is the raw limit's digest: a preview with its size, and the mean
// size of the digests it was chosen from.
type sample struct {
	delivery.Preview
	kb, meanKB float64
	sampled    int
}

// typicalDigest previews the digests of n readers spread evenly over the
// ids of the generated readers (not the first n, so that the sample does
// not depend on how the list begins) and returns the one whose size, HTML
// and text, is nearest their mean.
func typicalDigest(ctx context.Context, store Store, pass Pass, at time.Time, readers, n int) (sample, error) {
	n = min(n, readers)
	var pvs []delivery.Preview
	total := 0.0
	for i := range n {
		after := int64(i) * int64(readers) / int64(n)
		page, err := store.ActivePage(ctx, after, 1)
		if err != nil {
			return sample{}, fmt.Errorf("bench: read a reader to choose the raw limit's message from: %w", err)
		}
		if len(page) == 0 {
			continue
		}
		r := page[0]
		pv, err := pass.Preview(ctx, r, at)
		if err != nil {
			return sample{}, fmt.Errorf("bench: preview subscriber %d's digest: %w", r.ID, err)
		}
		if len(pv.Briefs) == 0 {
			continue
		}
		pvs = append(pvs, pv)
		total += digestKB(pv)
	}
	if len(pvs) == 0 {
		return sample{}, errors.New("bench: no active reader has a digest to build the raw limit's message from")
	}
	mean := total / float64(len(pvs))
	best := pvs[0]
	for _, pv := range pvs[1:] {
		if math.Abs(digestKB(pv)-mean) < math.Abs(digestKB(best)-mean) {
			best = pv
		}
	}
	return sample{Preview: best, kb: digestKB(best), meanKB: mean, sampled: len(pvs)}, nil
}

func digestKB(pv delivery.Preview) float64 {
	return float64(len(pv.Output.HTML)+len(pv.Output.Text)) / 1024
}

// writeHeapProfile writes the allocations sampled so far to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write allocation profile: %w", err)
	}
	return f.Close()
}
