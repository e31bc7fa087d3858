package bytesize

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"67108864", 64 << 20, true},
		{"64MiB", 64 << 20, true},
		{" 8 KiB ", 8 << 10, true},
		{"1.5GiB", 3 << 29, true},
		{"5MB", 5e6, true},
		{"1GB", 1e9, true},
		{"512B", 512, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"-1", 0, false},
		{"64 MB/s", 0, false},
		{"ten", 0, false},
		{"1e30GiB", 0, false},
		{"NaN", 0, false},
	} {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
