package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"etcdbrctl/datadir"
)

// checkDataDirCmd runs one data dir check and prints its report as JSON. run
// and initialize start it as a child for the full check (see
// datadir.ValidateIn).
type checkDataDirCmd struct {
	Mode                 string `help:"sanity or full." enum:"sanity,full" default:"full"`
	NewestBackupRevision int64  `help:"Report the dir as behind when it stays below this revision after its WAL is replayed; 0 skips."`
	NewestBackupTime     string `help:"When that backup was taken (RFC 3339); a dir restored after it is not compared with it."`
	Name                 string `help:"The member the dir must belong to."`
	InitialCluster       string `help:"The dir must belong to the cluster this makes (name=peerURL,...)."`
	InitialClusterToken  string `help:"Token of the initial cluster."`
	Dir                  string `arg:"" help:"The data dir." type:"path"`
}

func (c *checkDataDirCmd) Run(ctx context.Context, stdout io.Writer) error {
	mode, err := datadir.ParseMode(c.Mode)
	if err != nil {
		return usageError{err}
	}
	var newestTime time.Time
	if c.NewestBackupTime != "" {
		if newestTime, err = time.Parse(time.RFC3339Nano, c.NewestBackupTime); err != nil {
			return usagef("--newest-backup-time: %v", err)
		}
	}
	r, err := datadir.Check(ctx, c.Dir, datadir.Options{
		Mode:                 mode,
		NewestBackupRevision: c.NewestBackupRevision,
		NewestBackupTime:     newestTime,
		Expect: datadir.Expectation{
			Name: c.Name, InitialCluster: c.InitialCluster, InitialClusterToken: c.InitialClusterToken,
		},
	})
	if err != nil {
		return err
	}
	return datadir.WriteReport(stdout, r)
}

// validateInChild runs the full check in a child etcdbrctl, so a crash inside
// bbolt marks the dir invalid instead of ending this process.
func validateInChild(ctx context.Context, dir string, opts datadir.Options) (datadir.Report, error) {
	if opts.Mode != datadir.Full {
		return datadir.Check(ctx, dir, opts)
	}
	self, err := os.Executable()
	if err != nil {
		return datadir.Report{}, err
	}
	var newestTime string
	if !opts.NewestBackupTime.IsZero() {
		newestTime = opts.NewestBackupTime.Format(time.RFC3339Nano)
	}
	cmd := exec.CommandContext(ctx, self, "check-data-dir", "--mode", opts.Mode.String(),
		"--newest-backup-revision", fmt.Sprint(opts.NewestBackupRevision),
		"--newest-backup-time", newestTime,
		"--name", opts.Expect.Name,
		"--initial-cluster", opts.Expect.InitialCluster,
		"--initial-cluster-token", opts.Expect.InitialClusterToken,
		"--", dir)
	cmd.Env = os.Environ()
	return datadir.ValidateIn(ctx, cmd, dir, opts.Mode)
}
