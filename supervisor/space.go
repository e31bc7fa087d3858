package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"etcdbrctl/backup"
)

// ErrNoSpace is returned when a restore would not fit on the data dir's
// filesystem.
var ErrNoSpace = errors.New("not enough free disk space")

// walSegmentBytes is the size etcd preallocates for a WAL segment.
const walSegmentBytes = 64 << 20

// spaceMargin leaves room for the snap file, the owner marker and the
// filesystem's own bookkeeping.
const spaceMargin = 16 << 20

// restoreNeeds is what a restore of m writes beside the data dir: the
// decoded snapshot (the db plus etcd's 32-byte hash), the restored db,
// which is a copy of it, and a WAL segment. Quarantining the old dir is a
// rename on the same filesystem and takes no space.
func restoreNeeds(m backup.Manifest) (snapshot, db, wal int64) {
	size := m.DBSize
	if size <= 0 {
		// Older manifests lack the decoded size; the stored size is a
		// lower bound, since backups are compressed.
		size = m.Size
	}
	return size + 32, size, walSegmentBytes
}

// checkSpace refuses a restore of m at dir that would not fit, before
// anything is written.
func checkSpace(dir string, m backup.Manifest) error {
	at, err := existingAncestor(filepath.Dir(filepath.Clean(dir)))
	if err != nil {
		return fmt.Errorf("check free space for %s: %w", dir, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(at, &st); err != nil {
		return fmt.Errorf("check free space on %s: %w", at, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	snapshot, db, wal := restoreNeeds(m)
	need := snapshot + db + wal + spaceMargin
	if free < need {
		return fmt.Errorf("%w: restoring %s at %s needs about %s on the filesystem of %s "+
			"(the downloaded snapshot %s, the restored db %s, a WAL segment %s, %s to spare; "+
			"quarantining the old data dir is a rename and needs none), but %s are free: "+
			"free space there or give the volume more room",
			ErrNoSpace, m.Name(), dir, bytesText(need), at, bytesText(snapshot), bytesText(db),
			bytesText(wal), bytesText(spaceMargin), bytesText(free))
	}
	return nil
}

// existingAncestor returns dir or its nearest existing parent, where the
// staging directory will be created.
func existingAncestor(dir string) (string, error) {
	for {
		_, err := os.Stat(dir)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", err
		}
		dir = parent
	}
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
