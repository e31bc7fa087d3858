package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"etcdbrctl/backup"
)

type listCmd struct {
	storeFlags `embed:""`

	JSON bool `name:"json" help:"Print a JSON array, one object per backup (fields in the README)."`
}

// listedBackup is one line of `list --json`; its fields are a stable interface.
type listedBackup struct {
	Kind         backup.Kind `json:"kind"`
	FromRevision int64       `json:"fromRevision"`
	Revision     int64       `json:"revision"`
	Time         time.Time   `json:"time"`
	Size         int64       `json:"size"`
	Encrypted    bool        `json:"encrypted"`
	Compression  string      `json:"compression"`
	Key          string      `json:"key"`
	Data         string      `json:"data"`
	Error        string      `json:"error,omitempty"`
}

func (c *listCmd) Run(ctx context.Context, _ *slog.Logger, stdout io.Writer) error {
	store, _, err := c.storeFlags.open()
	if err != nil {
		return err
	}
	cat, err := backup.ReadCatalog(ctx, store)
	if err != nil {
		return err
	}
	// An unreadable manifest is listed from its name, with the reason, and
	// makes the exit code non-zero once everything else is printed.
	unreadable := backup.LoadManifests(ctx, store, cat.Backups)
	out := make([]listedBackup, 0, len(cat.Backups))
	for _, e := range cat.Backups {
		b := listedBackup{Kind: e.Kind, FromRevision: e.FromRevision, Revision: e.Revision, Time: e.Time, Key: e.Key}
		if m := e.Manifest; m != nil {
			b.Size, b.Encrypted, b.Compression, b.Data = m.Size, m.Encryption != "", m.Compression, m.Data
		} else {
			b.Error = "manifest unreadable"
		}
		out = append(out, b)
	}
	if unreadable != nil {
		unreadable = fmt.Errorf("some backups could not be read: %w", unreadable)
	}
	if c.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return errors.Join(enc.Encode(out), unreadable)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tREVISIONS\tTIME (UTC)\tSIZE\tENCRYPTED")
	for _, b := range out {
		size, encrypted := humanBytes(b.Size), fmt.Sprint(b.Encrypted)
		if b.Error != "" {
			size, encrypted = "?", b.Error
		}
		fmt.Fprintf(tw, "%s\t%d-%d\t%s\t%s\t%s\n", b.Kind, b.FromRevision, b.Revision,
			b.Time.UTC().Format(time.DateTime), size, encrypted)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(out) == 0 {
		fmt.Fprintln(stdout, "(no backups)")
	}
	return unreadable
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
