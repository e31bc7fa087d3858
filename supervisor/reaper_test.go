package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReaper runs the reaper as a subreaper in a process of its own (the
// test binary again), so that the orphans it reaps are only its own.
func TestReaper(t *testing.T) {
	if os.Getenv("ETCDBR_REAPER_TEST") == "1" {
		reaperRaces(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReaper$", "-test.v", fmt.Sprintf("-test.short=%t", testing.Short()))
	cmd.Env = append(os.Environ(), "ETCDBR_REAPER_TEST=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReaper") {
		t.Fatalf("reaper test process: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// reaperRaces starts many children that exit at once while orphans of
// theirs end around the same moment, and os/exec children under Hold
// alongside: every status must reach its owner, and no zombie may remain.
func reaperRaces(t *testing.T) {
	if err := BecomeSubreaper(); err != nil {
		t.Fatal(err)
	}
	r := NewReaper(true, testLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()

	var wg sync.WaitGroup
	holdErrs := make(chan error, rounds)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < rounds/5; i++ {
			release := r.Hold()
			err := exec.Command("/bin/sh", "-c", "(exit 0 &); exit 5").Run()
			release()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 5 {
				holdErrs <- fmt.Errorf("os/exec child under Hold: %v, want exit code 5", err)
			}
		}
	}()

	for i := 0; i < rounds; i++ {
		code := i % 7
		// Two orphans: one that ends at once, one a moment later.
		script := fmt.Sprintf("(sh -c 'exit 9' &); (sleep 0.01 &); exit %d", code)
		_, status, err := r.Start("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{devnull, devnull, devnull}})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-status:
			if got != (ExitStatus{Code: code}) {
				t.Fatalf("round %d: status %v, want exit code %d", i, got, code)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: no status", i)
		}
	}
	wg.Wait()
	close(holdErrs)
	for err := range holdErrs {
		t.Error(err)
	}

	// The orphans end within moments; none may stay a zombie.
	deadline := time.Now().Add(30 * time.Second)
	for {
		kids, zombies := children(t, os.Getpid())
		if kids == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d children left, %d of them zombies", kids, zombies)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// children counts the processes whose parent is pid, and the zombies among them.
func children(t *testing.T, pid int) (all, zombies int) {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == pid {
			all++
			if fields[0] == "Z" {
				zombies++
			}
		}
	}
	return all, zombies
}
