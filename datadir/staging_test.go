package datadir

import (
	"bufio"
	"errors"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// holdLockEnv makes the test binary a lock holder instead of running the
// tests: it locks the staging directory named there, says so, and waits
// to be killed, as a restore that dies would.
const holdLockEnv = "DATADIR_TEST_HOLD_STAGING_LOCK"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdLockEnv); path != "" {
		f, err := lockDir(path)
		if err != nil || f == nil {
			os.Stdout.WriteString("not locked\n")
			os.Exit(1)
		}
		defer f.Close()
		os.Stdout.WriteString("locked\n")
		select {}
	}
	os.Exit(m.Run())
}

func stage(t *testing.T, dir string) *Staging {
	t.Helper()
	s, err := Stage(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing-parent", "data")
	first, second := stage(t, dir), stage(t, dir)
	if first.Path == second.Path {
		t.Errorf("two staging directories share the name %s", first.Path)
	}
	if len(second.Removed) != 0 {
		t.Errorf("the second Stage removed %v, the first's directory is live", second.Removed)
	}
	for _, staged := range []string{first.Path, second.Path} {
		if filepath.Dir(staged) != filepath.Dir(dir) {
			t.Errorf("%s is not beside %s", staged, dir)
		}
		if !strings.HasPrefix(filepath.Base(staged), ".data.staging-") {
			t.Errorf("%s is not named .data.staging-*", staged)
		}
		if entries, err := os.ReadDir(staged); err != nil || len(entries) != 0 {
			t.Errorf("%s: %d entries, %v; want an empty directory", staged, len(entries), err)
		}
	}
}

func TestStagingClose(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")

	s, err := Stage(dir)
	if err != nil {
		t.Fatal(err)
	}
	put(t, filepath.Join(s.Path, "data", "partial"), "half a restore")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still there after Close (%v)", s.Path, err)
	}

	// Closing after the staging directory was installed leaves the install.
	s, err = Stage(dir)
	if err != nil {
		t.Fatal(err)
	}
	put(t, filepath.Join(s.Path, "restored"), "bytes")
	if err := Install(s.Path, dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "restored")); string(got) != "bytes" {
		t.Errorf("installed dir after Close: %q, %v", got, err)
	}
}

// TestStageRemovesLeftovers: the staging directories of restores that died
// go, those of live ones (in this process or another) stay, and nothing
// else beside the data directory is touched.
func TestStageRemovesLeftovers(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	put(t, filepath.Join(dir, "member", "snap", "db"), "the data dir")

	live := stage(t, dir)
	put(t, filepath.Join(live.Path, "data", "db"), "a restore under way")
	dead := filepath.Join(parent, ".data.staging-111")
	put(t, filepath.Join(dead, "data", "member", "snap", "db"), "a partial restore")
	other := filepath.Join(parent, "other-process")
	put(t, filepath.Join(other, "db"), "held by a process that will be killed")
	held := holdLock(t, other)
	// held is renamed to a staging name only once locked, so it is never
	// a leftover before the other process holds it.
	killed := filepath.Join(parent, ".data.staging-222")
	if err := os.Rename(other, killed); err != nil {
		t.Fatal(err)
	}
	untouched := map[string]string{
		filepath.Join(parent, ".other.staging-333", "db"):       "another data dir's restore",
		filepath.Join(parent, "data.quarantine-20261126T0700Z"): "a quarantined data dir",
		filepath.Join(parent, ".data.staging-file"):             "a file, not a staging directory",
	}
	for path, content := range untouched {
		put(t, path, content)
	}
	before := treeListing(t, parent)

	s := stage(t, dir)
	if !slices.Equal(s.Removed, []string{dead}) {
		t.Errorf("removed %v, want only %s", s.Removed, dead)
	}
	want := map[string]string{}
	for name, content := range before {
		if !strings.HasPrefix(name, filepath.Base(dead)) {
			want[name] = content
		}
	}
	got := treeListing(t, parent)
	delete(got, filepath.Base(s.Path))
	if !maps.Equal(got, want) {
		t.Errorf("after Stage: %v\nwant: %v", got, want)
	}

	// Once the holder dies, its directory is a leftover too.
	if err := held.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	held.Wait()
	again := stage(t, dir)
	if !slices.Equal(again.Removed, []string{killed}) {
		t.Errorf("after the holder died, removed %v, want only %s", again.Removed, killed)
	}
	for _, kept := range []string{dir, live.Path, s.Path} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("%s: %v", kept, err)
		}
	}
}

// holdLock starts a copy of the test binary that locks path until killed.
func holdLock(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), holdLockEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("lock holder said %q (%v)", line, err)
	}
	return cmd
}

// put writes a file, creating its parent directories.
func put(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, content)
}

func TestNoLocks(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{unix.ENOTSUP, true},
		{unix.ENOLCK, true},
		{unix.EINVAL, true},
		{unix.ENOSYS, true},
		{&os.PathError{Op: "flock", Path: "x", Err: unix.EOPNOTSUPP}, true},
		{unix.EWOULDBLOCK, false},
		{unix.EBADF, false},
		{unix.EINTR, false},
	} {
		if got := noLocks(tc.err); got != tc.want {
			t.Errorf("noLocks(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
