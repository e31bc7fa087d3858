package datadir

import "fmt"

// Mode selects how deeply Validate looks at a data directory.
type Mode int

const (
	// Sanity checks the layout, opens the db read-only and reads its
	// revision. It is cheap and suits a directory that etcd left after a
	// clean stop.
	Sanity Mode = iota
	// Full adds bbolt's consistency check over every page of the db. It
	// reads the whole file and suits a directory of unknown history.
	Full
)

// ParseMode parses the name of a mode as given on a command line.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "sanity":
		return Sanity, nil
	case "full":
		return Full, nil
	}
	return 0, fmt.Errorf("datadir: unknown check mode %q (want \"sanity\" or \"full\")", s)
}

func (m Mode) String() string {
	switch m {
	case Sanity:
		return "sanity"
	case Full:
		return "full"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// State is the verdict of Validate.
type State int

const (
	// Empty means there is nothing to keep: the directory is missing or
	// has no entries.
	Empty State = iota
	// Valid means etcd can start on the directory.
	Valid
	// Invalid means the directory holds something etcd cannot start on;
	// Report.Reason says what.
	Invalid
	// InUse means another process, normally a running etcd, holds the
	// db's lock, so the directory must not be touched.
	InUse
	// Foreign means the directory belongs to another cluster or member
	// than the one configured (a wrong volume): it must be neither
	// quarantined nor restored over.
	Foreign
)

func (s State) String() string {
	switch s {
	case Empty:
		return "empty"
	case Valid:
		return "valid"
	case Invalid:
		return "invalid"
	case InUse:
		return "in-use"
	case Foreign:
		return "foreign"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Report is what Validate found.
type Report struct {
	Dir   string `json:"dir"`
	Mode  Mode   `json:"mode"`
	State State  `json:"state"`
	// Revision is the revision etcd would start at, set whenever the db
	// could be read: the largest of 1, the newest main revision in the key
	// bucket, and the finished and scheduled compaction revisions (the
	// rule etcd's mvcc store applies when it restores).
	Revision int64 `json:"revision"`
	// Reason says, for Invalid, InUse and Foreign, what is wrong in terms
	// a person can act on, naming the path inside the directory.
	Reason string `json:"reason,omitempty"`
	// Code classifies Reason for scripts; empty when there is none.
	Code Code `json:"code,omitempty"`

	// What the check read, when it got that far. Indexes are raft
	// indexes; IDs are hexadecimal, as etcd prints them.
	ConsistentIndex uint64 `json:"consistent_index,omitempty"`
	SnapshotIndex   uint64 `json:"snapshot_index,omitempty"`
	WALLastIndex    uint64 `json:"wal_last_index,omitempty"`
	// PendingRevisions is an upper bound of the revisions that WAL
	// entries not yet in the db add when etcd replays them.
	PendingRevisions int64  `json:"pending_revisions,omitempty"`
	ClusterID        string `json:"cluster_id,omitempty"`
	MemberID         string `json:"member_id,omitempty"`
	// NewestBackupRevision is the revision the directory was compared
	// with, 0 when it was not.
	NewestBackupRevision int64 `json:"newest_backup_revision,omitempty"`
}

// Code names the kind of problem a Report found.
type Code string

const (
	// CodeLayout: a file or directory etcd needs is missing or of the
	// wrong type.
	CodeLayout Code = "layout"
	// CodeDB: the bbolt database is damaged.
	CodeDB Code = "db-corrupt"
	// CodeWAL: the write-ahead log is damaged beyond the torn last
	// record that etcd repairs itself.
	CodeWAL Code = "wal-corrupt"
	// CodeSnap: a snap file the WAL refers to fails its checksum.
	CodeSnap Code = "snap-corrupt"
	// CodeIndex: the db and the WAL disagree about what was applied.
	CodeIndex Code = "index-mismatch"
	// CodeBehind: even after replaying its WAL the directory is older
	// than the newest backup (a stale disk, or a volume from the past).
	CodeBehind Code = "behind-backup"
	// CodeInUse: a running process holds the db.
	CodeInUse Code = "in-use"
	// CodeWrongVolume: the directory belongs to another cluster or
	// member.
	CodeWrongVolume Code = "wrong-volume"
)
