package datadir

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.etcd.io/etcd/server/v3/etcdserver/api/snap"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.uber.org/zap"
)

// snapChoice is the raft snapshot etcd would start from.
type snapChoice struct {
	snap walpb.Snapshot
	// hasDB is set when the snap dir holds the v3 db file of that
	// snapshot, from which etcd rebuilds a db that is behind it.
	hasDB bool
}

// chooseSnapshot picks the snapshot etcd starts from: the newest one the
// WAL records as committed whose snap file is there (and, when verify is
// set, reads back with a matching checksum). With verify, every snap file
// the WAL refers to is read, and one that fails is reported as a problem
// (a *snapProblem). A snap file the WAL does not refer to is one a crash
// left before recording it; etcd never reads it, so neither does this.
//
// etcd itself renames a snap file that fails to load; this only reads.
func chooseSnapshot(dir string, verify bool) (snapChoice, error) {
	walDir := filepath.Join(dir, filepath.FromSlash(walPath))
	snapDir := filepath.Join(dir, filepath.FromSlash(snapPath))
	walSnaps, err := wal.ValidSnapshotEntries(zap.NewNop(), walDir)
	if err != nil {
		return snapChoice{}, walProblemf("%s: %v", walPath, err)
	}
	// Newest first, as etcd tries them.
	slices.SortFunc(walSnaps, func(a, b walpb.Snapshot) int {
		switch {
		case a.Index > b.Index:
			return -1
		case a.Index < b.Index:
			return 1
		}
		return 0
	})

	var choice snapChoice
	found := false
	for _, s := range walSnaps {
		if s.Index == 0 {
			// The empty snapshot every WAL starts with needs no file.
			if !found {
				choice.snap, found = s, true
			}
			continue
		}
		name := snapFileName(s)
		path := filepath.Join(snapDir, name)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		if verify {
			if _, err := snap.Read(zap.NewNop(), path); err != nil {
				return snapChoice{}, &snapProblem{reason: fmt.Sprintf("%s/%s: %v", snapPath, name, err)}
			}
		}
		if !found {
			choice.snap, found = s, true
		}
	}
	if choice.snap.Index > 0 {
		_, err := os.Stat(filepath.Join(snapDir, fmt.Sprintf("%016x.snap.db", choice.snap.Index)))
		choice.hasDB = err == nil
	}
	return choice, nil
}

func snapFileName(s walpb.Snapshot) string {
	return fmt.Sprintf("%016x-%016x.snap", s.Term, s.Index)
}

// snapProblem is a snap file etcd would fail to load.
type snapProblem struct{ reason string }

func (p *snapProblem) Error() string { return p.reason }
