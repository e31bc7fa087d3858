package datadir

import "testing"

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{in: "sanity", want: Sanity},
		{in: "full", want: Full},
		{in: "Full", wantErr: true},
		{in: "", wantErr: true},
		{in: "deep", wantErr: true},
	} {
		got, err := ParseMode(tc.in)
		if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
			t.Errorf("ParseMode(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("ParseMode(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestStateString(t *testing.T) {
	for state, want := range map[State]string{Empty: "empty", Valid: "valid", Invalid: "invalid", InUse: "in-use"} {
		if got := state.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(state), got, want)
		}
	}
}
