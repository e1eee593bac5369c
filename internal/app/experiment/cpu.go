package experiment

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times.
const clockTicks = 100

// procCPU is the CPU time (user and system) a process has used, from
// /proc/PID/stat; pid 0 is this process.
func procCPU(pid int) (time.Duration, error) {
	name := "/proc/self/stat"
	if pid != 0 {
		name = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ")".
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: too few fields", name)
	}
	var ticks int64
	for _, v := range f[11:13] { // utime, stime: fields 14 and 15
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// redisCPU is the CPU time Redis reports it used (INFO cpu, user and
// system), summed over the masters of a cluster. It needs no PID, so it
// serves for a Redis on another machine too.
func redisCPU(ctx context.Context, rdb redis.UniversalClient) (time.Duration, error) {
	var total float64
	read := func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "cpu").Result()
		if err != nil {
			return err
		}
		for line := range strings.SplitSeq(info, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			if k == "used_cpu_user" || k == "used_cpu_sys" {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return fmt.Errorf("INFO cpu %s: %w", k, err)
				}
				total += f
			}
		}
		return nil
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex // ForEachMaster runs f on the masters at once
		err = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return read(ctx, m)
		})
	case *redis.Client:
		err = read(ctx, c)
	default:
		err = fmt.Errorf("INFO cpu: a %T is neither one Redis nor a cluster", rdb)
	}
	return time.Duration(total * float64(time.Second)), err
}

// cpuMeter reads the CPU time of the processes an experiment watches.
type cpuMeter struct {
	rdb   redis.UniversalClient
	procs map[string]int
}

// read returns each watched process's CPU time so far: "redis" from INFO,
// the named PIDs from /proc, "starter (participants and load)" this process.
func (m cpuMeter) read(ctx context.Context) map[string]time.Duration {
	out := map[string]time.Duration{}
	if d, err := redisCPU(ctx, m.rdb); err == nil {
		out["redis"] = d
	}
	for name, pid := range m.procs {
		if d, err := procCPU(pid); err == nil {
			out[name] = d
		}
	}
	if d, err := procCPU(0); err == nil {
		out[selfName] = d
	}
	return out
}

// selfName names this process among the CPU readings.
const selfName = "starter (participants and load)"
