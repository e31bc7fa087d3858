package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// memoryCgroup is a memory cgroup made for one measured child process. Its
// limit covers the child's anonymous memory and the page cache it brings
// in together, so a restore that needed more memory than the limit would
// be killed by the kernel instead of merely reporting a high RSS.
type memoryCgroup struct {
	dir string
	v2  bool
}

const cgroupRoot = "/sys/fs/cgroup"

// newMemoryCgroup makes a cgroup limited to limit bytes beneath this
// process's own memory cgroup (cgroup v1's memory hierarchy, or v2).
func newMemoryCgroup(limit int64) (*memoryCgroup, error) {
	v1, v2, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("etcdbrctl-bench-%d", os.Getpid())
	if base := filepath.Join(cgroupRoot, "memory"); v1 != "" && isDir(base) {
		c := &memoryCgroup{dir: filepath.Join(base, v1, name)}
		if err := os.Mkdir(c.dir, 0o755); err != nil {
			return nil, err
		}
		if err := c.write("memory.limit_in_bytes", limit); err != nil {
			c.remove()
			return nil, err
		}
		// With swap accounting, swap counts against the limit too.
		if _, err := os.Stat(filepath.Join(c.dir, "memory.memsw.limit_in_bytes")); err == nil {
			if err := c.write("memory.memsw.limit_in_bytes", limit); err != nil {
				c.remove()
				return nil, err
			}
		}
		return c, nil
	}
	if v2 == "" {
		return nil, errors.New("no memory cgroup found in /proc/self/cgroup")
	}
	parent := filepath.Join(cgroupRoot, v2)
	controllers, err := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(controllers), "memory") {
		if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
			return nil, fmt.Errorf("enable the memory controller below %s: %w", parent, err)
		}
	}
	c := &memoryCgroup{dir: filepath.Join(parent, name), v2: true}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		return nil, err
	}
	if err := c.write("memory.max", limit); err != nil {
		c.remove()
		return nil, err
	}
	// Nothing may be swapped out to stay under the limit.
	if err := c.write("memory.swap.max", 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.remove()
		return nil, err
	}
	return c, nil
}

// ownCgroups reads this process's cgroup paths: the v1 memory hierarchy's
// and the v2 unified one's.
func ownCgroups() (v1, v2 string, err error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	return parseCgroups(f)
}

// parseCgroups reads a /proc/PID/cgroup file: "ID:CONTROLLERS:PATH" lines,
// the v2 one being "0::PATH".
func parseCgroups(r io.Reader) (v1, v2 string, err error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		id, rest, _ := strings.Cut(s.Text(), ":")
		controllers, path, _ := strings.Cut(rest, ":")
		switch {
		case id == "0" && controllers == "":
			v2 = path
		case strings.Contains(","+controllers+",", ",memory,"):
			v1 = path
		}
	}
	return v1, v2, s.Err()
}

// join moves the calling process into the cgroup.
func (c *memoryCgroup) join() error {
	return os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0)
}

// peak is the most memory charged to the cgroup at once.
func (c *memoryCgroup) peak() (int64, error) {
	name := "memory.max_usage_in_bytes"
	if c.v2 {
		name = "memory.peak"
	}
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func (c *memoryCgroup) write(name string, v int64) error {
	return os.WriteFile(filepath.Join(c.dir, name), []byte(strconv.FormatInt(v, 10)), 0)
}

func (c *memoryCgroup) remove() error { return os.Remove(c.dir) }

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
