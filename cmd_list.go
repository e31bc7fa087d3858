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

	JSON bool `name:"json" help:"Print a JSON array, one object per backup, oldest first, with the chain each belongs to (fields in the README)."`
}

// listedBackup is one element of `list --json`; its fields are a stable
// interface.
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
	// Chain numbers the chains from 1, oldest first; 0 for deltas without
	// a full snapshot before them.
	Chain int `json:"chain"`
	// Gap, on a delta, is the break before it: revisions missing (or, when
	// from > to, a start inside what came before).
	Gap *listedGap `json:"gap,omitempty"`
	// Restores, on a full snapshot, is the range its chain can restore.
	Restores *listedRange `json:"restores,omitempty"`
}

type listedGap struct {
	MissingFrom int64 `json:"missingFrom"`
	MissingTo   int64 `json:"missingTo"`
}

type listedRange struct {
	FromRevision int64     `json:"fromRevision"`
	FromTime     time.Time `json:"fromTime"`
	ToRevision   int64     `json:"toRevision"`
	ToTime       time.Time `json:"toTime"`
}

func (c *listCmd) Run(ctx context.Context, _ *slog.Logger, stdout io.Writer) error {
	store, _, err := c.storeFlags.open(ctx)
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
	if unreadable != nil {
		unreadable = fmt.Errorf("some backups could not be read: %w", unreadable)
	}
	chains := cat.Chains()
	if c.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return errors.Join(enc.Encode(listChains(chains)), unreadable)
	}
	if err := printChains(stdout, chains); err != nil {
		return err
	}
	return unreadable
}

// listChains flattens the chains into the JSON elements, oldest first.
func listChains(chains []backup.Chain) []listedBackup {
	out := []listedBackup{}
	number := 0
	for _, ch := range chains {
		n := 0
		if ch.HasFull() {
			number++
			n = number
			b := listed(ch.Full, n)
			if from, to, ok := ch.Restorable(); ok {
				b.Restores = &listedRange{FromRevision: from.Revision, FromTime: from.Time, ToRevision: to.Revision, ToTime: to.Time}
			}
			out = append(out, b)
		}
		gaps := map[string]backup.Gap{}
		for _, g := range ch.Gaps {
			gaps[g.Next.Key] = g
		}
		for _, d := range ch.Deltas {
			b := listed(d, n)
			if g, ok := gaps[d.Key]; ok {
				from, to := g.Missing()
				b.Gap = &listedGap{MissingFrom: from, MissingTo: to}
			}
			out = append(out, b)
		}
	}
	return out
}

func listed(e backup.Entry, chain int) listedBackup {
	b := listedBackup{Kind: e.Kind, FromRevision: e.FromRevision, Revision: e.Revision, Time: e.Time, Key: e.Key, Chain: chain}
	if m := e.Manifest; m != nil {
		b.Size, b.Encrypted, b.Compression, b.Data = m.Size, m.Encryption != "", m.Compression, m.Data
	} else {
		b.Error = "manifest unreadable"
	}
	return b
}

// printChains writes a table of the backups, chain by chain with breaks
// called out where they are, then what each chain can restore.
func printChains(w io.Writer, chains []backup.Chain) error {
	if len(chains) == 0 {
		_, err := fmt.Fprintln(w, "(no backups)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHAIN\tKIND\tREVISIONS\tTIME (UTC)\tSIZE\tENCRYPTED")
	var summary []string
	number := 0
	for _, ch := range chains {
		label := "-"
		if from, to, ok := ch.Restorable(); ok {
			number++
			label = fmt.Sprint(number)
			line := fmt.Sprintf("chain %d restores revisions %d (%s) to %d (%s)", number,
				from.Revision, from.Time.UTC().Format(time.DateTime), to.Revision, to.Time.UTC().Format(time.DateTime))
			if len(ch.Gaps) > 0 {
				line += fmt.Sprintf("; the deltas after the gap at revision %d cannot be applied", ch.Gaps[0].After.Revision)
			}
			summary = append(summary, line)
			printEntry(tw, label, ch.Full)
		} else {
			summary = append(summary, "deltas marked - have no full snapshot before them: they restore nothing")
		}
		gaps := map[string]backup.Gap{}
		for _, g := range ch.Gaps {
			gaps[g.Next.Key] = g
		}
		for _, d := range ch.Deltas {
			if g, ok := gaps[d.Key]; ok {
				if from, to := g.Missing(); from <= to {
					fmt.Fprintf(tw, "%s\tGAP\t%d-%d\tmissing\t\t\n", label, from, to)
				} else {
					fmt.Fprintf(tw, "%s\tGAP\t%d-%d\toverlap\t\t\n", label, g.Next.FromRevision, g.After.Revision)
				}
			}
			printEntry(tw, label, d)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range summary {
		fmt.Fprintln(w, line)
	}
	return nil
}

func printEntry(tw io.Writer, chain string, e backup.Entry) {
	size, encrypted := "?", "manifest unreadable"
	if m := e.Manifest; m != nil {
		size, encrypted = humanBytes(m.Size), fmt.Sprint(m.Encryption != "")
	}
	fmt.Fprintf(tw, "%s\t%s\t%d-%d\t%s\t%s\t%s\n", chain, e.Kind, e.FromRevision, e.Revision,
		e.Time.UTC().Format(time.DateTime), size, encrypted)
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
