package datadir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	staged := stage(t, dir).Path
	writeFile(t, filepath.Join(staged, "restored"), "bytes")
	want := treeListing(t, staged)

	if err := Install(staged, dir); err != nil {
		t.Fatal(err)
	}
	if got := treeListing(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("installed %v, want %v", got, want)
	}
	if _, err := os.Lstat(staged); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still there after install (%v)", staged, err)
	}
}

func TestInstallRefusesExistingDir(t *testing.T) {
	for _, existing := range []struct {
		name   string
		create func(t *testing.T, dir string)
	}{
		{"empty dir", func(t *testing.T, dir string) { mkdir(t, dir) }},
		{"dir with files", func(t *testing.T, dir string) {
			mkdir(t, dir)
			writeFile(t, filepath.Join(dir, "old"), "old data")
		}},
		{"file", func(t *testing.T, dir string) { writeFile(t, dir, "a file") }},
	} {
		t.Run(existing.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			existing.create(t, dir)
			before := treeListing(t, dir)
			staged := stage(t, dir).Path
			writeFile(t, filepath.Join(staged, "restored"), "new data")
			stagedBefore := treeListing(t, staged)

			err := Install(staged, dir)
			if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("got %v, want an error saying %s already exists", err, dir)
			}
			if after := treeListing(t, dir); !reflect.DeepEqual(after, before) {
				t.Errorf("%s changed: %v, was %v", dir, after, before)
			}
			if after := treeListing(t, staged); !reflect.DeepEqual(after, stagedBefore) {
				t.Errorf("%s changed: %v, was %v", staged, after, stagedBefore)
			}
		})
	}
}

func TestInstallNeedsADirectory(t *testing.T) {
	parent := t.TempDir()
	staged := filepath.Join(parent, "staged-file")
	writeFile(t, staged, "not a directory")
	dir := filepath.Join(parent, "data")
	if err := Install(staged, dir); err == nil {
		t.Fatal("installed a file as the data directory")
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists after a refused install (%v)", dir, err)
	}
}
