package datadir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Both the atomic rename and the fallback for filesystems without it must
// refuse to replace anything.
func TestRenameRefusesToReplace(t *testing.T) {
	renames := map[string]func(oldpath, newpath string) error{
		"renameNoReplace": renameNoReplace,
		"renameIfAbsent":  renameIfAbsent,
	}
	targets := []struct {
		name   string
		create func(t *testing.T, path string)
	}{
		{"nothing", nil},
		{"empty dir", func(t *testing.T, path string) { mkdir(t, path) }},
		{"file", func(t *testing.T, path string) { writeFile(t, path, "taken") }},
	}
	for name, rename := range renames {
		for _, target := range targets {
			t.Run(name+"/"+target.name, func(t *testing.T) {
				parent := t.TempDir()
				src, dst := filepath.Join(parent, "src"), filepath.Join(parent, "dst")
				mkdir(t, src)
				writeFile(t, filepath.Join(src, "f"), "content")
				want := treeListing(t, src)

				if target.create == nil {
					if err := rename(src, dst); err != nil {
						t.Fatal(err)
					}
					if got := treeListing(t, dst); !reflect.DeepEqual(got, want) {
						t.Errorf("renamed %v, want %v", got, want)
					}
					return
				}
				target.create(t, dst)
				before := treeListing(t, dst)
				if err := rename(src, dst); !errors.Is(err, fs.ErrExist) {
					t.Fatalf("got %v, want an error matching fs.ErrExist", err)
				}
				if got := treeListing(t, dst); !reflect.DeepEqual(got, before) {
					t.Errorf("target changed to %v", got)
				}
				if _, err := os.Stat(src); err != nil {
					t.Errorf("source gone: %v", err)
				}
			})
		}
	}
}
