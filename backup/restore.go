package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"etcdbrctl/providers"
)

// Member describes the etcd member a restored data directory belongs to.
type Member struct {
	Name                string
	InitialCluster      string // "name=peerURL,..."; default "<Name>=<first peer URL>"
	InitialClusterToken string
	PeerURLs            []string
}

// RestoreFull writes a new etcd data directory at dataDir from a full
// snapshot. dataDir must not exist; scratch is a directory for the decoded
// snapshot file, which is removed afterwards. Every check (stored digest,
// decryption, decompression, etcd's own SHA-256 trailer) passes before
// etcd's restore code writes anything at dataDir.
func RestoreFull(ctx context.Context, store providers.Store, m Manifest, enc Encryption, member Member, scratch, dataDir string, lg *zap.Logger) error {
	if m.Kind != KindFull {
		return fmt.Errorf("%s is not a full snapshot", m.Name())
	}
	if _, err := os.Stat(dataDir); err == nil {
		return fmt.Errorf("restore target %s already exists", dataDir)
	}
	snapPath := filepath.Join(scratch, "snapshot.db")
	if err := download(ctx, store, m, enc, snapPath); err != nil {
		return err
	}
	defer os.Remove(snapPath)

	if lg == nil {
		lg = zap.NewNop()
	}
	cluster := member.InitialCluster
	if cluster == "" && len(member.PeerURLs) > 0 {
		cluster = member.Name + "=" + member.PeerURLs[0]
	}
	err := snapshot.NewV3(lg).Restore(snapshot.RestoreConfig{
		SnapshotPath:        snapPath,
		Name:                member.Name,
		OutputDataDir:       dataDir,
		PeerURLs:            member.PeerURLs,
		InitialCluster:      cluster,
		InitialClusterToken: member.InitialClusterToken,
	})
	if err != nil {
		return fmt.Errorf("etcd restore of %s: %w", m.Name(), err)
	}
	return nil
}

// download decodes a backup's data object into a local file and checks it.
func download(ctx context.Context, store providers.Store, m Manifest, enc Encryption, path string) (err error) {
	rc, err := store.Get(ctx, m.Data)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", m.Data, err)
	}
	defer rc.Close()
	dec, err := newDecoder(contextReader{ctx, rc}, m, enc)
	if err != nil {
		return err
	}
	defer dec.Close()

	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	n, err := io.Copy(f, dec)
	if err != nil {
		return err
	}
	if err := dec.Verify(); err != nil {
		return err
	}
	if m.DBSize > 0 && n != m.DBSize+32 {
		return fmt.Errorf("%s: %w: decoded %d bytes, manifest says %d", m.Data, ErrCorrupt, n, m.DBSize+32)
	}
	return nil
}

// contextReader stops a long read loop once ctx is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
