package backup

import (
	"context"
	"fmt"
	"io"
	"os"

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

// RestoreFull writes a new etcd data directory at dataDir from one full
// snapshot, applying no delta. dataDir must not exist. Every check (stored
// digest, decryption, decompression, etcd's own SHA-256 trailer) passes
// before anything appears at dataDir.
func RestoreFull(ctx context.Context, store providers.Store, m Manifest, enc Encryption, member Member, dataDir string, lg *zap.Logger) error {
	if m.Kind != KindFull {
		return fmt.Errorf("%s is not a full snapshot", m.Name())
	}
	if _, err := os.Stat(dataDir); err == nil {
		return fmt.Errorf("restore target %s already exists", dataDir)
	}
	_, err := Restore(ctx, store, Plan{Full: m, Revision: m.Revision}, RestoreOptions{Encryption: enc, Member: member, Log: lg}, dataDir)
	return err
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
