package stream

import "fmt"

// ValidID reports whether s is a stream entry ID as Redis writes it:
// MS-SEQ, two decimal numbers without sign or leading zeros.
func ValidID(s string) bool {
	var ms, seq uint64
	n, err := fmt.Sscanf(s, "%d-%d", &ms, &seq)
	return err == nil && n == 2 && fmt.Sprintf("%d-%d", ms, seq) == s
}
