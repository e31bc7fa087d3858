package main

import (
	"context"
	"io"
	"os"
	"os/exec"

	"etcdbrctl/datadir"
)

// checkDataDirCmd runs one data dir check and prints its report as JSON. run
// starts it as a child for the full check (see datadir.ValidateIn).
type checkDataDirCmd struct {
	Mode string `help:"sanity or full." enum:"sanity,full" default:"full"`
	Dir  string `arg:"" help:"The data dir." type:"path"`
}

func (c *checkDataDirCmd) Run(ctx context.Context, stdout io.Writer) error {
	mode, err := datadir.ParseMode(c.Mode)
	if err != nil {
		return usageError{err}
	}
	r, err := datadir.Validate(ctx, c.Dir, mode)
	if err != nil {
		return err
	}
	return datadir.WriteReport(stdout, r)
}

// validateInChild runs the full check in a child etcdbrctl, so a crash inside
// bbolt marks the dir invalid instead of ending this process.
func validateInChild(ctx context.Context, dir string, mode datadir.Mode) (datadir.Report, error) {
	if mode != datadir.Full {
		return datadir.Validate(ctx, dir, mode)
	}
	self, err := os.Executable()
	if err != nil {
		return datadir.Report{}, err
	}
	cmd := exec.CommandContext(ctx, self, "check-data-dir", "--mode", mode.String(), dir)
	cmd.Env = os.Environ()
	return datadir.ValidateIn(ctx, cmd, dir, mode)
}
