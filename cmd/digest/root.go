package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Exit codes, documented in the README.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks a mistake in how the command was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// errQuietFailure is returned when the command already reported what went
// wrong (a pass with failed deliveries) and only the exit code is left.
var errQuietFailure = errors.New("failed")

// app carries what every command needs: the outside world, passed in so
// tests can run commands in-process.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)
	configPath     string
	logLevel       string
	quiet          bool // --quiet: no confirmations, no progress; errors and data still print
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errQuietFailure):
		return exitFailure
	}
	fmt.Fprintf(stderr, "digest: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "digest",
		Short: "Deliver one daily digest of regional briefs to each subscriber, in their local morning",
		Long: `digest stores the newsroom's briefs and its subscribers in SQLite and, once a
day in each reader's local morning, emails them the briefs from their regions
that they have not had yet.

Start with 'digest demo': it runs a whole pass against sample briefs and an
SMTP server inside the process, and writes the emails it received to disk.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "config file (default ./digest.yaml if present)")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().BoolVarP(&a.quiet, "quiet", "q", false, "print no confirmations or progress (errors and requested data still print)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		a.demoCmd(),
		a.sendCmd(),
		a.previewCmd(),
		a.lintCmd(),
		a.templatesCmd(),
		a.serveCmd(),
		a.briefsCmd(),
		a.subscribersCmd(),
		a.deliveriesCmd(),
		a.bouncesCmd(),
		a.statusCmd(),
		a.benchCmd(),
		a.configCmd(),
	)
	markGroups(root)
	return root
}

// markGroups makes every command that only groups others (digest,
// digest briefs, ...) answer an unknown subcommand with a usage error
// (exit 2) rather than cobra's plain error (exit 1) or its help (exit 0),
// and show its help when called bare.
func markGroups(cmd *cobra.Command) {
	if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q; see '%s --help'", args[0], cmd.CommandPath(), cmd.CommandPath())}
			}
			return cmd.Help()
		}
	}
	for _, sub := range cmd.Commands() {
		markGroups(sub)
	}
}

// version reports the module version and VCS revision the binary was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			v += " (" + s.Value + ")"
		}
	}
	return v + " " + info.GoVersion
}
