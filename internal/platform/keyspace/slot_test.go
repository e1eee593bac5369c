package keyspace

import "testing"

// The slots Redis Cluster itself gives (CLUSTER KEYSLOT).
func TestSlot(t *testing.T) {
	for key, want := range map[string]int{
		"":             0,
		"foo":          12182,
		"bar":          5061,
		"{foo}bar":     12182,
		"a{bar}b{foo}": 5061,
		"{}foo":        9500,
		"123456789":    12739,
		"{user1000}.x": 3443,
		"no{close":     7129,
	} {
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}
