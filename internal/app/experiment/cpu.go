package experiment

import (
	"context"
	"errors"
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

// procStat is what the CPU readings take from a /proc/PID/stat line.
type procStat struct {
	ppid   int           // the parent's PID (field 4)
	cpu    time.Duration // utime + stime (fields 14 and 15)
	waited time.Duration // cutime + cstime (16 and 17): children that exited and were waited for
}

// parseStat reads a /proc/PID/stat line.
func parseStat(s string) (procStat, error) {
	// The command name (field 2) may hold spaces and parentheses: count
	// from its last ")".
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("no command name")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3, the state
	if len(f) < 15 {
		return procStat{}, errors.New("too few fields")
	}
	var n [5]int64
	for j, k := range []int{1, 11, 12, 13, 14} { // fields 4, 14, 15, 16, 17
		v, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			return procStat{}, err
		}
		n[j] = v
	}
	tick := func(t int64) time.Duration { return time.Duration(t) * time.Second / clockTicks }
	return procStat{ppid: int(n[0]), cpu: tick(n[1] + n[2]), waited: tick(n[3] + n[4])}, nil
}

// readStat reads /proc/PID/stat; pid 0 is this process.
func readStat(pid int) (procStat, error) {
	name := "/proc/self/stat"
	if pid != 0 {
		name = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return procStat{}, err
	}
	st, err := parseStat(string(b))
	if err != nil {
		return procStat{}, fmt.Errorf("%s: %w", name, err)
	}
	return st, nil
}

// procTable is every process in /proc by PID. A process that ends while
// /proc is read is left out.
func procTable() (map[int]procStat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := make(map[int]procStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if st, err := readStat(pid); err == nil {
			out[pid] = st
		}
	}
	return out, nil
}

// procCPU is the CPU time (user and system) a process and its children
// have used: a server that forks workers (PostgreSQL's postmaster and its
// backends) counts with them. It sums, over the process and its live
// descendants, each one's own time and that of its children that exited
// and were waited for, so the sum does not drop when a child ends and its
// parent reaps it. A descendant whose parent ends before it is handed to
// init and leaves the tree with its time.
//
// Pid 0 is this process alone, its goroutines' threads included: the
// processes it starts (the change experiment's workers) are reported
// apart, so neither they nor those of them that ended count here.
func procCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		st, err := readStat(0)
		return st.cpu, err
	}
	all, err := procTable()
	if err != nil {
		return 0, err
	}
	if _, ok := all[pid]; !ok {
		st, err := readStat(pid) // for its error: gone, or never there
		if err != nil {
			return 0, err
		}
		all[pid] = st
	}
	kids := map[int][]int{}
	for p, st := range all {
		kids[st.ppid] = append(kids[st.ppid], p)
	}
	var total time.Duration
	seen := map[int]bool{}
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		p := queue[0]
		if seen[p] { // a PID taken again while /proc was read
			continue
		}
		seen[p] = true
		total += all[p].cpu + all[p].waited
		queue = append(queue, kids[p]...)
	}
	return total, nil
}

// nodeCPU is the CPU time one Redis server reports it used (INFO cpu,
// user and system). It needs no PID, so it serves for a Redis on another
// machine too.
func nodeCPU(ctx context.Context, c *redis.Client) (time.Duration, error) {
	info, err := c.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("INFO cpu %s: %w", k, err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second)), nil
}

// masterCPUs is the CPU time each master reports (nodeCPU), by address:
// one entry on one Redis. A master that does not answer is left out, and
// its error returned.
func masterCPUs(ctx context.Context, rdb redis.UniversalClient) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex // ForEachMaster runs f on the masters at once
		err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			d, err := nodeCPU(ctx, m)
			if err == nil {
				mu.Lock()
				out[m.Options().Addr] = d
				mu.Unlock()
			}
			return err
		})
		return out, err
	case *redis.Client:
		d, err := nodeCPU(ctx, c)
		if err == nil {
			out[c.Options().Addr] = d
		}
		return out, err
	}
	return nil, fmt.Errorf("INFO cpu: a %T is neither one Redis nor a cluster", rdb)
}

// cpuMeter reads the CPU time of the processes an experiment watches.
type cpuMeter struct {
	rdb   redis.UniversalClient
	procs map[string]int
}

// read returns each watched process's CPU time so far: "redis" from INFO
// (summed over a cluster's masters), each named PID from /proc with its
// children (procCPU: PostgreSQL's backends count with the postmaster),
// "starter (participants and load)" this process alone; and, on a cluster,
// each master's, by address (nil on one Redis).
func (m cpuMeter) read(ctx context.Context) (procs, masters map[string]time.Duration) {
	procs = map[string]time.Duration{}
	if byMaster, err := masterCPUs(ctx, m.rdb); err == nil {
		var sum time.Duration
		for _, d := range byMaster {
			sum += d
		}
		procs["redis"] = sum
		if _, cluster := m.rdb.(*redis.ClusterClient); cluster {
			masters = byMaster
		}
	}
	for name, pid := range m.procs {
		if d, err := procCPU(pid); err == nil {
			procs[name] = d
		}
	}
	if d, err := procCPU(0); err == nil {
		procs[selfName] = d
	}
	return procs, masters
}

// selfName names this process among the CPU readings.
const selfName = "starter (participants and load)"
