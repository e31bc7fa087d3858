// Command etcdbrctl keeps an etcd member's data safe for its whole life: it
// checks and repairs the data dir, runs etcd, backs it up and restores it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"etcdbrctl/supervisor"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

type cli struct {
	LogLevel  string `help:"Log level: debug, info, warn or error." enum:"debug,info,warn,error" default:"info"`
	LogFormat string `help:"Log format: text or json." enum:"text,json" default:"text"`

	Run      runCmd      `cmd:"" help:"Run etcd embedded, with data dir repair, scheduled backups and the HTTP API."`
	Snapshot snapshotCmd `cmd:"" help:"Back up an etcd that runs elsewhere: full snapshots on a schedule, with garbage collection."`
	Server   serverCmd   `cmd:"" help:"snapshot plus the HTTP API, as a sidecar of an etcd it does not start (the API initializes the data dir)."`
	Restore  restoreCmd  `cmd:"" help:"Restore the newest backup into a data dir."`
	List     listCmd     `cmd:"" help:"List the backups in a store."`
	Version  versionCmd  `cmd:"" help:"Print the versions of etcdbrctl, the embedded etcd and Go."`

	Initialize initializeCmd `cmd:"" help:"Check the data dir and restore it from the newest backup if it is missing, damaged or stale."`

	CheckDataDir checkDataDirCmd `cmd:"" hidden:"" help:"Check a data dir and print the report as JSON (used by run)."`
}

// usageError marks a problem with what the user asked for: exit code 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("etcdbrctl"),
		kong.Description("Keeps an etcd member's data safe: repairs the data dir, runs etcd, backs it up, restores it.\n"+
			"Every flag can also be set through an ETCDBR_* environment variable (--data-dir: ETCDBR_DATA_DIR)."),
		kong.DefaultEnvars("ETCDBR"),
		kong.Writers(stdout, stderr),
		kong.UsageOnError(),
	)
	if err != nil {
		fmt.Fprintf(stderr, "etcdbrctl: %v\n", err)
		return 1
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "etcdbrctl: %v\n", err)
		return 2
	}
	log := newLogger(stderr, c.LogLevel, c.LogFormat)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.BindTo(stdout, (*io.Writer)(nil))
	kctx.Bind(log)
	kctx.Bind(logFormat(c.LogFormat))
	err = kctx.Run()
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "etcdbrctl: %v\n", err)
	var coded exitError
	switch {
	case errors.As(err, &coded):
		return coded.code
	case errors.Is(err, supervisor.ErrWrongVolume):
		return exitWrongVolume
	case errors.As(err, new(usageError)):
		return 2
	}
	// etcd's own exit code, when etcdbrctl ends because etcd did.
	var exit *supervisor.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 {
		return exit.ExitCode()
	}
	return 1
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level)) // kong checked the enum
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
