package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// One launcher serves a test and a whole test binary: both answer as
// themselves, and a restart keeps what the AOF holds.
func TestRedisLauncher(t *testing.T) {
	ctx := context.Background()
	s := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	rdb := s.Client()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if got, err := rdb.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after a restart: %q, %v; want v from the AOF", got, err)
	}

	p, err := testenv.StartRedisProcess()
	if err != nil {
		testenv.MissingErr(t, err)
	}
	if p.Addr == s.Addr {
		t.Fatalf("two servers on %s", p.Addr)
	}
	c := p.Client()
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	p.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("the server answers after Stop")
	}
}

// A cluster of three masters: keys of different slots land on different
// masters, the URL reaches the whole cluster, and a killed master restarts
// from its AOF with its keys.
func TestRedisCluster(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, AppendOnly: true})
	rdb := c.Client()
	const n = 60
	for i := range n {
		if err := rdb.Set(ctx, fmt.Sprintf("{tag%d}:k", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	perNode := map[string]int64{}
	var mu sync.Mutex
	err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		k, err := m.DBSize(ctx).Result()
		mu.Lock()
		defer mu.Unlock()
		perNode[m.Options().Addr] = k
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for addr, k := range perNode {
		if k == 0 {
			t.Errorf("master %s holds no key: %v", addr, perNode)
		}
		total += k
	}
	if len(perNode) != 3 || total != n {
		t.Fatalf("keys per master %v, want %d keys over 3 masters", perNode, n)
	}

	opts, err := redis.ParseClusterURL(c.URL())
	if err != nil || len(opts.Addrs) != 3 {
		t.Fatalf("cluster URL %s: %v, %v", c.URL(), opts, err)
	}
	byURL := redis.NewClusterClient(opts)
	defer byURL.Close()
	if got, err := byURL.Get(ctx, "{tag7}:k").Result(); err != nil || got != "7" {
		t.Fatalf("through the URL: %q, %v", got, err)
	}

	owner, err := rdb.MasterForKey(ctx, "{tag7}:k")
	if err != nil {
		t.Fatal(err)
	}
	i := c.Node(owner.Options().Addr)
	if i < 0 {
		t.Fatalf("no node at %s", owner.Options().Addr)
	}
	c.Kill(i)
	if err := owner.Ping(ctx).Err(); err == nil {
		t.Fatal("the killed master still answers")
	}
	c.Restart(i)
	var got string
	err = poll.For(ctx, 10*time.Second, poll.Every(50*time.Millisecond), func(ctx context.Context) (bool, error) {
		got, err = rdb.Get(ctx, "{tag7}:k").Result()
		return err == nil || errors.Is(err, redis.Nil), nil
	})
	if err != nil || got != "7" {
		t.Fatalf("after restarting master %d: %q, %v; want 7 from its AOF", i, got, err)
	}
	node := redis.NewClient(&redis.Options{Addr: c.Nodes[i].Addr})
	defer node.Close()
	if keys, err := node.DBSize(ctx).Result(); err != nil || keys != perNode[c.Nodes[i].Addr] {
		t.Fatalf("restarted master holds %d keys (%v), want %d", keys, err, perNode[c.Nodes[i].Addr])
	}
	if !strings.HasPrefix(c.URL(), "redis://127.0.0.1:") {
		t.Fatalf("URL %s", c.URL())
	}
}
