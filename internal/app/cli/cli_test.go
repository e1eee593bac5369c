package cli_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/shop"
)

func TestLongFlags(t *testing.T) {
	root := &cobra.Command{Use: "x"}
	sub := &cobra.Command{Use: "sub", Run: func(*cobra.Command, []string) {}}
	sub.Flags().String("mode", "", "")
	sub.Flags().String("id", "", "")
	root.AddCommand(sub)
	got := cli.LongFlags(root, []string{"sub", "-mode", "both", "-id=-x", "-h", "-3", "-zz", "--", "-mode"})
	want := []string{"sub", "--mode", "both", "--id=-x", "-h", "-3", "-zz", "--", "-mode"}
	if !slices.Equal(got, want) {
		t.Fatalf("LongFlags = %q, want %q", got, want)
	}
}

func TestExit(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code int
		out  string
	}{
		{nil, 0, ""},
		{cli.Usagef("bad %s", "flag"), 2, "x: bad flag\n"},
		{errors.New("down\n  and out"), 1, "x: down and out\n"},
		{cli.ErrReported, 1, ""},
		{cli.ErrNoCommand, 2, ""},
	} {
		var stderr bytes.Buffer
		if code := cli.Exit(tt.err, &stderr, "x"); code != tt.code || stderr.String() != tt.out {
			t.Errorf("Exit(%v) = %d, %q; want %d, %q", tt.err, code, stderr.String(), tt.code, tt.out)
		}
	}
}

func TestModes(t *testing.T) {
	for in, want := range map[string][]shop.Mode{
		"both": shop.Modes, "orch": {shop.ModeOrchestration}, "orchestration": {shop.ModeOrchestration},
		"chor": {shop.ModeChoreography}, "choreography": {shop.ModeChoreography},
	} {
		var m cli.Modes
		if err := m.Set(in); err != nil || !slices.Equal(m.List, want) {
			t.Errorf("Set(%q): %v, %v", in, m.List, err)
		}
	}
	var m cli.Modes
	if err := m.Set("all"); err == nil {
		t.Error(`Set("all") accepted`)
	}
}

func TestPrintJSON(t *testing.T) {
	var b bytes.Buffer
	if err := cli.PrintJSON(&b, map[string]any{"b": []int{1}, "a": "x"}); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"a\": \"x\",\n  \"b\": [\n    1\n  ]\n}\n"; b.String() != want {
		t.Errorf("PrintJSON wrote %q, want %q", b.String(), want)
	}
	if err := cli.PrintJSON(&b, func() {}); err == nil {
		t.Error("PrintJSON of a func: no error")
	}
	b.Reset()
	cli.PrintJSONLine(&b, map[string]any{"b": []int{1}, "a": "x"})
	if want := "{\"a\":\"x\",\"b\":[1]}\n"; b.String() != want {
		t.Errorf("PrintJSONLine wrote %q, want %q", b.String(), want)
	}
}
