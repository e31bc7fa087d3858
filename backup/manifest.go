package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"etcdbrctl/providers"
)

// FormatV1 marks manifests of this object format.
const FormatV1 = "etcdbr/v1"

// Manifest is the small JSON object that commits a backup: it is written only
// after the data object is complete, so a backup without one does not exist.
type Manifest struct {
	Format          string    `json:"format"`
	Kind            Kind      `json:"kind"`
	FromRevision    int64     `json:"fromRevision,omitempty"`
	Revision        int64     `json:"revision"`
	CompactRevision int64     `json:"compactRevision,omitempty"`
	Time            time.Time `json:"time"`
	Finished        time.Time `json:"finished"`
	Data            string    `json:"data"`        // key of the data object
	Size            int64     `json:"size"`        // stored bytes of the data object
	SHA256          string    `json:"sha256"`      // of the stored bytes
	Compression     string    `json:"compression"` // "zstd"
	Encryption      string    `json:"encryption,omitempty"`
	DBSize          int64     `json:"dbSize,omitempty"`   // decoded snapshot bytes, trailer excluded
	DBSHA256        string    `json:"dbSha256,omitempty"` // etcd's own trailer
	Events          int64     `json:"events,omitempty"`   // events in a delta segment
}

// Name gives the manifest's key.
func (m Manifest) Name() Name {
	return Name{Kind: m.Kind, FromRevision: m.FromRevision, Revision: m.Revision, Time: m.Time}
}

func putManifest(ctx context.Context, store providers.Store, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return store.Put(ctx, m.Name().String(), bytes.NewReader(append(b, '\n')))
}

// maxManifestSize bounds what is read of an object that claims to be one.
const maxManifestSize = 1 << 20

// ReadManifest fetches and checks the manifest under key.
func ReadManifest(ctx context.Context, store providers.Store, key string) (Manifest, error) {
	name, err := ParseName(key)
	if err != nil {
		return Manifest{}, err
	}
	rc, err := store.Get(ctx, key)
	if err != nil {
		return Manifest{}, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return Manifest{}, fmt.Errorf("read %s: %w", key, err)
	}
	var m Manifest
	if len(b) > maxManifestSize {
		return Manifest{}, fmt.Errorf("%s: %w: manifest over %d bytes", key, ErrCorrupt, maxManifestSize)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w: %v", key, ErrCorrupt, err)
	}
	if m.Format != FormatV1 {
		return Manifest{}, fmt.Errorf("%s: unknown format %q", key, m.Format)
	}
	got := m.Name()
	if got.Kind != name.Kind || got.Revision != name.Revision || got.FromRevision != name.FromRevision || !got.Time.Equal(name.Time) {
		return Manifest{}, fmt.Errorf("%s: %w: content says %s", key, ErrCorrupt, got)
	}
	return m, nil
}
