package supervisor

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLogStream(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	long := strings.Repeat("x", maxLogLine+10)
	logStream(log, "stderr", strings.NewReader("plain\r\n{\"level\":\"warn\",\"msg\":\"m\"}\n\n"+long+"\nlast"))
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		lines = append(lines, m)
	}
	if len(lines) != 5 {
		t.Fatalf("%d lines logged, want 5 (plain, JSON, two pieces of the long one, last):\n%s", len(lines), out.String())
	}
	if lines[0]["line"] != "plain" || lines[0]["stream"] != "stderr" {
		t.Errorf("plain line: %v", lines[0])
	}
	if want := map[string]any{"level": "warn", "msg": "m"}; !reflect.DeepEqual(lines[1]["etcd"], want) {
		t.Errorf("JSON line kept as %v, want an object", lines[1]["etcd"])
	}
	if len(lines[2]["line"].(string)) != maxLogLine || lines[4]["line"] != "last" {
		t.Errorf("long or last line mangled")
	}
}

func TestChildEnv(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "NOTIFY_SOCKET=/run/n", "WATCHDOG_USEC=1", "WATCHDOG_PID=3", "NOTIFY_SOCKETX=keep", "ETCD_NAME=a"})
	if want := []string{"PATH=/bin", "NOTIFY_SOCKETX=keep", "ETCD_NAME=a"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestNewSystemdNotifier(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	if n, err := NewSystemdNotifier(env(nil), 7); n != nil || err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v %v", n, err)
	}
	if _, err := NewSystemdNotifier(env(map[string]string{"NOTIFY_SOCKET": "relative"}), 7); err == nil {
		t.Fatal("a relative socket path accepted")
	}
	if _, err := NewSystemdNotifier(env(map[string]string{"NOTIFY_SOCKET": "/s", "WATCHDOG_USEC": "soon"}), 7); err == nil {
		t.Fatal("a bad WATCHDOG_USEC accepted")
	}
	for _, tc := range []struct {
		pid  string
		want time.Duration
	}{{"", time.Second}, {"7", time.Second}, {"8", 0}} {
		n, err := NewSystemdNotifier(env(map[string]string{"NOTIFY_SOCKET": "@abstract", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": tc.pid}), 7)
		if err != nil || n.WatchdogInterval() != tc.want {
			t.Errorf("WATCHDOG_PID %q: interval %v (%v), want %v", tc.pid, n.WatchdogInterval(), err, tc.want)
		}
	}
}
