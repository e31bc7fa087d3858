// Package bytesize reads sizes written for people: a byte count, or a
// number with a binary (KiB, MiB, GiB) or decimal (KB, MB, GB) suffix.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

var units = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// Parse reads s, such as "67108864", "64MiB" or "1.5GiB", as a number of
// bytes; negative sizes are refused.
func Parse(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), 1.0
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || !(n >= 0) || n*mult >= 1<<62 { // !(n >= 0) also refuses NaN
		return 0, fmt.Errorf("%q is not a size in bytes (for example 67108864, 64MiB or 1.5GiB)", s)
	}
	return int64(n * mult), nil
}
