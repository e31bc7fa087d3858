package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/types"
	"go.etcd.io/etcd/server/v3/etcdserver/api/membership"
	"go.uber.org/zap"
)

// ownerFile records, inside the data directory, which cluster and member
// the directory belongs to. A volume mounted in the wrong place carries
// the marker of its real owner, so the mistake shows before anything is
// moved or restored.
const ownerFile = ".etcdbrctl-owner.json"

// Owner names the cluster and member a data directory belongs to. IDs
// are hexadecimal, as etcd prints them.
type Owner struct {
	ClusterID string `json:"cluster_id"`
	MemberID  string `json:"member_id,omitempty"`
	Name      string `json:"name"`
	// RestoredAt and RestoredRevision say when the directory was restored
	// from a backup, and to which revision. A restore to an older point
	// is deliberate: the directory is not called stale against backups
	// taken before it.
	RestoredAt       time.Time `json:"restored_at,omitzero"`
	RestoredRevision int64     `json:"restored_revision,omitempty"`
}

// Expectation is the member configuration a data directory must match.
// Empty fields are not checked.
type Expectation struct {
	// Name is the member's --name.
	Name string
	// InitialCluster ("name=peerURL,...") and InitialClusterToken give
	// the cluster and member IDs etcd derives from them.
	InitialCluster      string
	InitialClusterToken string
}

// ExpectedIDs computes the cluster ID and this member's ID the way etcd
// does for a new cluster: from the peer URLs of --initial-cluster and the
// token. ok is false when e has no initial cluster.
func (e Expectation) ExpectedIDs() (cluster, member types.ID, ok bool, err error) {
	if e.InitialCluster == "" {
		return 0, 0, false, nil
	}
	urls, err := types.NewURLsMap(e.InitialCluster)
	if err != nil {
		return 0, 0, false, fmt.Errorf("initial cluster %q: %w", e.InitialCluster, err)
	}
	token := e.InitialClusterToken
	if token == "" {
		token = "etcd-cluster" // etcd's default
	}
	c, err := membership.NewClusterFromURLsMap(zap.NewNop(), token, urls)
	if err != nil {
		return 0, 0, false, fmt.Errorf("initial cluster %q: %w", e.InitialCluster, err)
	}
	if e.Name != "" {
		if m := c.MemberByName(e.Name); m != nil {
			member = m.ID
		} else {
			return 0, 0, false, fmt.Errorf("initial cluster %q has no member named %q", e.InitialCluster, e.Name)
		}
	}
	return c.ID(), member, true, nil
}

// ReadOwner reads the owner marker of dir; ok is false when there is none.
func ReadOwner(dir string) (o Owner, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return Owner{}, false, nil
	case err != nil:
		return Owner{}, false, fmt.Errorf("datadir: read owner: %w", err)
	}
	if err := json.Unmarshal(b, &o); err != nil || o.ClusterID == "" {
		return Owner{}, false, fmt.Errorf("datadir: %s: not an owner record (%v); "+
			"move it aside if it is not etcdbrctl's", filepath.Join(dir, ownerFile), err)
	}
	return o, true, nil
}

// WriteOwner records o in dir, atomically and durably.
func WriteOwner(dir string, o Owner) error {
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ownerFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("datadir: write owner: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("datadir: write owner: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ownerFile)); err != nil {
		return fmt.Errorf("datadir: write owner: %w", err)
	}
	return syncDir(dir)
}

// RecordOwner writes the owner marker of dir from the IDs in its WAL and
// the member name, keeping what an earlier marker of the same owner says
// about a restore. Call it once etcd has accepted the directory (after a
// start, a restore or a successful check).
func RecordOwner(dir, name string) (Owner, error) {
	ids, err := readWALIDs(filepath.Join(dir, filepath.FromSlash(walPath)))
	if err != nil {
		return Owner{}, fmt.Errorf("datadir: record owner of %s: %w", dir, err)
	}
	o := Owner{ClusterID: ids.cluster.String(), MemberID: ids.member.String(), Name: name}
	old, ok, err := ReadOwner(dir)
	if err == nil && ok && old.ClusterID == o.ClusterID && old.MemberID == o.MemberID && old.Name == o.Name {
		return old, nil
	}
	return o, WriteOwner(dir, o)
}

// RecordRestore writes the owner marker of a directory just restored from
// a backup at revision rev.
func RecordRestore(dir, name string, rev int64, at time.Time) (Owner, error) {
	ids, err := readWALIDs(filepath.Join(dir, filepath.FromSlash(walPath)))
	if err != nil {
		return Owner{}, fmt.Errorf("datadir: record restore of %s: %w", dir, err)
	}
	o := Owner{ClusterID: ids.cluster.String(), MemberID: ids.member.String(), Name: name,
		RestoredAt: at.UTC(), RestoredRevision: rev}
	return o, WriteOwner(dir, o)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ownership compares what dir says about its owner (the marker and the
// IDs its WAL was written with) with what is expected. It returns a
// reason when they differ.
func ownership(marker *Owner, wal *walIDs, expect Expectation) (string, error) {
	wantCluster, wantMember, haveIDs, err := expect.ExpectedIDs()
	if err != nil {
		return "", err
	}
	const hint = "; this looks like another cluster's volume: check which volume is mounted here, " +
		"or fix --name/--initial-cluster/--initial-cluster-token"
	if marker != nil {
		if expect.Name != "" && marker.Name != expect.Name {
			return fmt.Sprintf("%s: the directory belongs to member %q, this member is %q%s",
				ownerFile, marker.Name, expect.Name, hint), nil
		}
		if haveIDs && marker.ClusterID != wantCluster.String() {
			return fmt.Sprintf("%s: the directory belongs to cluster %s, --initial-cluster makes cluster %s%s",
				ownerFile, marker.ClusterID, wantCluster, hint), nil
		}
		if wal != nil && marker.ClusterID != wal.cluster.String() {
			return fmt.Sprintf("%s: the marker names cluster %s but the WAL was written by cluster %s: "+
				"the directory's contents were replaced%s", ownerFile, marker.ClusterID, wal.cluster, hint), nil
		}
	}
	if wal != nil && haveIDs {
		if wal.cluster != wantCluster {
			return fmt.Sprintf("%s: written by cluster %s, --initial-cluster makes cluster %s%s",
				walPath, wal.cluster, wantCluster, hint), nil
		}
		if wantMember != 0 && wal.member != wantMember {
			return fmt.Sprintf("%s: written by member %s, --initial-cluster makes this member %s%s",
				walPath, wal.member, wantMember, hint), nil
		}
	}
	return "", nil
}
