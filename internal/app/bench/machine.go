package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ordersaga/ordersaga/internal/app/admin"
)

// DescribeMachine describes this machine and the servers the run measured:
// their versions and how they keep their data.
func DescribeMachine(ctx context.Context, eng *admin.EngineSet, stack string) Machine {
	m := Machine{
		Stack: stack, CPUs: runtime.NumCPU(), CPUModel: cpuModel(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version(),
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	if eng.Redis != nil {
		m.RedisVersion = infoField(ctx, eng.Redis, "server", "redis_version")
		m.RedisPersistence = redisPersistence(ctx, eng.Redis)
	}
	if eng.Temporal != nil {
		describeTemporal(ctx, eng.Temporal, &m)
	}
	return m
}

// cpuModel is the first "model name" of /proc/cpuinfo, where there is one.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// infoField reads one field of a section of Redis's INFO; "" when unknown.
func infoField(ctx context.Context, rdb redis.UniversalClient, section, field string) string {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// redisPersistence says how Redis keeps its data: its append-only file and
// fsync policy, and its RDB snapshots. CONFIG may be refused to a limited
// user; INFO still tells whether the append-only file is on.
func redisPersistence(ctx context.Context, rdb redis.UniversalClient) string {
	aof := infoField(ctx, rdb, "persistence", "aof_enabled")
	if aof == "" {
		return ""
	}
	cfg := func(name string) (string, bool) {
		m, err := rdb.ConfigGet(ctx, name).Result()
		if err != nil {
			return "", false
		}
		v, ok := m[name]
		return v, ok
	}
	var parts []string
	if aof == "1" {
		p := "an append-only file"
		if fsync, ok := cfg("appendfsync"); ok {
			p += " (appendfsync " + fsync + ")"
		}
		parts = append(parts, p)
	}
	save, ok := cfg("save")
	switch {
	case ok && save != "":
		parts = append(parts, "RDB snapshots")
	case !ok && aof != "1":
		parts = append(parts, "no append-only file (RDB snapshots unknown)")
	}
	if len(parts) == 0 {
		return "no persistence"
	}
	return strings.Join(parts, ", ")
}

// describeTemporal adds the Temporal server's version, its persistence
// store and its number of history shards.
func describeTemporal(ctx context.Context, c client.Client, m *Machine) {
	m.TemporalSDK = temporal.SDKVersion
	svc := c.WorkflowService()
	ci, ciErr := svc.GetClusterInfo(ctx, &workflowservice.GetClusterInfoRequest{})
	if ciErr == nil {
		m.TemporalPersistence = ci.GetPersistenceStore()
		if v := ci.GetVisibilityStore(); v != "" && v != m.TemporalPersistence {
			m.TemporalPersistence += fmt.Sprintf(" (visibility on %s)", v)
		}
		m.TemporalShards = int(ci.GetHistoryShardCount())
	}
	if r, err := svc.GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{}); err == nil && r.GetServerVersion() != "" {
		m.TemporalVersion, m.TemporalVersionFrom = r.GetServerVersion(), "GetSystemInfo"
	} else if ciErr == nil && ci.GetServerVersion() != "" {
		m.TemporalVersion, m.TemporalVersionFrom = ci.GetServerVersion(), "GetClusterInfo"
	} else {
		m.TemporalVersion, m.TemporalVersionFrom = "unknown", "the server reported no version"
	}
}

// StackText names in one line the stack a run measured: the label given
// (e.g. "make up"), the machine, Redis and the Temporal server with how
// they keep their data. Every figure a report shows carries it.
func (m Machine) StackText() string {
	var parts []string
	if m.Stack != "" {
		parts = append(parts, m.Stack)
	}
	cpu := fmt.Sprintf("%d CPUs", m.CPUs)
	if m.CPUModel != "" {
		cpu += " (" + m.CPUModel + ")"
	}
	cpu += ", " + m.OS + "/" + m.Arch
	if m.LoadAverage != "" {
		cpu += ", load " + m.LoadAverage + " at the start"
	}
	parts = append(parts, cpu)
	if m.RedisVersion != "" {
		r := "Redis " + m.RedisVersion
		if m.RedisPersistence != "" {
			r += " with " + m.RedisPersistence
		}
		parts = append(parts, r)
	}
	if m.TemporalVersion != "" {
		t := "Temporal server " + m.TemporalVersion
		if m.TemporalPersistence != "" {
			t += " on " + m.TemporalPersistence
		}
		if m.TemporalShards > 0 {
			t += ", " + shardsText(m.TemporalShards)
		}
		parts = append(parts, t)
	}
	if m.GoVersion != "" {
		parts = append(parts, m.GoVersion)
	}
	return strings.Join(parts, "; ")
}

func shardsText(n int) string {
	if n == 1 {
		return "1 history shard"
	}
	return fmt.Sprintf("%d history shards", n)
}
