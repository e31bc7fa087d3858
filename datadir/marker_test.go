package datadir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCleanStop(t *testing.T) {
	dir := t.TempDir()
	take := func(want bool) {
		t.Helper()
		got, err := TakeCleanStop(dir)
		if err != nil || got != want {
			t.Fatalf("TakeCleanStop = %v, %v; want %v, nil", got, err, want)
		}
	}

	take(false)
	if err := MarkCleanStop(dir); err != nil {
		t.Fatal(err)
	}
	if err := MarkCleanStop(dir); err != nil {
		t.Fatalf("marking twice: %v", err)
	}
	take(true)
	// Taking consumes the marker: a crash after this leaves none.
	if _, err := os.Lstat(filepath.Join(dir, cleanStopMarker)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("marker still there after TakeCleanStop (%v)", err)
	}
	take(false)
}

func TestTakeCleanStopWithoutDir(t *testing.T) {
	parent := t.TempDir()
	missing := filepath.Join(parent, "missing")
	file := filepath.Join(parent, "file")
	writeFile(t, file, "not a data dir")
	for _, dir := range []string{missing, file} {
		if got, err := TakeCleanStop(dir); got || err != nil {
			t.Errorf("TakeCleanStop(%s) = %v, %v; want false, nil", dir, got, err)
		}
	}
}

func TestMarkCleanStopWithoutDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	if err := MarkCleanStop(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want an error matching fs.ErrNotExist", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("MarkCleanStop created %s (%v)", dir, err)
	}
}

func TestTakeCleanStopRefusesAForeignMarker(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, filepath.Join(dir, cleanStopMarker))
	if got, err := TakeCleanStop(dir); err == nil {
		t.Errorf("TakeCleanStop = %v, nil on a directory named like the marker; want an error", got)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanStopMarker)); err != nil {
		t.Errorf("the directory named like the marker is gone: %v", err)
	}
}
