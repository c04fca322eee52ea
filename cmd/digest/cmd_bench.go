package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/newsroom/digest/internal/bench/benchrun"
	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/spf13/cobra"
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
CPU and memory figures include the server's.`, benchrun.RawSample),
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
	fl.StringVar(&f.memProfile, "memprofile", "", "write the run's allocation profile to this file after the pass (data generation and the first raw-limit run included; go tool pprof -sample_index=alloc_space -focus 'Outbox..Run')")
	return cmd
}

// bench wires a pass over a fresh database and an SMTP server, and has
// benchrun.Run measure it.
func (a *app) bench(ctx context.Context, f benchFlags) error {
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

	cfg := sampleConfig(filepath.Join(dir, "bench.db"), host, port)
	cfg.Regions = cfg.Regions[:f.regions]
	cfg.Delivery.Concurrency = f.concurrency
	cfg.ApplyDerived()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("bench config: %w", err)
	}
	logger, err := a.logger()
	if err != nil {
		return err
	}
	pl, err := newPipeline(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer pl.Close()
	res, err := benchrun.Run(ctx, pl.db, pl.outbox, benchrun.Options{
		Readers: f.subscribers, Briefs: f.briefs, Days: f.days, Regions: cfg.Regions, Seed: f.seed,
		Host: host, Port: port, Connections: f.concurrency,
		CPUProfile: f.cpuProfile, MemProfile: f.memProfile, Progress: a.say,
	})
	if err != nil {
		return err
	}
	return writeBenchReport(a.stdout, f, res)
}

// writeBenchReport prints what benchrun.Run measured.
func writeBenchReport(w io.Writer, f benchFlags, res benchrun.Result) error {
	rep, sent := res.Report, res.Sent
	passRate := float64(sent) / res.PassWall.Seconds()
	rawRate := float64(f.subscribers) / res.Raw().Seconds()
	fmt.Fprintf(w, "\ndigest bench: %d readers, %d briefs over %d days, %d regions, %d workers, SMTP %s\n", f.subscribers, f.briefs, f.days, f.regions, f.concurrency, smtpName(f.smtp))
	fmt.Fprintf(w, "  pass        %d sent in %v: %.0f messages/s\n", sent, res.PassWall.Round(time.Millisecond), passRate)
	fmt.Fprintf(w, "  raw limit   %d pre-built sends in %v: %.0f messages/s (before the pass %.0f/s, after %.0f/s)\n",
		f.subscribers, res.Raw().Round(time.Millisecond), rawRate,
		float64(f.subscribers)/res.RawBefore.Seconds(), float64(f.subscribers)/res.RawAfter.Seconds())
	fmt.Fprintf(w, "  ratio       %.0f%% of the raw limit\n", 100*passRate/rawRate)
	fmt.Fprintf(w, "  sizes       raw limit's digest %.1f KB of HTML and text (the mean of %d readers' %.1f KB); the pass's %.1f KB on average\n",
		res.RawDigestKB, res.Sampled, res.SampleKB, float64(rep.SentBytes)/float64(sent)/1024)
	perMsg := func(d time.Duration) float64 { return d.Seconds() / float64(sent) * 1000 }
	rawPerMsg := res.RawCPU.Seconds() / float64(f.subscribers) * 1000
	fmt.Fprintf(w, "  cpu         %.2f s per 1,000 messages (%.3f ms each); raw limit %.3f ms each\n", perMsg(res.PassCPU), perMsg(res.PassCPU), rawPerMsg)
	if res.PeakOfPass {
		fmt.Fprintf(w, "  peak rss    %.0f MB during the pass\n", res.PeakRSSMB)
	} else {
		fmt.Fprintf(w, "  peak rss    %.0f MB (the whole process, data generation included)\n", res.PeakRSSMB)
	}
	fmt.Fprintf(w, "  phases      load %v, prepare %v, plan %v, store plan %v, render+send+record %v, watermarks %v\n",
		res.Load.Round(time.Millisecond), rep.Timings.Prepare.Round(time.Millisecond), rep.Timings.Plan.Round(time.Millisecond),
		rep.Timings.Store.Round(time.Millisecond), rep.Timings.Work.Round(time.Millisecond), rep.Timings.Finish.Round(time.Millisecond))
	if tm := rep.Timings; tm.LedgerRounds > 0 {
		fmt.Fprintf(w, "  ledger      %d transactions recorded %d outcomes (%.1f each)\n",
			tm.LedgerRounds, tm.LedgerRecorded, float64(tm.LedgerRecorded)/float64(tm.LedgerRounds))
	}
	_, err := fmt.Fprintf(w, "  html        %.1f KB per digest on average\n", avgHTMLKB(rep))
	return err
}

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
