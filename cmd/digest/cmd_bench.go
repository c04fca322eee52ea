package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/bench"
	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/subscribers"
	"github.com/spf13/cobra"
	gomail "github.com/wneessen/go-mail"
)

type benchFlags struct {
	subscribers, briefs, days, regions, concurrency int
	smtp, dir, cpuProfile, memProfile               string
	seed                                            uint64
}

func (a *app) benchCmd() *cobra.Command {
	f := benchFlags{subscribers: 100_000, briefs: 120, days: 5, regions: 6, concurrency: 4, seed: 1}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure one complete pass over generated readers, against the raw SMTP limit",
		Long: fmt.Sprintf(`Create a fresh database, generate briefs and readers (region mixes, zones,
non-ASCII names), and run one complete pass — plan, select, render, send,
record — against an SMTP server: by default one inside this process that
accepts and discards, or --smtp HOST:PORT (e.g. Postfix's smtp-sink).
Before and after the pass, send a digest of typical size (of %d readers'
digests, spread over the list, the one nearest their mean size), pre-built
once, the same number of times over the same number of connections with
go-mail's own client: the raw limit, measured twice because a shared
machine's speed drifts.

It prints messages per second for the pass and the mean raw limit and their
ratio, the size of the raw limit's digest and the pass's mean, CPU per
message for both, the pass's peak RSS, the wall time of each phase and the
outcomes recorded per ledger transaction. With the in-process server the
CPU and memory figures include the server's.`, rawSample),
		Example: `  digest bench
  digest bench --subscribers 1000000 --concurrency 8 --smtp 127.0.0.1:2525`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.bench(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.subscribers, "subscribers", f.subscribers, "readers to generate (all due)")
	fl.IntVar(&f.briefs, "briefs", f.briefs, "briefs to generate, published over --days days (a digest carries the last 24 hours)")
	fl.IntVar(&f.days, "days", f.days, "days over which the briefs were published")
	fl.IntVar(&f.regions, "regions", f.regions, "how many of the default regions to use (1-6)")
	fl.IntVar(&f.concurrency, "concurrency", f.concurrency, "workers (SMTP connections)")
	fl.StringVar(&f.smtp, "smtp", "", "HOST:PORT of an SMTP server to send to (default: one inside the process that discards)")
	fl.StringVar(&f.dir, "dir", "", "directory for the database (default: a temporary one, removed afterwards)")
	fl.Uint64Var(&f.seed, "seed", f.seed, "seed of the generated data")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the pass to this file (go tool pprof)")
	fl.StringVar(&f.memProfile, "memprofile", "", "write the run's allocation profile to this file after the pass (data generation and the first raw-limit run included; go tool pprof -sample_index=alloc_space -focus 'Pass..Run')")
	return cmd
}

func (a *app) bench(ctx context.Context, f benchFlags) error {
	if f.memProfile != "" {
		// Set once, before the run allocates: one sample per 64 KB, finer
		// than the default without slowing the run down much.
		runtime.MemProfileRate = 64 << 10
	}
	defaults := config.Default()
	if f.subscribers < 1 || f.briefs < 1 || f.days < 1 || f.regions < 1 || f.regions > len(defaults.Regions) || f.concurrency < 1 {
		return usageError{fmt.Errorf("--subscribers, --briefs, --days and --concurrency must be positive, --regions 1-%d", len(defaults.Regions))}
	}
	dir := f.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "digest-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	host, port := "", 0
	if f.smtp == "" {
		sink, err := smtpsink.Start(ctx, smtpsink.Options{Discard: true})
		if err != nil {
			return err
		}
		defer sink.Close()
		host, port = sink.Host(), sink.Port()
	} else {
		h, p, err := net.SplitHostPort(f.smtp)
		if err != nil {
			return usageError{fmt.Errorf("--smtp: %w", err)}
		}
		if host, port = h, atoiOr(p, 0); port == 0 {
			return usageError{fmt.Errorf("--smtp: %q has no port", f.smtp)}
		}
	}

	cfg := defaults
	cfg.Database = filepath.Join(dir, "bench.db")
	cfg.From = "The Regional Brief <digest@news.example.org>"
	cfg.BaseURL = "https://news.example.org/digest"
	cfg.PostalAddress = "The Regional Brief, 1 Example Square, Example City"
	cfg.Secret = randomSecret()
	cfg.Regions = cfg.Regions[:f.regions]
	cfg.SMTP = config.SMTP{Host: host, Port: port, TLS: config.TLSNone, Timeout: 30 * time.Second}
	cfg.Delivery.Concurrency = f.concurrency
	cfg.ApplyDerived()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("bench config: %w", err)
	}
	logger, err := a.logger()
	if err != nil {
		return err
	}

	at := time.Now().UTC()
	rng := rand.New(rand.NewPCG(f.seed, f.seed^0x5eed))
	start := time.Now()
	pl, err := newPipeline(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer pl.Close()
	if err := loadBench(ctx, pl.db, bench.Briefs(f.briefs, f.days, cfg.Regions, at, rng), f.subscribers, cfg.Regions, rng); err != nil {
		return err
	}
	load := time.Since(start)
	a.say("generated %d readers and %d briefs in %v; running the pass...\n", f.subscribers, f.briefs, load.Round(time.Millisecond))

	// The raw limit: one reader's digest, pre-built once and sent as many
	// times as the pass sends over as many connections. It runs before and
	// after the pass, and the pass is compared with their mean: a shared
	// machine's speed drifts over the minutes a run takes, and the spread
	// of the two says by how much. The digest is one of typical size (see
	// typicalDigest). The first reader's, used before, was no such thing:
	// at 100,000 readers it put 20.6 KB on the wire per message against
	// the pass's 51.6 KB, so the limit measured smaller messages than the
	// pass sent.
	pv, sampleKB, sampled, err := typicalDigest(ctx, pl, at, f.subscribers, rawSample)
	if err != nil {
		return err
	}
	build := func() (*gomail.Msg, error) { return mailer.Build(pv.Message) }
	rawRun := func() (time.Duration, time.Duration, error) {
		cpu0 := bench.CPUTime()
		wall, err := bench.RawLimit(ctx, host, port, f.concurrency, f.subscribers, build)
		return wall, bench.CPUTime() - cpu0, err
	}
	a.say("raw limit before the pass...\n")
	rawBefore, rawCPUBefore, err := rawRun()
	if err != nil {
		return err
	}

	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
	}
	peakOfPass := bench.ResetPeakRSS()
	cpu0 := bench.CPUTime()
	passStart := time.Now()
	rep, err := pl.pass.Run(ctx, at, delivery.RunOptions{MaxItems: 1000}) // a sample, for the message size
	passWall := time.Since(passStart)
	cpu := bench.CPUTime() - cpu0
	peak := bench.PeakRSSMB()
	if f.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if f.memProfile != "" {
		if werr := writeHeapProfile(f.memProfile); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	sent := rep.Count(delivery.OutcomeSent)
	if sent == 0 {
		return fmt.Errorf("the pass sent nothing (%d failed, %d deferred)", rep.Count(delivery.OutcomeFailed), rep.Count(delivery.OutcomeDeferred))
	}

	a.say("raw limit after the pass...\n")
	rawAfter, rawCPUAfter, err := rawRun()
	if err != nil {
		return err
	}
	raw, rawCPU := (rawBefore+rawAfter)/2, (rawCPUBefore+rawCPUAfter)/2

	passRate := float64(sent) / passWall.Seconds()
	rawRate := float64(f.subscribers) / raw.Seconds()
	w := a.stdout
	fmt.Fprintf(w, "\ndigest bench: %d readers, %d briefs over %d days, %d regions, %d workers, SMTP %s\n", f.subscribers, f.briefs, f.days, f.regions, f.concurrency, smtpName(f.smtp))
	fmt.Fprintf(w, "  pass        %d sent in %v: %.0f messages/s\n", sent, passWall.Round(time.Millisecond), passRate)
	fmt.Fprintf(w, "  raw limit   %d pre-built sends in %v: %.0f messages/s (before the pass %.0f/s, after %.0f/s)\n",
		f.subscribers, raw.Round(time.Millisecond), rawRate,
		float64(f.subscribers)/rawBefore.Seconds(), float64(f.subscribers)/rawAfter.Seconds())
	fmt.Fprintf(w, "  ratio       %.0f%% of the raw limit\n", 100*passRate/rawRate)
	fmt.Fprintf(w, "  sizes       raw limit's digest %.1f KB of HTML and text (the mean of %d readers' %.1f KB); the pass's %.1f KB on average\n",
		digestKB(pv.Output.HTML, pv.Output.Text), sampled, sampleKB, float64(rep.SentBytes)/float64(sent)/1024)
	perMsg := func(d time.Duration) float64 { return d.Seconds() / float64(sent) * 1000 }
	rawPerMsg := rawCPU.Seconds() / float64(f.subscribers) * 1000
	fmt.Fprintf(w, "  cpu         %.2f s per 1,000 messages (%.3f ms each); raw limit %.3f ms each\n", perMsg(cpu), perMsg(cpu), rawPerMsg)
	if peakOfPass {
		fmt.Fprintf(w, "  peak rss    %.0f MB during the pass\n", peak)
	} else {
		fmt.Fprintf(w, "  peak rss    %.0f MB (the whole process, data generation included)\n", peak)
	}
	fmt.Fprintf(w, "  phases      load %v, prepare %v, plan %v, store plan %v, render+send+record %v, watermarks %v\n",
		load.Round(time.Millisecond), rep.Timings.Prepare.Round(time.Millisecond), rep.Timings.Plan.Round(time.Millisecond),
		rep.Timings.Store.Round(time.Millisecond), rep.Timings.Work.Round(time.Millisecond), rep.Timings.Finish.Round(time.Millisecond))
	if tm := rep.Timings; tm.LedgerRounds > 0 {
		fmt.Fprintf(w, "  ledger      %d transactions recorded %d outcomes (%.1f each)\n",
			tm.LedgerRounds, tm.LedgerRecorded, float64(tm.LedgerRecorded)/float64(tm.LedgerRounds))
	}
	fmt.Fprintf(w, "  html        %.1f KB per digest on average\n", avgHTMLKB(rep))
	return nil
}

// loadBench stores the generated data the fast way, as an import would.
func loadBench(ctx context.Context, db *sqlite.DB, briefs []digest.Brief, readers int, regions digest.Regions, rng *rand.Rand) error {
	for i := range briefs {
		if _, err := db.UpsertBrief(ctx, &briefs[i]); err != nil {
			return err
		}
	}
	var im subscribers.Import
	for i := 0; i < readers; i += subscribers.ImportBatch {
		for _, s := range bench.Readers(i, min(subscribers.ImportBatch, readers-i), regions, rng) {
			im.Add(subscribers.Row{Subscriber: s})
		}
	}
	_, err := im.Write(ctx, db, nil)
	return err
}

// rawSample is how many readers typicalDigest chooses the raw limit's
// message from.
const rawSample = 200

// typicalDigest previews the digests of n readers spread evenly over the
// ids of the generated readers (not the first n, so that the sample does
// not depend on how the list begins) and returns the one whose size, HTML
// and text, is nearest their mean, with the mean in KB and how many
// digests it is the mean of.
func typicalDigest(ctx context.Context, pl *pipeline, at time.Time, readers, n int) (delivery.Preview, float64, int, error) {
	n = min(n, readers)
	var pvs []delivery.Preview
	total := 0.0
	for i := range n {
		after := int64(i) * int64(readers) / int64(n)
		page, err := pl.db.ActivePage(ctx, after, 1)
		if err != nil {
			return delivery.Preview{}, 0, 0, fmt.Errorf("bench: read a reader to choose the raw limit's message from: %w", err)
		}
		if len(page) == 0 {
			continue
		}
		r := page[0]
		pv, err := pl.pass.Preview(ctx, r, at)
		if err != nil {
			return delivery.Preview{}, 0, 0, fmt.Errorf("bench: preview subscriber %d's digest: %w", r.ID, err)
		}
		if len(pv.Briefs) == 0 {
			continue
		}
		pvs = append(pvs, pv)
		total += digestKB(pv.Output.HTML, pv.Output.Text)
	}
	if len(pvs) == 0 {
		return delivery.Preview{}, 0, 0, errors.New("bench: no active reader has a digest to build the raw limit's message from")
	}
	mean := total / float64(len(pvs))
	best := pvs[0]
	for _, pv := range pvs[1:] {
		if math.Abs(digestKB(pv.Output.HTML, pv.Output.Text)-mean) < math.Abs(digestKB(best.Output.HTML, best.Output.Text)-mean) {
			best = pv
		}
	}
	return best, mean, len(pvs), nil
}

func digestKB(html, text string) float64 { return float64(len(html)+len(text)) / 1024 }

func avgHTMLKB(rep delivery.Report) float64 {
	total, n := 0, 0
	for _, it := range rep.Items {
		if it.Outcome == delivery.OutcomeSent {
			total += it.HTMLBytes
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(total) / float64(n) / 1024
}

func smtpName(s string) string {
	if s == "" {
		return "in-process (discarding)"
	}
	return s
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
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
