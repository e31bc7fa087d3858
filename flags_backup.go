package main

import (
	"time"

	"etcdbrctl/backup"
	"etcdbrctl/internal/bytesize"
	"etcdbrctl/providers"
)

// backupFlags are the schedule, retention and delta settings shared by the
// commands that take backups (run, snapshot, server). Names and meanings
// follow gardener's etcdbrctl.
type backupFlags struct {
	Schedule                     string        `help:"Cron schedule (five fields, UTC) of full snapshots." default:"0 */1 * * *"`
	MaxBackups                   int           `help:"Full snapshots to keep, each with its deltas (LimitBased policy); older ones are garbage-collected." default:"7"`
	GarbageCollectionPolicy      string        `help:"Which backups garbage collection keeps: LimitBased (the newest --max-backups full snapshots) or Exponential (all of the last hour, then one per hour for a day, per day for a week, per week for four weeks)." enum:"LimitBased,Exponential" default:"LimitBased"`
	GarbageCollectionPeriod      time.Duration `help:"How often garbage collection runs; 0 turns it off." default:"1m"`
	DeltaSnapshotPeriod          time.Duration `help:"How often changes since the last backup are saved as a delta snapshot; 0 turns deltas off. At most this much of the newest writes is lost with the disk." default:"10s"`
	DeltaSnapshotMemoryLimit     byteSize      `help:"Most changes held in memory (bytes; KiB, MiB and GiB suffixes). A delta snapshot is cut before its period ends once half of it waits; when the store is slower than etcd, reading changes pauses." default:"64MiB"`
	DeltaSnapshotRetentionPeriod time.Duration `help:"The deltas of a chain older than the newest are garbage-collected once its newest delta is older than this; 0 keeps them as long as their full snapshot (LimitBased) or for an hour (Exponential)." default:"0"`
}

// scheduler checks the flags and returns the backup loop they describe.
func (f backupFlags) scheduler(store providers.Store, enc backup.Encryption) (*backup.Scheduler, error) {
	sched, err := backup.ParseSchedule(f.Schedule)
	if err != nil {
		return nil, usagef("--schedule: %v", err)
	}
	if f.MaxBackups < 1 {
		return nil, usagef("--max-backups must be at least 1, not %d", f.MaxBackups)
	}
	if f.GarbageCollectionPeriod < 0 {
		return nil, usagef("--garbage-collection-period must not be negative")
	}
	if f.DeltaSnapshotPeriod < 0 {
		return nil, usagef("--delta-snapshot-period must not be negative")
	}
	if f.DeltaSnapshotMemoryLimit < 1<<20 {
		return nil, usagef("--delta-snapshot-memory-limit must be at least 1MiB, not %d bytes", f.DeltaSnapshotMemoryLimit)
	}
	if f.DeltaSnapshotRetentionPeriod < 0 {
		return nil, usagef("--delta-snapshot-retention-period must not be negative")
	}
	return &backup.Scheduler{
		Store: store, Encryption: enc, Schedule: sched,
		MaxBackups: f.MaxBackups, GCPolicy: backup.GCPolicyKind(f.GarbageCollectionPolicy),
		GCPeriod:    f.GarbageCollectionPeriod,
		DeltaPeriod: f.DeltaSnapshotPeriod, DeltaMemoryLimit: int64(f.DeltaSnapshotMemoryLimit),
		DeltaRetention: f.DeltaSnapshotRetentionPeriod,
	}, nil
}

// byteSize is a flag value in bytes, written plain or with a binary suffix.
type byteSize int64

func (b *byteSize) UnmarshalText(text []byte) error {
	n, err := bytesize.Parse(string(text))
	*b = byteSize(n)
	return err
}
