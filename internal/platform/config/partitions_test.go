package config

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// ORDERSAGA_PARTITIONS, then --partitions; unset or 0 is 0 (the recorded
// number, else the deployment's default); anything but a whole number in
// range is a clear error naming both.
func TestPartitions(t *testing.T) {
	for _, c := range []struct {
		env, flag string
		want      int
		bad       bool
	}{
		{"", "", 0, false},
		{"0", "", 0, false},
		{"5", "", 5, false},
		{"5", "7", 7, false},
		{"", "1", 1, false},
		{"abc", "", 0, true},
		{"-3", "", 0, true},
		{"", "2000", 0, true},
	} {
		t.Setenv(partitionsEnv, c.env)
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg := Register(fs)
		var args []string
		if c.flag != "" {
			args = []string{"--partitions", c.flag}
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		n, err := cfg.PartitionCount()
		if c.bad {
			if err == nil || !strings.Contains(err.Error(), "--partitions or ORDERSAGA_PARTITIONS") {
				t.Errorf("env %q flag %q: %d, %v; want an error", c.env, c.flag, n, err)
			}
			continue
		}
		if err != nil || n != c.want {
			t.Errorf("env %q flag %q: %d, %v; want %d", c.env, c.flag, n, err, c.want)
		}
	}
}
