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
	// Reason says, for Invalid and InUse, what is wrong in terms a person
	// can act on, naming the path inside the directory.
	Reason string `json:"reason,omitempty"`
}
