package config

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// EnvAllowEviction, set to 1, lets the processes run on a Redis whose
// maxmemory-policy may evict keys, with a warning: for those who accept
// that a full Redis then deletes orders, stream entries and stock without
// an error.
const EnvAllowEviction = "ORDERSAGA_ALLOW_EVICTION"

// NoEviction is the one maxmemory-policy the project runs under: a full
// Redis refuses writes (OOM) instead of deleting keys.
const NoEviction = "noeviction"

// EvictionError refuses a Redis node whose maxmemory-policy may evict keys
// (Policy set), or whose policy could not be read (Err set).
type EvictionError struct {
	Addr, Policy string
	Err          error
}

func (e *EvictionError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("redis at %s: cannot read maxmemory-policy with INFO memory (%v): the user needs +info, or set %s=1 to run without the check",
			e.Addr, e.Err, EnvAllowEviction)
	}
	return fmt.Sprintf("redis at %s has maxmemory-policy %s, which deletes keys (orders, stream entries, stock) when it is full: "+
		"set maxmemory-policy %s (in redis.conf, or CONFIG SET maxmemory-policy %s as an administrator), or accept the risk with %s=1",
		e.Addr, e.Policy, NoEviction, NoEviction, EnvAllowEviction)
}

func (e *EvictionError) Unwrap() error { return e.Err }

// evictionGuard checks every new connection's node (OnConnect): each node
// of a cluster, and a node that took over an address after a failover or a
// restart, is checked before a command runs on it. With allow set, a node
// that may evict (or that refuses INFO) is warned about once per address
// instead of refused.
type evictionGuard struct {
	allow  bool
	warned sync.Map // address → struct{}
}

func newEvictionGuard() *evictionGuard {
	return &evictionGuard{allow: os.Getenv(EnvAllowEviction) == "1"}
}

// onConnect is the OnConnect hook of the clients Config.Redis makes.
func (g *evictionGuard) onConnect(ctx context.Context, cn *redis.Conn) error {
	addr := connAddr(cn)
	info, err := cn.Info(ctx, "memory").Result()
	if err != nil {
		if g.allow {
			g.warnOnce(ctx, addr, "cannot read the eviction policy (INFO refused)", "error", err.Error())
			return nil
		}
		return &EvictionError{Addr: addr, Err: err}
	}
	policy := infoField(info, "maxmemory_policy")
	if policy == "" && !g.allow {
		return &EvictionError{Addr: addr, Err: errors.New("the reply names no maxmemory_policy")}
	}
	if policy == NoEviction {
		return nil
	}
	if g.allow {
		g.warnOnce(ctx, addr, "EVICTION ALLOWED: when this Redis is full it deletes keys (orders, stream entries, stock) without an error",
			"maxmemory_policy", policy, "override", EnvAllowEviction+"=1")
		return nil
	}
	return &EvictionError{Addr: addr, Policy: policy}
}

func (g *evictionGuard) warnOnce(ctx context.Context, addr, msg string, args ...any) {
	if _, done := g.warned.LoadOrStore(addr, struct{}{}); done {
		return
	}
	slog.WarnContext(ctx, msg, append([]any{"redis", addr}, args...)...)
}

// connAddr is the address of the node cn is connected to, from its
// String form "Redis<host:port db:N>".
func connAddr(cn *redis.Conn) string {
	s := strings.TrimSuffix(strings.TrimPrefix(cn.String(), "Redis<"), ">")
	addr, _, _ := strings.Cut(s, " ")
	return addr
}

// infoField is the value of field in an INFO reply ("" when absent).
func infoField(info, field string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), field+":"); ok {
			return v
		}
	}
	return ""
}

// checkEveryNode opens a connection to every node of a cluster (masters
// and replicas), so that the guard checks each before the process starts.
func checkEveryNode(ctx context.Context, rdb redis.UniversalClient) error {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return nil
	}
	return cc.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error {
		return node.Ping(ctx).Err()
	})
}
