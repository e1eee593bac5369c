package experiment

import (
	"fmt"

	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/shop"
)

// Capacity is the capacity model drawn from one instance's costs: how many
// sagas per second one core of each engine's coordinator can carry.
type Capacity struct {
	Mode shop.Mode `json:"mode"`
	// Coordinator names the processes counted: Redis for the
	// choreography, the Temporal server (and its database) for the
	// orchestration.
	Coordinator string  `json:"coordinator"`
	MsPerSaga   float64 `json:"cpu_ms_per_saga"`
	// PerCore is 1000 / MsPerSaga: sagas per second one busy core carries.
	PerCore float64 `json:"sagas_per_core_s"`
	// Measured is the throughput measured with one instance.
	Measured float64 `json:"measured_sagas_s"`
}

// capacities are the models of both engines from their one-instance steps.
func capacities(steps []ScaleStep) []Capacity {
	var out []Capacity
	for _, s := range steps {
		if s.Instances != 1 {
			continue
		}
		c := Capacity{Mode: s.Mode, Measured: s.Throughput}
		if s.Mode == shop.ModeChoreography {
			c.Coordinator, c.MsPerSaga = "Redis", s.CPUPerSaga["redis"]
		} else {
			c.Coordinator = "Temporal server"
			c.MsPerSaga = s.CPUPerSaga["temporal"] + s.CPUPerSaga["temporal-server"] + s.CPUPerSaga["postgres"]
			if s.CPUPerSaga["postgres"] > 0 {
				c.Coordinator += " and PostgreSQL"
			}
		}
		if c.MsPerSaga > 0 {
			c.PerCore = 1000 / c.MsPerSaga
		}
		out = append(out, c)
	}
	return out
}

// projected are the hosts the model projects to.
var projected = []int{1, 2, 4, 8, 16}

// capacityText states the model and where the measurement ends.
const capacityText = "Measured: the CPU time each coordinator spent per saga with one instance of each participant (the rows above). " +
	"Model: a core of the coordinator carries 1000 / (CPU ms per saga) sagas per second, and N Redis masters (a Redis Cluster: the orders' partitions spread over them) " +
	"or N Temporal history hosts (the history shards spread over them, the database scaled with them) carry N times that. " +
	"What the model leaves out: Redis runs commands on one core per master, so a master is one core; every order of one SKU reserves stock in one slot, " +
	"so a hot SKU caps at one master's rate whatever N is; the partitions (choreography) and the history shards (orchestration) fixed at setup bound N from above; " +
	"the network between hosts, which this machine does not have, adds latency, not CPU. Beyond the measured point (N = 1) the lines are the model, not a measurement."

// capacitySection is the model as a table.
func capacitySection(steps []ScaleStep, m bench.Machine) bench.Section {
	sec := bench.Section{Title: "Capacity model", Text: []string{capacityText},
		Header: []string{"ENGINE", "COORDINATOR", "CPU MS/SAGA", "SAGAS/S PER CORE", "MEASURED SAGAS/S (1 INSTANCE)", "PROJECTED AT 4 / 16 HOSTS"}}
	for _, c := range capacities(steps) {
		sec.Rows = append(sec.Rows, []string{string(c.Mode), c.Coordinator, fmt.Sprintf("%.2f", c.MsPerSaga), fmt.Sprintf("%.0f", c.PerCore),
			fmt.Sprintf("%.1f", c.Measured), fmt.Sprintf("%.0f / %.0f", 4*c.PerCore, 16*c.PerCore)})
	}
	if m.TemporalShards > 0 {
		sec.Text = append(sec.Text, fmt.Sprintf("The Temporal server measured has %d history shards: one shard is one lock on its workflows' histories, "+
			"so the orchestration's ceiling is at most the shards' count of hosts.", m.TemporalShards))
	}
	return sec
}

// capacityChart draws the projection next to the measured points.
func capacityChart(rep *bench.Report, steps []ScaleStep) bench.ReportChart {
	c := bench.Chart{Title: "Capacity against coordinator hosts: measured at 1, model beyond",
		X: bench.Axis{Label: "Redis masters / Temporal history hosts (one core each)", Scale: bench.Log, Format: func(v float64) string { return fmt.Sprint(v) }},
		Y: bench.Axis{Label: "sagas per second", Scale: bench.Log, Format: func(v float64) string { return fmt.Sprintf("%g", v) }},
		Caption: append([]string{"Dashed: the model, N × sagas per core from the measured CPU per saga. The short solid lines at 1: measured throughput on this machine, " +
			"where the participants, the load and the servers share its cores."}, captions(rep)...)}
	for _, k := range capacities(steps) {
		model := bench.Line{Name: string(k.Mode) + " model (" + k.Coordinator + ")", Color: colors[k.Mode], Dashed: true}
		for _, n := range projected {
			if k.PerCore > 0 {
				model.Points = append(model.Points, bench.Point{X: float64(n), Y: float64(n) * k.PerCore})
			}
		}
		measured := bench.Line{Name: string(k.Mode) + " measured", Color: colors[k.Mode],
			Points: []bench.Point{{X: 1, Y: k.Measured}, {X: 1.08, Y: k.Measured}}}
		c.Lines = append(c.Lines, model, measured)
	}
	return bench.ReportChart{Name: "capacity", Chart: c}
}
