package bench

import (
	"strings"
	"testing"
)

const infoBefore = "# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.000000\r\nused_cpu_sys_children:9.0\r\n\r\n" +
	"# Commandstats\r\ncmdstat_evalsha:calls=10,usec=300,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_xreadgroup:calls=5,usec=50,usec_per_call=10.00\r\n"

const infoAfter = "# CPU\r\nused_cpu_sys:2.000000\r\nused_cpu_user:3.500000\r\n\r\n" +
	"# Commandstats\r\ncmdstat_evalsha:calls=410,usec=10300,usec_per_call=25.12\r\n" +
	"cmdstat_xreadgroup:calls=5,usec=50,usec_per_call=10.00\r\ncmdstat_xack:calls=200,usec=400,usec_per_call=2.00\r\n"

func TestRedisUsagePerSaga(t *testing.T) {
	before, after := parseUsage(infoBefore), parseUsage(infoAfter)
	if before.cpuSeconds != 3.5 || before.commands["evalsha"] != (commandUsage{calls: 10, usec: 300}) {
		t.Fatalf("parsed %+v", before)
	}
	cpu := after.minus(before).perSaga(100)
	if cpu.Seconds != 2 || cpu.PerSaga != 20000 {
		t.Errorf("cpu %v s, %v µs per saga; want 2 s and 20000 µs", cpu.Seconds, cpu.PerSaga)
	}
	if len(cpu.Commands) != 2 || cpu.Commands[0].Command != "evalsha" || cpu.Commands[0].PerSaga != 4 ||
		cpu.Commands[0].UsecPerSaga != 100 || cpu.Commands[1] != (CommandCPU{Command: "xack", Calls: 200, Usec: 400, PerSaga: 2, UsecPerSaga: 4}) {
		t.Errorf("commands %+v: want evalsha (4 calls, 100 µs per saga) then xack, without the unchanged xreadgroup", cpu.Commands)
	}
	sum := addUsage(addUsage(nil, &before), &before)
	if sum.cpuSeconds != 7 || sum.commands["xreadgroup"].calls != 10 {
		t.Errorf("sum %+v", sum)
	}

	ours, bare := Stats{Throughput: 10, RedisCPU: cpu}, &BaselineResult{Name: "bare", Stats: Stats{Throughput: 20, RedisCPU: &RedisCPU{PerSaga: 8000}}}
	bare.SetRatios(ours)
	if bare.RedisCPURatio != 2.5 {
		t.Errorf("Redis CPU ratio %v, want 2.5", bare.RedisCPURatio)
	}
	rep := &Report{Results: []Result{{Mode: "choreography", Stats: ours}}, Baseline: &Baselines{Choreography: bare}}
	lines := strings.Join(append(rep.RatioLines(), rep.RedisLines()...), "\n")
	for _, want := range []string{"Redis CPU per saga 2.50× (20000µs vs 8000µs)", "choreography: Redis CPU 20000µs per saga; per saga: evalsha 4.0×/100µs, xack 2.0×/4µs"} {
		if !strings.Contains(lines, want) {
			t.Errorf("report lacks %q:\n%s", want, lines)
		}
	}
}
