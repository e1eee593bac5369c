package stream_test

import (
	"testing"

	"github.com/ordersaga/ordersaga/choreography/stream"
)

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		"1700000000000-0": true,
		"0-1":             true,
		"18446744073709551615-18446744073709551615": true,
		"":                       false,
		"1700000000000":          false,
		"1700000000000-":         false,
		"-0":                     false,
		"01-0":                   false,
		"1-01":                   false,
		"+1-0":                   false,
		"1-0 ":                   false,
		" 1-0":                   false,
		"1-0-0":                  false,
		"a-0":                    false,
		"1-2x":                   false,
		"18446744073709551616-0": false,
	} {
		if got := stream.ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", s, got, want)
		}
	}
}
