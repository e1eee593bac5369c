package docstest

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// TestClusterPortsMove: make up of a Redis Cluster whose .state holds the
// nodes.conf of a cluster that ran on other ports (make up REDIS_CLUSTER=3,
// make down, make up REDIS_CLUSTER=3 REDIS_PORT=17001) moves every node's
// view of the others to the new ports (scripts/up-redis.sh,
// move_cluster_ports): the cluster comes back up and answers. Without it
// the nodes look for each other on the old ports: CLUSTERDOWN.
func TestClusterPortsMove(t *testing.T) {
	if _, err := testenv.RedisBinary(); err != nil {
		testenv.MissingErr(t, err)
	}
	from, to := freePorts(t, 3), freePorts(t, 3)
	for to > from-3 && to < from+3 {
		to = freePorts(t, 3)
	}
	script := `set -euo pipefail
fail() { echo "fail: $*"; exit 1; }
say() { echo "$*"; }
. "$ROOT/scripts/up-redis.sh"
start() {
	for i in 1 2 3; do
		mkdir -p "$D/redis-$i"
		redis-server --port $(($1 + i - 1)) --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file nodes.conf \
			--cluster-node-timeout 2000 --dir "$D/redis-$i" --daemonize yes --pidfile "$D/redis-$i.pid" \
			--logfile "$D/redis-$i.log" --save '' --appendonly no
	done
	# A daemonized node listens a moment later: wait for each (10 s at most).
	for i in 1 2 3; do
		for _ in $(seq 100); do redis-cli -p $(($1 + i - 1)) ping >/dev/null 2>&1 && break; sleep 0.1; done
	done
}
stop() { for i in 1 2 3; do redis-cli -p $(($1 + i - 1)) shutdown nosave >/dev/null 2>&1 || true; done; }
trap 'stop $FROM; stop $TO' EXIT
start $FROM
redis-cli --cluster create 127.0.0.1:$FROM 127.0.0.1:$((FROM + 1)) 127.0.0.1:$((FROM + 2)) --cluster-replicas 0 --cluster-yes >/dev/null
until redis-cli -p $FROM cluster info | grep -q cluster_state:ok; do sleep 0.2; done
stop $FROM
while redis-cli -p $FROM ping >/dev/null 2>&1; do sleep 0.2; done
move_cluster_ports "$D/redis-" 3 $TO
start $TO
for _ in $(seq 100); do
	if redis-cli -p $TO cluster info | grep -q cluster_state:ok; then break; fi
	sleep 0.2
done
redis-cli -p $TO cluster nodes
redis-cli -c -p $TO set docs-test-key 1
`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(cmd.Environ(), "ROOT="+testenv.RepoRoot(), "D="+t.TempDir(),
		fmt.Sprintf("FROM=%d", from), fmt.Sprintf("TO=%d", to))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the cluster on the new ports: %v\n%s", err, out)
	}
	for i := range 3 {
		if !strings.Contains(string(out), fmt.Sprintf("127.0.0.1:%d@%d", to+i, to+i+10000)) {
			t.Errorf("no node on port %d:\n%s", to+i, out)
		}
	}
	if strings.Contains(string(out), fmt.Sprintf(":%d@", from)) || !strings.HasSuffix(strings.TrimSpace(string(out)), "OK") {
		t.Errorf("want every node on the new ports and the write OK:\n%s", out)
	}
}

// freePorts is the first of n free consecutive ports.
func freePorts(t *testing.T, n int) int {
	for range 50 {
		first := testenv.FreePort(t)
		if first+n > 65535 || first+10000+n > 65535 {
			continue // a cluster node's bus port is its port + 10000
		}
		ok := true
		for p := first + 1; p < first+n && ok; p++ {
			ok = portFree(p)
		}
		if ok {
			return first
		}
	}
	t.Fatalf("no %d free consecutive ports", n)
	return 0
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
