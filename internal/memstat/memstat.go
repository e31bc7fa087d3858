// Package memstat reads this process's memory use from /proc, for
// benchmarks that report peak resident memory beside their throughput.
package memstat

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ResetPeak starts a new peak (VmHWM) measurement from the current RSS.
func ResetPeak() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// PeakRSS is the highest resident memory, in bytes, since start or ResetPeak.
func PeakRSS() (int64, error) { return field("VmHWM:") }

// RSS is the resident memory now, in bytes.
func RSS() (int64, error) { return field("VmRSS:") }

func field(name string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if rest, ok := strings.CutPrefix(line, name); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status %q: %w", line, err)
			}
			return kb << 10, nil
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", name)
}
