package config

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// ErrRedisFull is wrapped by the error of every command a full Redis
// refuses (OOM: used memory over maxmemory, and noeviction refuses writes
// rather than deleting keys). Nothing of the refused command happened, and
// a Lua script refused this way wrote nothing.
var ErrRedisFull = errors.New("redis is full")

// FullError is a write refused because Redis is full: the server's own
// error, with what to do about it.
type FullError struct{ Err error }

func (e *FullError) Error() string {
	return "redis is full, and refuses writes rather than evicting (" + e.Err.Error() + "): raise its maxmemory " +
		"(REDIS_MAXMEMORY with make up and Compose), or shorten the worker's --order-retention so that settling frees memory"
}

// Unwrap gives both ErrRedisFull and the server's error (for
// redis.HasErrorPrefix).
func (e *FullError) Unwrap() []error { return []error{ErrRedisFull, e.Err} }

// fullHook turns the OOM errors of the commands of a client into
// FullErrors.
type fullHook struct{}

func (fullHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (fullHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return asFull(next(ctx, cmd)) // the client sets it on cmd
	}
}

func (fullHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if isOOM(cmd.Err()) {
				cmd.SetErr(asFull(cmd.Err()))
			}
		}
		return asFull(err)
	}
}

// asFull wraps err in a FullError when Redis refused a write as full.
func asFull(err error) error {
	if !isOOM(err) {
		return err
	}
	return &FullError{Err: err}
}

// isOOM reports whether err is Redis's OOM refusal, not yet wrapped.
func isOOM(err error) bool {
	return err != nil && !errors.Is(err, ErrRedisFull) && redis.HasErrorPrefix(err, "OOM")
}

// Writable returns a FullError when a master of rdb is full: its used
// memory, less what Redis does not count against maxmemory (replication
// and AOF buffers), is over its maxmemory, the test Redis itself makes
// before it refuses a write with OOM. It asks every master (INFO memory),
// so a placement that would start work the participants cannot write is
// refused before anything starts. Only a node found full is an error: a
// node that cannot be asked (unreachable in a failover, or a user that may
// not run INFO under EnvAllowEviction) is left to the placement's own
// writes, which ride out a failover and fail with a FullError themselves.
func Writable(ctx context.Context, rdb redis.UniversalClient) error {
	check := func(ctx context.Context, node *redis.Client) error {
		info, err := node.Info(ctx, "memory").Result()
		if err != nil {
			return nil
		}
		return overMaxmemory(node.Options().Addr, info)
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		if err := c.ForEachMaster(ctx, check); errors.Is(err, ErrRedisFull) {
			return err
		}
		return nil
	case *redis.Client:
		return check(ctx, c)
	default:
		return nil
	}
}

// overMaxmemory is the FullError of the node at addr when its INFO memory
// reply shows it over maxmemory, nil otherwise.
func overMaxmemory(addr, info string) error {
	num := func(field string) int64 {
		n, _ := strconv.ParseInt(infoField(info, field), 10, 64)
		return n
	}
	limit, used := num("maxmemory"), num("used_memory")-num("mem_not_counted_for_evict")
	if limit <= 0 || used <= limit {
		return nil
	}
	return &FullError{Err: fmt.Errorf("OOM at %s: used memory %d bytes over maxmemory %d", addr, used, limit)}
}
