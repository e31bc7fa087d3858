package datadir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestQuarantine(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	now := time.Date(2024, 3, 9, 17, 4, 5, 0, time.FixedZone("CET", 3600))
	stamp := dir + ".quarantine-20240309T160405Z"

	// Fill dir with a nested tree and return its listing.
	fill := func(t *testing.T, content string) map[string]string {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, "member", "snap"), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "member", "snap", "db"), content)
		writeFile(t, filepath.Join(dir, "top"), content+" at the top")
		if err := os.Mkdir(filepath.Join(dir, "member", "empty"), 0o700); err != nil {
			t.Fatal(err)
		}
		return treeListing(t, dir)
	}

	// An empty directory already holds the first name: a plain rename
	// would replace it.
	mkdir(t, stamp)

	var quarantined []string
	var listings []map[string]string
	for i, content := range []string{"first", "second", "third"} {
		listing := fill(t, content)
		got, err := Quarantine(dir+string(filepath.Separator), now)
		if err != nil {
			t.Fatalf("quarantine %d: %v", i, err)
		}
		if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("quarantine %d: %s still there (%v)", i, dir, err)
		}
		quarantined = append(quarantined, got)
		listings = append(listings, listing)
	}

	want := []string{stamp + "-1", stamp + "-2", stamp + "-3"}
	if !reflect.DeepEqual(quarantined, want) {
		t.Errorf("quarantined to %v, want %v", quarantined, want)
	}
	// Every quarantine keeps exactly what it was given.
	for i, path := range quarantined {
		if got := treeListing(t, path); !reflect.DeepEqual(got, listings[i]) {
			t.Errorf("%s holds %v, want %v", path, got, listings[i])
		}
	}
	if entries, err := os.ReadDir(stamp); err != nil || len(entries) != 0 {
		t.Errorf("the directory first at %s changed: %v entries, %v", stamp, len(entries), err)
	}
}

func TestQuarantineMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := Quarantine(dir, time.Now()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want an error matching fs.ErrNotExist", err)
	}
}
