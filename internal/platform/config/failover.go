package config

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
)

// FailoverBudget bounds how long a command to a Redis Cluster waits out a
// failover when its context has no deadline of its own: longer than the
// cluster node timeout (5s with make up) plus a replica's election.
const FailoverBudget = 20 * time.Second

// RedisThroughFailover is Redis for a process that must ride out a Redis
// Cluster failover: a cluster that does not answer (a master just died and
// no replica has taken over yet) is asked again for up to FailoverBudget
// before the process gives up, and the client it returns retries as
// RetryFailover says. One Redis is asked once.
func (c *Config) RedisThroughFailover(ctx context.Context) (redis.UniversalClient, error) {
	if c.RedisClusterURL == "" {
		return c.Redis(ctx)
	}
	var rdb redis.UniversalClient
	var last error
	err := poll.For(ctx, FailoverBudget, poll.Backoff{Min: 200 * time.Millisecond, Max: time.Second}, func(ctx context.Context) (bool, error) {
		var err error
		if rdb, err = c.Redis(ctx); errors.Is(err, ErrUnreachable) {
			last = err
			return false, nil
		}
		return err == nil, err
	})
	if err != nil && last != nil {
		return nil, last
	}
	if err != nil {
		return nil, err
	}
	return RetryFailover(rdb), nil
}

// RetryFailover makes a cluster client ride out a failover: a command that
// fails with an error saying it did not run (CLUSTERDOWN, TRYAGAIN, MOVED or
// ASK after go-redis's own redirects, LOADING, MASTERDOWN, READONLY, a
// connection refused, no free connection) is tried again, with the slot map
// reloaded first, until its context ends or FailoverBudget has passed. A
// command whose connection broke after it was sent is not: it may have run
// (go-redis retries that once itself). Pipelines are not retried. Any other
// client is returned as it is.
func RetryFailover(rdb redis.UniversalClient) redis.UniversalClient {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		cc.AddHook(failoverHook{cc: cc, budget: FailoverBudget})
	}
	return rdb
}

type failoverHook struct {
	cc     *redis.ClusterClient
	budget time.Duration
}

func (h failoverHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h failoverHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h failoverHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if !notRun(err) {
			return err
		}
		deadline := time.Now().Add(h.budget)
		if d, ok := ctx.Deadline(); ok {
			deadline = d
		}
		wait := 50 * time.Millisecond
		for notRun(err) && time.Now().Add(wait).Before(deadline) {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
			wait = min(2*wait, 500*time.Millisecond)
			h.cc.ReloadState(ctx)
			cmd.SetErr(nil)
			err = next(ctx, cmd)
		}
		return err
	}
}

// notRun reports whether err says the command did not run: the cluster
// could not take it, or no connection was made for it.
func notRun(err error) bool {
	if err == nil {
		return false
	}
	for _, prefix := range []string{"CLUSTERDOWN", "TRYAGAIN", "MOVED", "ASK", "LOADING", "MASTERDOWN", "READONLY"} {
		if redis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	var op *net.OpError
	return (errors.As(err, &op) && op.Op == "dial") || errors.Is(err, redis.ErrPoolTimeout)
}
