package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestOutputFormats: -o/--output text|json|jsonl on the commands that print
// data, --json short for -o json, and anything else a usage error.
func TestOutputFormats(t *testing.T) {
	s := servers(t)
	id := newID("output")
	s.must(t, "order", "--id", id, "--mode", "choreography")
	for _, args := range [][]string{
		{"stock", "-o", "json"}, {"stock", "--output=json"}, {"stock", "--json"},
		{"status", id, "-o", "json"}, {"history", id, "--output", "json"},
		{"verify", "--mode", "choreography", "-o", "json"}, {"dlq", "list", "-o", "json"},
	} {
		r := s.run(t, args...)
		if r.code != 0 && (args[0] != "verify" || r.code != 1) { // earlier tests leave FAILED orders
			t.Fatalf("%v: want exit 0:\n%s", args, r)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || !strings.Contains(r.stdout, "\n  ") {
			t.Fatalf("%v: want one indented JSON document: %v\n%s", args, err, r)
		}
	}
	for _, args := range [][]string{{"stock", "-o", "jsonl"}, {"status", id, "--output", "jsonl"}, {"order", "--mode", "choreography", "-o", "jsonl"}} {
		r := s.must(t, args...)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		var doc map[string]any
		if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &doc) != nil {
			t.Fatalf("%v: want one JSON document on one line:\n%s", args, r)
		}
	}
	if r := s.must(t, "stock", "-o", "text"); !strings.Contains(r.stdout, "SKU") {
		t.Fatalf("want the table:\n%s", r)
	}
	r := s.run(t, "stock", "-o", "xml")
	wantCode(t, r, 2)
	wantOneLine(t, r, "unknown output \"xml\"", "text, json or jsonl")
}
