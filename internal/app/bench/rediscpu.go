package bench

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// redisUsage is what Redis reports of the work it did, summed over every
// master: its CPU time (INFO cpu: used_cpu_sys + used_cpu_user) and, per
// command, its calls and time (INFO commandstats). Two samples taken around
// a run give the run's share by difference.
type redisUsage struct {
	cpuSeconds float64
	commands   map[string]commandUsage
}

// commandUsage is one command's calls and the µs Redis spent in them.
type commandUsage struct {
	calls int64
	usec  int64
}

// sampleRedis reads the usage of every master of rdb.
func sampleRedis(ctx context.Context, rdb redis.UniversalClient) (redisUsage, error) {
	total := redisUsage{commands: map[string]commandUsage{}}
	var mu sync.Mutex
	one := func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "cpu", "commandstats").Result()
		if err != nil {
			return fmt.Errorf("redis INFO cpu commandstats: %w", err)
		}
		u := parseUsage(info)
		mu.Lock()
		defer mu.Unlock()
		total = total.plus(u)
		return nil
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, one)
	case *redis.Client:
		err = one(ctx, c)
	default:
		err = fmt.Errorf("redis usage: unsupported client %T", rdb)
	}
	return total, err
}

// parseUsage reads the cpu and commandstats sections of an INFO reply.
func parseUsage(info string) redisUsage {
	u := redisUsage{commands: map[string]commandUsage{}}
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			u.cpuSeconds += f
			continue
		}
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		var c commandUsage
		for field := range strings.SplitSeq(v, ",") {
			fk, fv, _ := strings.Cut(field, "=")
			n, _ := strconv.ParseInt(fv, 10, 64)
			switch fk {
			case "calls":
				c.calls = n
			case "usec":
				c.usec = n
			}
		}
		u.commands[name] = c
	}
	return u
}

// plus is u and o added up.
func (u redisUsage) plus(o redisUsage) redisUsage {
	out := redisUsage{cpuSeconds: u.cpuSeconds + o.cpuSeconds, commands: map[string]commandUsage{}}
	for _, m := range []map[string]commandUsage{u.commands, o.commands} {
		for name, c := range m {
			s := out.commands[name]
			out.commands[name] = commandUsage{calls: s.calls + c.calls, usec: s.usec + c.usec}
		}
	}
	return out
}

// minus is what happened between sample before and u.
func (u redisUsage) minus(before redisUsage) redisUsage {
	out := redisUsage{cpuSeconds: u.cpuSeconds - before.cpuSeconds, commands: map[string]commandUsage{}}
	for name, c := range u.commands {
		b := before.commands[name]
		if d := (commandUsage{calls: c.calls - b.calls, usec: c.usec - b.usec}); d.calls > 0 {
			out.commands[name] = d
		}
	}
	return out
}

// RedisCPU is the Redis work of a run, per saga: the CPU time Redis used
// while the run went (INFO cpu, every master) and what each command took
// (INFO commandstats). Commands a script runs count both in their own row
// and in the script's (evalsha).
type RedisCPU struct {
	// Seconds is Redis's CPU time over the run (used_cpu_sys + used_cpu_user).
	Seconds float64 `json:"cpu_s"`
	// PerSaga is that time per saga, in µs.
	PerSaga  float64      `json:"per_saga_us"`
	Commands []CommandCPU `json:"commands"`
}

// CommandCPU is one command's share of a run, per saga.
type CommandCPU struct {
	Command string  `json:"command"`
	Calls   int64   `json:"calls"`
	Usec    int64   `json:"usec"`
	PerSaga float64 `json:"calls_per_saga"`
	// UsecPerSaga is the µs Redis spent in the command per saga.
	UsecPerSaga float64 `json:"us_per_saga"`
}

// perSaga turns a usage of n sagas into a RedisCPU, the costliest commands first.
func (u redisUsage) perSaga(n int) *RedisCPU {
	if n <= 0 {
		return nil
	}
	out := &RedisCPU{Seconds: u.cpuSeconds, PerSaga: u.cpuSeconds * 1e6 / float64(n), Commands: []CommandCPU{}}
	for name, c := range u.commands {
		out.Commands = append(out.Commands, CommandCPU{
			Command: name, Calls: c.calls, Usec: c.usec,
			PerSaga: float64(c.calls) / float64(n), UsecPerSaga: float64(c.usec) / float64(n),
		})
	}
	slices.SortFunc(out.Commands, func(a, b CommandCPU) int {
		return cmp.Or(cmp.Compare(b.Usec, a.Usec), strings.Compare(a.Command, b.Command))
	})
	return out
}

// topText says the costliest commands of r in one line.
func (r *RedisCPU) topText(k int) string {
	var parts []string
	for _, c := range r.Commands[:min(k, len(r.Commands))] {
		parts = append(parts, fmt.Sprintf("%s %.1f×/%.0fµs", c.Command, c.PerSaga, c.UsecPerSaga))
	}
	return strings.Join(parts, ", ")
}
