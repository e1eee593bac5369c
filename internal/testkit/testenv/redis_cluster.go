package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
)

// RedisCluster is a Redis Cluster of masters, each with ClusterOptions.Replicas
// replicas, each node a redis-server started by LaunchRedis in a data
// directory of its own. Nodes lists the masters first, then the replicas,
// as they were created; a failover changes the roles (see Masters).
type RedisCluster struct {
	Nodes []*RedisServer
	// AppPassword and AdminPassword are those of the ACL every node loads,
	// when ClusterOptions set them.
	AppPassword, AdminPassword string
	masters                    int
	tb                         testing.TB
}

// ClusterOptions tune LaunchRedisCluster.
type ClusterOptions struct {
	// Masters is how many masters share the slots; at least 3.
	Masters int
	// Replicas is how many replicas each master has (0: none). A replica
	// takes over its master's slots when the master is down for longer
	// than the cluster node timeout (2s).
	Replicas int
	// AppendOnly turns the AOF on, fsynced at every write, so that a killed
	// master restarts with every write it acknowledged.
	AppendOnly bool
	// Args are extra arguments for every node.
	Args []string
	// AdminPassword, when set, makes every node load the project's ACL file
	// with these passwords (see RenderRedisACL).
	AppPassword, AdminPassword string
}

// ClusterReady bounds how long a cluster may take to report cluster_state:ok.
const ClusterReady = 30 * time.Second

// LaunchRedisCluster starts opts.Masters redis-servers in cluster mode on
// free ports, assigns the slots with `redis-cli --cluster create`, and waits
// until every node reports cluster_state:ok. The caller stops it with Stop.
func LaunchRedisCluster(opts ClusterOptions) (*RedisCluster, error) {
	if opts.Masters < 3 {
		return nil, fmt.Errorf("a Redis Cluster needs at least 3 masters, got %d", opts.Masters)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("redis-cli (apt-get install -y redis-tools) %w", ErrMissing)
	}
	c := &RedisCluster{AppPassword: opts.AppPassword, AdminPassword: opts.AdminPassword, masters: opts.Masters}
	acl := ""
	if opts.AdminPassword != "" {
		if acl, err = RenderRedisACL(opts.AppPassword, opts.AdminPassword); err != nil {
			return nil, err
		}
	}
	for range opts.Masters * (1 + opts.Replicas) {
		n, err := launchNode(opts, acl)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(opts.Replicas), "--cluster-yes")
	create := exec.Command(cli, args...)
	DieWithParent(create)
	if opts.AdminPassword != "" {
		create.Env = append(os.Environ(), "REDISCLI_AUTH="+opts.AdminPassword)
	}
	if out, err := create.CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %v: %s", err, out)
	}
	if err := c.WaitOK(context.Background()); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// launchNode starts one cluster node with a free cluster bus port.
func launchNode(opts ClusterOptions, acl string) (*RedisServer, error) {
	bus, err := FreePortErr()
	if err != nil {
		return nil, err
	}
	args := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", "2000", "--cluster-port", strconv.Itoa(bus)}
	if opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	if opts.Replicas > 0 {
		// A replica syncs at once, and logs in to its master as the
		// administrator.
		args = append(args, "--repl-diskless-sync-delay", "0")
		if opts.AdminPassword != "" {
			args = append(args, "--masteruser", "default", "--masterauth", opts.AdminPassword)
		}
	}
	return LaunchRedis(RedisOptions{Args: append(args, opts.Args...), ACL: acl, AdminPassword: opts.AdminPassword})
}

// StartRedisCluster starts a cluster for one test (see LaunchRedisCluster)
// and stops it when the test ends. Missing binaries skip the test, or fail
// it under CI=true.
func StartRedisCluster(tb testing.TB, opts ClusterOptions) *RedisCluster {
	tb.Helper()
	c, err := LaunchRedisCluster(opts)
	if err != nil {
		MissingErr(tb, err)
	}
	c.tb = tb
	for _, n := range c.Nodes {
		n.tb = tb
	}
	tb.Cleanup(c.Stop)
	return c
}

// Addrs are the nodes' host:port addresses.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// URL is the cluster in go-redis's URL form (REDIS_CLUSTER_URL),
// redis://host1:port1?addr=host2:port2&addr=host3:port3, as RedisAppUser
// when the cluster has the ACL.
func (c *RedisCluster) URL() string { return c.URLAs(RedisAppUser) }

// URLAs is URL as one of the application's users (see RedisUsers).
func (c *RedisCluster) URLAs(user string) string {
	u := &url.URL{Scheme: "redis", Host: c.Nodes[0].Addr}
	if c.AdminPassword != "" {
		u.User = url.UserPassword(user, RedisPassword(c.AppPassword, user))
	}
	q := url.Values{}
	for _, a := range c.Addrs()[1:] {
		q.Add("addr", a)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Client returns a new cluster client (as the default user), closed when
// the test ends (for a cluster of a whole test binary, by the caller).
func (c *RedisCluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), Password: c.AdminPassword})
	if c.tb != nil {
		c.tb.Cleanup(func() { _ = cc.Close() })
	}
	return cc
}

// Node returns the index of the node at addr, or -1.
func (c *RedisCluster) Node(addr string) int {
	for i, n := range c.Nodes {
		if n.Addr == addr {
			return i
		}
	}
	return -1
}

// Kill kills node i (SIGKILL); its data directory, AOF and cluster
// configuration stay for Restart.
func (c *RedisCluster) Kill(i int) { c.Nodes[i].Kill() }

// RestartErr starts node i again on its port and data directory, so it
// loads its AOF and rejoins (a master whose replica took over while it was
// down rejoins as that replica's replica), and waits for cluster_state:ok.
func (c *RedisCluster) RestartErr(i int) error {
	if err := c.Nodes[i].RestartErr(); err != nil {
		return err
	}
	return c.WaitOK(context.Background())
}

// Restart is RestartErr for a cluster of a test: it fails the test.
func (c *RedisCluster) Restart(i int) {
	if err := c.RestartErr(i); err != nil {
		if c.tb == nil {
			panic(err)
		}
		c.tb.Helper()
		c.tb.Fatalf("restart master %d: %v", i, err)
	}
}

// WaitOK waits until every node reports cluster_state:ok with all its
// peers known and every replica is in sync with its master, or
// ClusterReady has passed.
func (c *RedisCluster) WaitOK(ctx context.Context) error { return c.waitOK(ctx, -1) }

// WaitFailover waits until, without the killed node down, there are as
// many masters as the cluster was created with and every other node reports
// cluster_state:ok: a replica has taken over down's slots.
func (c *RedisCluster) WaitFailover(ctx context.Context, down int) error { return c.waitOK(ctx, down) }

func (c *RedisCluster) waitOK(ctx context.Context, down int) error {
	var last string
	err := poll.For(ctx, ClusterReady, poll.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}, func(ctx context.Context) (bool, error) {
		if down >= 0 {
			masters := c.Masters(ctx)
			if n := len(masters); n != c.masters || slices.Contains(masters, down) {
				last = fmt.Sprintf("masters %v, want %d without node %d", masters, c.masters, down)
				return false, nil
			}
		}
		for i, n := range c.Nodes {
			if i == down {
				continue
			}
			info, err := clusterInfo(ctx, n.Addr, c.AdminPassword)
			if err != nil {
				last = fmt.Sprintf("%s: %v", n.Addr, err)
				return false, nil
			}
			known := strconv.Itoa(len(c.Nodes))
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+known) ||
				(strings.Contains(info, "role:slave") && !strings.Contains(info, "master_link_status:up")) {
				last = fmt.Sprintf("%s: %s", n.Addr, strings.Join(strings.Fields(info), " "))
				return false, nil
			}
		}
		return true, nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the cluster did not report cluster_state:ok within %s: %s", ClusterReady, last)
	}
	return err
}

// Masters returns the indexes of the nodes that are masters now; a node
// that does not answer (killed) is left out.
func (c *RedisCluster) Masters(ctx context.Context) []int {
	var out []int
	for i, n := range c.Nodes {
		rc := redis.NewClient(&redis.Options{Addr: n.Addr, Password: c.AdminPassword, MaxRetries: -1, DialTimeout: time.Second})
		role, err := rc.Do(ctx, "ROLE").Slice()
		_ = rc.Close()
		if err != nil {
			continue
		}
		if len(role) > 0 && role[0] == "master" {
			out = append(out, i)
		}
	}
	return out
}

// clusterInfo is a node's CLUSTER INFO and INFO replication.
func clusterInfo(ctx context.Context, addr, password string) (string, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return "", err
	}
	repl, err := c.Info(ctx, "replication").Result()
	return info + repl, err
}

// Stop kills every node and removes their data directories.
func (c *RedisCluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}
