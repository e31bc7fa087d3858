package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"etcdbrctl/backup"
	"etcdbrctl/datadir"
	"etcdbrctl/internal/etcdtest"
	"etcdbrctl/providers/file"
)

// TestPrepare covers every way start-up finds a data dir, on real data dirs
// and a real store.
func TestPrepare(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	e, c := etcdtest.Start(t, src)
	for i := range 100 {
		if _, err := c.Put(ctx, fmt.Sprintf("k%03d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	withBackups, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := backup.TakeFull(ctx, c, withBackups, backup.Encryption{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	empty, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name        string
		setup       func(t *testing.T, dir string) // builds dir from the valid source
		backups     bool
		wantErr     string
		quarantined bool
		restored    bool
	}{
		{"valid", copyOf(src), true, "", false, false},
		{"missing, no backup", nil, false, "", false, false},
		{"missing, backup", nil, true, "", false, true},
		{"empty dir, backup", func(t *testing.T, dir string) { os.Mkdir(dir, 0o700) }, true, "", false, true},
		{"invalid, no backup", breakDB(src), false, "no backup", false, false},
		{"invalid, backup", breakDB(src), true, "", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "etcd")
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			store := empty
			if tc.backups {
				store = withBackups
			}
			r := Restorer{Store: store, Log: testLogger(),
				Member: backup.Member{Name: "default", PeerURLs: []string{"http://127.0.0.1:2380"}}}
			err := r.Prepare(ctx, dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Prepare = %v, want an error mentioning %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			q, _ := filepath.Glob(dir + ".quarantine-*")
			if tc.quarantined != (len(q) == 1) {
				t.Fatalf("quarantined: %v", q)
			}
			report, err := datadir.Validate(ctx, dir, datadir.Full)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.restored && (report.State != datadir.Valid || report.Revision != m.Revision):
				t.Fatalf("after restore: %+v, want valid at %d", report, m.Revision)
			case tc.setup == nil && !tc.restored && report.State != datadir.Empty:
				t.Fatalf("a fresh start created %s: %+v", dir, report)
			case tc.wantErr != "" && report.State != datadir.Invalid:
				t.Fatalf("a refused dir changed: %+v", report)
			}
		})
	}
}

func TestPrepareInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for bbolt's lock timeout")
	}
	dir := t.TempDir()
	etcdtest.Start(t, dir)
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := Restorer{Store: store, Log: testLogger()}
	if err := r.Prepare(context.Background(), dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("Prepare on a dir a live etcd holds = %v, want ErrInUse", err)
	}
}

func copyOf(src string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		if out, err := exec.Command("cp", "-a", src, dir).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
}

func breakDB(src string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		copyOf(src)(t, dir)
		if err := os.Truncate(filepath.Join(dir, "member", "snap", "db"), 4096); err != nil {
			t.Fatal(err)
		}
	}
}
