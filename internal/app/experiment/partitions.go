package experiment

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
	"github.com/ordersaga/ordersaga/shop"
)

// RestoreWithin bounds how long scale takes to record the stack's own
// number of partitions again after its steps, whatever ended them.
const RestoreWithin = time.Minute

// checkPartitions refuses a list of partitions scale cannot measure at.
func (c Config) checkPartitions() error {
	seen := map[int]bool{}
	for _, p := range c.Partitions {
		switch {
		case p < 1 || p > keyspace.MaxPartitions:
			return fmt.Errorf("--partition-steps: each number of partitions must be from 1 to %d, got %d", keyspace.MaxPartitions, p)
		case seen[p]:
			return fmt.Errorf("--partition-steps lists %d twice", p)
		}
		seen[p] = true
	}
	return nil
}

// scalePartitions is scale against the number of partitions: each engine
// measured at each P of Config.Partitions, with Instances instances of each
// participant (not 1, 2, 4 …: the partitions are the servers' side, and a
// run stays short). Each step starts with the engines' state deleted and
// its P recorded (admin.EngineSet.Repartition); at the end, whatever ended
// the steps, the P each engine had is recorded again, its orders deleted,
// so that the stack's own workers start.
func scalePartitions(ctx context.Context, eng *admin.EngineSet, cfg Config) (rep *bench.Report, err error) {
	own, err := eng.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RestoreWithin)
		defer cancel()
		if _, rerr := eng.Repartition(rctx, own, true); rerr != nil {
			rep, err = nil, errors.Join(err, fmt.Errorf("record the stack's own partitions again: %w", rerr))
		}
	}()
	rep = newReport(ctx, eng, cfg, "scale against partitions", fmt.Sprintf("%d orders (seed %d) per step with %d in flight, at %s partitions, %d instance(s) of each participant.",
		cfg.Orders, cfg.Seed, cfg.Bench.Concurrency, intsText(cfg.Partitions), cfg.Instances))
	steps, err := cfg.measure(ctx, eng, rep, cfg.Partitions, []int{cfg.Instances})
	if err != nil {
		return nil, err
	}
	rep.Sections = append(rep.Sections, partitionsSection(steps, own))
	rep.Extra = stepCharts(rep, steps, stepAxis{name: "partitions", label: "partitions (P)", value: func(s ScaleStep) int { return s.Partitions }})
	rep.Data = steps
	return rep, nil
}

// resetAt resets the engines (Reset) before a step, at P partitions
// (Repartition) unless P is 0.
func resetAt(ctx context.Context, eng *admin.EngineSet, p int) error {
	if p == 0 {
		_, err := eng.Reset(ctx, false)
		return err
	}
	every := map[shop.Mode]int{}
	for _, m := range eng.Modes {
		every[m] = p
	}
	_, err := eng.Repartition(ctx, every, false)
	return err
}

// partitionsText names P in a step's log line: nothing for the stack's own.
func partitionsText(p int) string {
	if p == 0 {
		return ""
	}
	return fmt.Sprintf("%d partition(s), ", p)
}

// intsText is "1, 3 and 12".
func intsText(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = fmt.Sprint(n)
	}
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// partitionsSectionText says what the partitions section measures.
const partitionsSectionText = "P is the number of partitions of the key layout, recorded afresh before each step, the engines' state deleted: " +
	"an order's keys, and in the choreography its partition's streams, share the hash slot of its partition, and on a Redis Cluster the P slots spread over the masters " +
	"(partition p's slot lies in the p-th of P equal ranges, so masters that own equal ranges hold equal shares once P is a multiple of their count). " +
	"CPU per saga is each process's CPU time over the step over its sagas, as in the scale experiment; on a cluster, Redis's is also given master by master " +
	"(masters by address) with the busiest master's share of it: near 100% when one master does the work, 1/N when N masters share it. " +
	"The stock of a SKU has a slot of its own whatever P is: a master holds it and takes every reservation of that SKU."

// partitionsSection is the table of the steps against partitions.
func partitionsSection(steps []ScaleStep, own map[shop.Mode]int) bench.Section {
	sec := bench.Section{Title: "Throughput and CPU per saga against partitions", Text: []string{partitionsSectionText}}
	var ownText []string
	for _, m := range slices.Sorted(maps.Keys(own)) {
		ownText = append(ownText, fmt.Sprintf("%s %d", m, own[m]))
	}
	sec.Text = append(sec.Text, "The stack's own P, recorded again after the steps: "+strings.Join(ownText, ", ")+".")
	sec.Header, sec.Rows = stepTable(steps, []string{"ENGINE", "PARTITIONS"}, func(s ScaleStep) []string {
		return []string{string(s.Mode), fmt.Sprint(s.Partitions)}
	})
	sec.Header = append(sec.Header, "REDIS CPU MS/SAGA BY MASTER", "BUSIEST MASTER")
	for i, s := range steps {
		byMaster, busiest := spreadText(s.MasterCPU)
		sec.Rows[i] = append(sec.Rows[i], byMaster, busiest)
	}
	return sec
}

// spreadText is the CPU per saga of each master, by address, and the
// busiest one's share of their sum: "0.52 / 0.03 / 0.02" and "91%"; "-"
// on one Redis.
func spreadText(byMaster map[string]float64) (string, string) {
	if len(byMaster) == 0 {
		return "-", "-"
	}
	var parts []string
	var sum, most float64
	for _, addr := range slices.Sorted(maps.Keys(byMaster)) {
		v := byMaster[addr]
		parts = append(parts, fmt.Sprintf("%.2f", v))
		sum, most = sum+v, max(most, v)
	}
	share := "-"
	if sum > 0 {
		share = fmt.Sprintf("%.0f%%", 100*most/sum)
	}
	return strings.Join(parts, " / "), share
}
