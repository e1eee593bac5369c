package main

import (
	"strings"
	"testing"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
)

// TestOnACluster: on a three-master Redis Cluster (--redis-cluster-url),
// orders on both engines, completed, compensated and retried, then stock,
// verify, dlq list and redrive and a reset all work, with no multi-key
// command across slots.
func TestOnACluster(t *testing.T) {
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3})
	tsrv := testenv.StartTemporal(t)
	teststack.StartEngines(t, tsrv.Address, tsrv.Namespace, c.Client())
	globals := []string{"--redis-cluster-url", c.URL(), "--temporal-address", tsrv.Address, "--namespace", "default"}
	must := func(args ...string) result {
		t.Helper()
		r := starter(t, append(globals, args...)...)
		if r.code != 0 {
			t.Fatalf("want exit 0:\n%s", r)
		}
		return r
	}
	for i, fail := range [][]string{nil, {"--fail", "payment"}, {"--fail", "shipping"}, {"--fail", "payment:transient:2"}} {
		args := append([]string{"order", "--mode", "both", "--id", newID("cluster-" + string(rune('a'+i)))}, fail...)
		r := must(args...)
		want := "COMPLETED"
		if len(fail) > 0 && !strings.Contains(fail[1], "transient") {
			want = "COMPENSATED"
		}
		if strings.Count(r.stdout, want) < 2 {
			t.Fatalf("want %s on both engines:\n%s", want, r)
		}
	}
	must("stock")
	must("verify")
	must("dlq", "list")
	must("dlq", "redrive")
	must("stock", "--reset")
	if r := must("verify", "--json"); !strings.Contains(r.stdout, `"orders":0`) && !strings.Contains(r.stdout, `"orders": 0`) {
		t.Fatalf("verify after the reset:\n%s", r)
	}
}
