//go:build compose

package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
)

// clusterNode is one line of CLUSTER NODES: a node by the name it
// announces, its role and, for a replica, its master's name.
type clusterNode struct {
	id, name, master string
	isMaster, failed bool
}

// clusterNodes asks node (through docker compose exec, as the default
// user, whose password stays in the container) for CLUSTER NODES.
func (s *stack) clusterNodes(node string) ([]clusterNode, error) {
	out, err := s.compose(time.Minute, "exec", "-T", node, "sh", "-c", `REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD" redis-cli cluster nodes`)
	if err != nil {
		return nil, fmt.Errorf("cluster nodes on %s: %v\n%s", node, err, out)
	}
	var nodes []clusterNode
	byID := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		_, name, _ := strings.Cut(f[1], ",")
		flags := strings.Split(f[2], ",")
		n := clusterNode{id: f[0], name: name, master: f[3], isMaster: slices.Contains(flags, "master"),
			failed: slices.Contains(flags, "fail") || slices.Contains(flags, "fail?")}
		byID[n.id] = name
		nodes = append(nodes, n)
	}
	for i := range nodes {
		nodes[i].master = byID[nodes[i].master]
	}
	return nodes, nil
}

// role asks node for its own replication role: "master", or "slave" with
// its link to its master.
func (s *stack) role(node string) string {
	out, _ := s.compose(time.Minute, "exec", "-T", node, "sh", "-c", `REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD" redis-cli info replication`)
	role, link := "", ""
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "role:"); ok {
			role = v
		}
		if v, ok := strings.CutPrefix(line, "master_link_status:"); ok {
			link = " link " + v
		}
	}
	return role + link
}

// masterAndReplica is a master of the cluster and its replica, as the node
// asked sees them; the node asked is neither.
func (s *stack) masterAndReplica(asked string) (master, replica string) {
	t := s.t
	nodes, err := s.clusterNodes(asked)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if !n.isMaster && !n.failed && n.master != "" && n.master != asked && n.name != asked {
			return n.master, n.name
		}
	}
	t.Fatalf("no master with a replica in %+v", nodes)
	return "", ""
}

// orderLoad places orders on both engines from two starters at a time, one
// `docker compose run starter order --no-wait` after the other, until
// stop.
type orderLoad struct {
	mu             sync.Mutex
	placed, failed []string
	cancel         context.CancelFunc
	wg             sync.WaitGroup
}

func (s *stack) placing() *orderLoad {
	l := &orderLoad{}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for w := range 2 {
		l.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("part-%d-%d-%d", time.Now().UnixNano(), w, i)
				out, err := s.starter("order", "--id", id, "--no-wait")
				l.mu.Lock()
				if err != nil {
					l.failed = append(l.failed, fmt.Sprintf("%s: %v\n%s", id, err, out))
				} else {
					l.placed = append(l.placed, id)
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

func (l *orderLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.placed) + len(l.failed)
}

// stop ends the load and returns the orders placed and the placements
// that failed.
func (l *orderLoad) stop() (placed, failed []string) {
	l.cancel()
	l.wg.Wait()
	return l.placed, l.failed
}

// more waits until the load has placed n more orders.
func (l *orderLoad) more(s *stack, n int, within time.Duration) {
	s.t.Helper()
	from := l.count()
	err := poll.For(context.Background(), within, poll.Every(time.Second), func(context.Context) (bool, error) {
		return l.count() >= from+n, nil
	})
	if err != nil {
		s.t.Fatalf("fewer than %d orders placed in %s", n, within)
	}
}

// summary is `starter verify --json`.
type summary struct {
	OK      bool `json:"ok"`
	Results []struct {
		Mode   string `json:"mode"`
		Orders int    `json:"orders"`
	} `json:"results"`
	Violations []struct {
		Kind, Engine, Message string
		OrderID               string `json:"order_id"`
	} `json:"violations"`
}

// verified runs `starter verify --json` until it is OK (orders still
// finishing count as violations until they end), and returns its summary.
func (s *stack) verified(within time.Duration) summary {
	s.t.Helper()
	var last summary
	var lastOut string
	err := poll.For(context.Background(), within, poll.Every(5*time.Second), func(context.Context) (bool, error) {
		out, _ := s.starter("verify", "--json")
		lastOut = out
		last = summary{}
		if i := strings.Index(out, "{"); i >= 0 {
			_ = json.Unmarshal([]byte(out[i:]), &last)
		}
		return last.OK, nil
	})
	if err != nil {
		s.t.Fatalf("verify not OK after %s:\n%s", within, lastOut)
	}
	return last
}

func (v summary) orders() map[string]int {
	m := map[string]int{}
	for _, r := range v.Results {
		m[r.Mode] = r.Orders
	}
	return m
}

// networkCut disconnects service's container from the project's network;
// the function it returns connects it again under its service name.
func (s *stack) networkCut(service string) (reconnect func()) {
	t := s.t
	network := s.project + "_default"
	container := strings.TrimSpace(s.must(time.Minute, "ps", "-q", service))
	if out, err := exec.Command("docker", "network", "disconnect", network, container).CombinedOutput(); err != nil {
		t.Fatalf("docker network disconnect %s: %v\n%s", service, err, out)
	}
	done := false
	reconnect = func() {
		if done {
			return
		}
		done = true
		if out, err := exec.Command("docker", "network", "connect", "--alias", service, network, container).CombinedOutput(); err != nil {
			t.Errorf("docker network connect %s: %v\n%s", service, err, out)
		}
	}
	t.Cleanup(reconnect)
	return reconnect
}

// clusterPartition cuts a Redis Cluster master off the project's network
// while orders are placed without pause on both engines, for longer than
// the cluster node timeout (5 s): its replica takes over. Then it connects
// the old master again (under a new IP address, found by its name): it
// rejoins as the new master's replica. No placement fails, and every order
// placed is there at the end, terminal, with every invariant holding.
func (s *stack) clusterPartition() {
	t := s.t
	before := s.verified(3 * time.Minute).orders()
	observer := "redis-node-6"
	master, replica := s.masterAndReplica(observer)
	l := s.placing()
	defer l.stop()
	l.more(s, 2, 5*time.Minute)
	cut := time.Now()
	reconnect := s.networkCut(master)
	s.until(2*time.Minute, "the replica "+replica+" takes over from "+master, func() bool {
		nodes, err := s.clusterNodes(observer)
		return err == nil && slices.ContainsFunc(nodes, func(n clusterNode) bool { return n.name == replica && n.isMaster }) &&
			slices.ContainsFunc(nodes, func(n clusterNode) bool { return n.name == master && n.failed })
	})
	failover := time.Since(cut)
	l.more(s, 4, 5*time.Minute)
	reconnect()
	rejoin := time.Now()
	s.until(3*time.Minute, master+" rejoins as "+replica+"'s replica, in sync", func() bool {
		return s.role(master) == "slave link up"
	})
	t.Logf("%s cut off for %s: %s master after %s; %s back in sync as a replica %s after it was connected again",
		master, rejoin.Sub(cut).Round(time.Second), replica, failover.Round(time.Second), master, time.Since(rejoin).Round(time.Second))
	l.more(s, 2, 5*time.Minute)
	placed, failed := l.stop()
	for _, f := range failed {
		t.Errorf("a placement failed across the partition: %s", f)
	}
	after := s.verified(5 * time.Minute).orders()
	for _, m := range bothModes {
		if got := after[m] - before[m]; got != len(placed) {
			t.Errorf("%s: %d orders more than before, want the %d placed", m, got, len(placed))
		}
	}
	t.Logf("%d orders placed on both engines across the partition, every one terminal, verify OK", len(placed))
}

// until polls cond every 2 s until it holds, or fails the test naming what.
func (s *stack) until(within time.Duration, what string, cond func() bool) {
	s.t.Helper()
	teststack.Eventually(s.t, within, 2*time.Second, func() error {
		if !cond() {
			return fmt.Errorf("%s: not within %s", what, within)
		}
		return nil
	})
}
