package main

import (
	"strings"
	"testing"
)

func TestParseCgroups(t *testing.T) {
	for _, tc := range []struct {
		name, in, v1, v2 string
	}{
		{"v2 only", "0::/user.slice/session-1.scope\n", "", "/user.slice/session-1.scope"},
		{"v1 memory beside v2", "9:name=systemd:/\n4:memory:/jobs/7\n1:cpu,cpuacct:/\n0::/\n", "/jobs/7", "/"},
		{"v1 memory joined with other controllers", "3:cpu,memory:/a\n", "/a", ""},
		{"no memory controller", "2:memory_extra:/x\n1:cpu:/y\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v1, v2, err := parseCgroups(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if v1 != tc.v1 || v2 != tc.v2 {
				t.Errorf("got v1 %q v2 %q, want v1 %q v2 %q", v1, v2, tc.v1, tc.v2)
			}
		})
	}
}
