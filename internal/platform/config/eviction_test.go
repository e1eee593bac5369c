package config

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// TestEvictionPolicyRefused: as the application user (which may run INFO,
// not CONFIG), Redis refuses a node under allkeys-lru with one line naming
// the setting, the fix and the override; the override lets it through; and
// a node whose policy changes is refused on the next new connection.
func TestEvictionPolicyRefused(t *testing.T) {
	unsetTemporalEnv(t)
	ctx := context.Background()
	srv := testenv.StartRedisACL(t, "app-evict-pw", "admin-evict-pw", "--maxmemory-policy", "allkeys-lru")
	t.Setenv("REDIS_URL", srv.AppURL())

	_, err := FromEnv().Redis(ctx)
	var evict *EvictionError
	if !errors.As(err, &evict) || evict.Policy != "allkeys-lru" {
		t.Fatalf("Redis() under allkeys-lru: %v, want an EvictionError", err)
	}
	msg := err.Error()
	for _, want := range []string{srv.Addr, "maxmemory-policy allkeys-lru", "maxmemory-policy noeviction", EnvAllowEviction + "=1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, srv.AppPassword) {
		t.Errorf("error %q: want one line without the password", msg)
	}

	t.Setenv(EnvAllowEviction, "1")
	rdb, err := FromEnv().Redis(ctx)
	if err != nil {
		t.Fatalf("Redis() with %s=1: %v", EnvAllowEviction, err)
	}
	_ = rdb.Close()

	t.Setenv(EnvAllowEviction, "")
	admin := srv.AdminClient()
	if err := admin.ConfigSet(ctx, "maxmemory-policy", NoEviction).Err(); err != nil {
		t.Fatal(err)
	}
	rdb, err = FromEnv().Redis(ctx)
	if err != nil {
		t.Fatalf("Redis() under noeviction: %v", err)
	}
	defer rdb.Close()
	if err := admin.ConfigSet(ctx, "maxmemory-policy", "volatile-lru").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.ClientKillByFilter(ctx, "USER", testenv.RedisAppUser).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "ordersaga:evict-test", 1, 0).Err(); !errors.As(err, &evict) || evict.Policy != "volatile-lru" {
		t.Errorf("a write after a reconnect to a node now under volatile-lru: %v, want an EvictionError", err)
	}
}

// TestEvictionPolicyEveryClusterNode: one master of a cluster under
// allkeys-lru is enough to refuse the cluster, naming that master.
func TestEvictionPolicyEveryClusterNode(t *testing.T) {
	unsetTemporalEnv(t)
	cluster := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, AppPassword: "app-cluster-pw", AdminPassword: "admin-cluster-pw"})
	ctx := context.Background()
	bad := cluster.Nodes[2]
	if err := bad.Client().ConfigSet(ctx, "maxmemory-policy", "allkeys-random").Err(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDIS_CLUSTER_URL", cluster.URL())
	_, err := FromEnv().Redis(ctx)
	var evict *EvictionError
	if !errors.As(err, &evict) || evict.Addr != bad.Addr || evict.Policy != "allkeys-random" {
		t.Fatalf("Redis() on a cluster with %s under allkeys-random: %v", bad.Addr, err)
	}
}

// TestRedisWrongPassword: a Redis that runs but refuses the password is
// not reported unreachable, and the message points at the credentials.
func TestRedisWrongPassword(t *testing.T) {
	unsetTemporalEnv(t)
	srv := testenv.StartRedisACL(t, "app-auth-pw", "admin-auth-pw")
	t.Setenv("REDIS_URL", strings.Replace(srv.AppURL(), srv.AppPassword, "not-the-password", 1))
	_, err := FromEnv().Redis(context.Background())
	if !errors.Is(err, ErrRedisAuth) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("Redis() with a wrong password: %v, want ErrRedisAuth", err)
	}
	msg := err.Error()
	for _, want := range []string{srv.Addr, "WRONGPASS", "password in --redis-url/REDIS_URL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if strings.Contains(msg, "not-the-password") || strings.Contains(msg, "unreachable") || strings.Contains(msg, "make up (see") {
		t.Errorf("error %q: want no password, no 'unreachable', no start hint", msg)
	}
}
