package datadir

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateIn runs real child processes: a shell standing in for the
// checker lets each way a child can end be produced exactly.
func TestValidateIn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  string
		state   State
		reason  string
		wantErr string
	}{
		{"report", `echo '{"dir":"d","mode":"full","state":"valid","revision":42}'`, Valid, "", ""},
		{"invalid report", `echo '{"dir":"d","mode":"full","state":"invalid","reason":"bad page"}'`, Invalid, "bad page", ""},
		{"go panic", `echo 'panic: assertion failed: page 7' >&2; echo 'goroutine 1 [running]:' >&2; exit 2`, Invalid, "panic: assertion failed: page 7", ""},
		{"fault", `echo 'unexpected fault address 0x7f00' >&2; echo 'fatal error: fault' >&2; exit 2`, Invalid, "unexpected fault address", ""},
		{"killed by a signal", `kill -SEGV $$`, Invalid, "signal", ""},
		{"ordinary failure", `echo 'usage: no such flag' >&2; exit 2`, 0, "", "no such flag"},
		{"no report", `echo hello`, 0, "", "no report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tc.script)
			r, err := ValidateIn(context.Background(), cmd, "d", Full)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.State != tc.state || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("report %+v, want state %s and a reason mentioning %q", r, tc.state, tc.reason)
			}
		})
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := Report{Dir: dir, Mode: Full, State: InUse, Revision: 7, Reason: "locked"}
	path := filepath.Join(dir, "r.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(f, want); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := ValidateIn(context.Background(), exec.Command("cat", path), dir, Full)
	if err != nil || got != want {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, want)
	}
}
