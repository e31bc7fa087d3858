package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"etcdbrctl/internal/testserver"
)

// execNode is `etcdbrctl run -- etcd ...` with the real etcd binary.
type execNode struct {
	*node
	etcd  string // path of the etcd binary
	flags []string
}

func newExecNode(t *testing.T, flags ...string) *execNode {
	return &execNode{node: newNode(t), etcd: testserver.Tool(t, "etcd"), flags: flags}
}

// etcdArgs is etcd's own command line, as a user would write it.
func (n *execNode) etcdArgs() []string {
	peer := fmt.Sprintf("http://127.0.0.1:%d", n.peerPort)
	return []string{n.etcd,
		"--name", "m1",
		"--data-dir=" + n.dataDir,
		"--listen-client-urls", n.clientURL(),
		"--advertise-client-urls=" + n.clientURL(),
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "m1=" + peer,
		"--log-level", "warn",
	}
}

func (n *execNode) args() []string {
	args := append([]string{"run",
		"--store", n.store,
		"--server-port", fmt.Sprint(n.apiPort),
		"--schedule", "0 0 1 1 *",
	}, n.flags...)
	return append(append(args, "--"), n.etcdArgs()...)
}

func (n *execNode) start() *proc {
	n.t.Helper()
	p := start(n.t, n.args()...)
	n.waitHealthy(p)
	return p
}

// health is /healthz's answer.
func (n *execNode) health() (int, string) {
	resp, err := http.Get(n.apiURL() + "/healthz")
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var h struct {
		Phase string `json:"phase"`
	}
	json.NewDecoder(resp.Body).Decode(&h)
	return resp.StatusCode, h.Phase
}

// waitPhase polls /healthz until it reports phase.
func (n *execNode) waitPhase(p *proc, phase string) {
	n.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, got := n.health(); got == phase {
			return
		}
		select {
		case <-p.done:
			n.t.Fatalf("etcdbrctl exited while waiting for phase %s:\n%s", phase, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	n.t.Fatalf("never in phase %s:\n%s", phase, p.out.String())
}

// procStat is what /proc/PID/stat says of a process.
type procStat struct {
	pid, ppid, pgrp int
	comm, state     string
}

// processes lists every process visible in /proc.
func processes(t *testing.T) []procStat {
	t.Helper()
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []procStat
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		fields := strings.Fields(s[closing+1:])
		if open < 0 || len(fields) < 3 {
			continue
		}
		var st procStat
		st.pid, _ = strconv.Atoi(strings.TrimSpace(s[:open]))
		st.comm = s[open+1 : closing]
		st.state = fields[0]
		st.ppid, _ = strconv.Atoi(fields[1])
		st.pgrp, _ = strconv.Atoi(fields[2])
		out = append(out, st)
	}
	return out
}

// etcdChild waits for etcdbrctl's etcd child and returns its pid.
func etcdChild(t *testing.T, p *proc) int {
	t.Helper()
	return newEtcdChild(t, p, 0)
}

// newEtcdChild waits for an etcd child other than old.
func newEtcdChild(t *testing.T, p *proc, old int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, st := range processes(t) {
			if st.ppid == p.cmd.Process.Pid && st.comm == "etcd" && st.state != "Z" && st.pid != old {
				return st.pid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no etcd child:\n%s", p.out.String())
	return 0
}

// inGroup lists the live processes of process group pgrp.
func inGroup(t *testing.T, pgrp int) []procStat {
	var out []procStat
	for _, st := range processes(t) {
		if st.pgrp == pgrp {
			out = append(out, st)
		}
	}
	return out
}

func fullManifests(t *testing.T, store string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(store, "etcdbr-v1", "full-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
