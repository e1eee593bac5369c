package testenv

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of masters started from redis-server
// (cluster mode, slots assigned by redis-cli --cluster create), owned by a
// test. With passwords, every node loads the project's ACL file.
type RedisCluster struct {
	Nodes                      []*RedisServer
	AppPassword, AdminPassword string
}

// Addrs are the nodes' host:port.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// URL is the cluster's URL in go-redis's cluster form (REDIS_CLUSTER_URL),
// as the application user when the cluster has the ACL.
func (c *RedisCluster) URL() string {
	u := &url.URL{Scheme: "redis", Host: c.Nodes[0].Addr}
	if c.AppPassword != "" {
		u.User = url.UserPassword(RedisAppUser, c.AppPassword)
	}
	q := url.Values{}
	for _, a := range c.Addrs()[1:] {
		q.Add("addr", a)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// StartRedisCluster starts masters redis-servers in cluster mode with
// append-only files, assigns the slots and waits until the cluster is ok.
// adminPassword and appPassword, when set, load the ACL file on every node.
func StartRedisCluster(tb testing.TB, masters int, appPassword, adminPassword string) *RedisCluster {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Missing(tb, "redis-server (apt-get install -y redis-server)")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		Missing(tb, "redis-cli (apt-get install -y redis-tools)")
	}
	c := &RedisCluster{AppPassword: appPassword, AdminPassword: adminPassword}
	var acl string
	if adminPassword != "" {
		if acl, err = RenderRedisACL(appPassword, adminPassword); err != nil {
			tb.Fatal(err)
		}
	}
	for range masters {
		c.Nodes = append(c.Nodes, startClusterNode(tb, bin, acl, adminPassword))
	}
	cmd := exec.Command(cli, append(append([]string{"--cluster", "create"}, c.Addrs()...), "--cluster-replicas", "0", "--cluster-yes")...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+adminPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.Nodes {
		rc := redis.NewClient(&redis.Options{Addr: n.Addr, Password: adminPassword})
		for {
			info, err := rc.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				_ = rc.Close()
				tb.Fatalf("cluster node %s not ok: %v %s", n.Addr, err, info)
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = rc.Close()
	}
	return c
}

func startClusterNode(tb testing.TB, bin, acl, adminPassword string) *RedisServer {
	tb.Helper()
	s := &RedisServer{Dir: tb.TempDir(), tb: tb}
	s.Args = []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--dir", s.Dir,
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"}
	if acl != "" {
		path := filepath.Join(s.Dir, "users.acl")
		if err := os.WriteFile(path, []byte(acl), 0o600); err != nil {
			tb.Fatal(err)
		}
		s.Args = append(s.Args, "--aclfile", path)
	}
	tb.Cleanup(s.Stop)
	base := s.Args
	var err error
	for range 5 {
		// The cluster bus needs a port of its own, free as well.
		s.Args = append(base, "--cluster-port", strconv.Itoa(FreePort(tb)))
		if err = startAuthed(s, bin, FreePort(tb), adminPassword); err == nil {
			return s
		}
	}
	tb.Fatalf("start a cluster node: %v", err)
	return nil
}
