package experiment

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/shop"
)

// OutageResult is one engine's outage, summed up.
type OutageResult struct {
	Mode shop.Mode `json:"mode"`
	// Down is what was down: the participant or the server.
	Down     string `json:"down"`
	Accepted int    `json:"accepted"`
	Refused  int    `json:"refused"`
	// RefusedDuring counts the placements refused while it was down.
	RefusedDuring int   `json:"refused_during_outage"`
	MaxInFlight   int64 `json:"max_in_flight"`
	// P50 and P99 are the latencies of the orders placed while it was down, ms.
	P50 float64 `json:"outage_p50_ms"`
	P99 float64 `json:"outage_p99_ms"`
	// Drain is the time from the return until the last order placed
	// during the outage ended, s; negative when one never did.
	Drain float64 `json:"drain_s"`
	// MaxBacklog is, per step or queue, the most that waited at once.
	MaxBacklog map[string]int64 `json:"max_backlog"`
	Retries    int64            `json:"retries"`
	// FirstRefusal is the first refused placement's error.
	FirstRefusal string       `json:"first_refusal,omitempty"`
	Samples      []Sample     `json:"samples"`
	Actions      []ActionDone `json:"actions"`
}

// outage runs the outage experiment on each engine.
func outage(ctx context.Context, eng *admin.EngineSet, cfg Config) (*bench.Report, error) {
	total := cfg.Before + cfg.Outage + cfg.After
	n := max(1, int(cfg.Rate*total.Seconds()))
	work, err := bench.Generate(cfg.Seed, nonce(), n, nil, eng.Catalog)
	if err != nil {
		return nil, err
	}
	title := fmt.Sprintf("outage (%s down %s)", cfg.Service, cfg.Outage)
	rep := newReport(ctx, eng, cfg, title, fmt.Sprintf("%d orders (seed %d) placed at %g/s for %s; %s down from %s to %s after the first placement.",
		n, cfg.Seed, cfg.Rate, total, downName(cfg.Service, ""), cfg.Before, cfg.Before+cfg.Outage))
	var results []OutageResult
	var runs []*engineRun
	for _, m := range modesOf(eng) {
		cfg.logf("%s: %s", m, title)
		run, err := runOne(ctx, eng, m, cfg, plan{orders: work.Orders, instances: cfg.Instances, actions: outageActions(cfg, m)})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		runs = append(runs, run)
		results = append(results, summarize(run, cfg))
	}
	addResults(rep, runs)
	rep.Sections = append(rep.Sections, outageSection(results, cfg))
	rep.Extra = outageCharts(rep, runs, cfg)
	rep.Data = results
	return rep, nil
}

// downName names what an outage takes down on engine m ("" both).
func downName(service string, m shop.Mode) string {
	if service != "coordinator" {
		return "the " + service + " participant"
	}
	switch m {
	case shop.ModeOrchestration:
		return "the Temporal server"
	case shop.ModeChoreography:
		return "Redis"
	}
	return "the coordinator (the Temporal server; Redis for the choreography)"
}

// outageActions take the service down at Before and bring it back after Outage.
func outageActions(cfg Config, m shop.Mode) func(Participants) []Action {
	return func(p Participants) []Action {
		stop := func(ctx context.Context) error { return p.Stop(ctx, cfg.Service) }
		start := func(ctx context.Context) error { return p.Start(ctx, cfg.Service) }
		if cfg.Service == "coordinator" {
			server := "redis"
			if m == shop.ModeOrchestration {
				server = "temporal"
			}
			stop = func(ctx context.Context) error { return cfg.Servers.Stop(ctx, server) }
			start = func(ctx context.Context) error { return cfg.Servers.Start(ctx, server) }
		}
		what := downName(cfg.Service, m)
		return []Action{
			{At: cfg.Before, Name: what + " stopped", Do: stop},
			{At: cfg.Before + cfg.Outage, Name: what + " started", Do: start},
		}
	}
}

// summarize sums one engine's outage up.
func summarize(run *engineRun, cfg Config) OutageResult {
	from, to := cfg.Before, cfg.Before+cfg.Outage
	res := OutageResult{Mode: run.Mode, Down: downName(cfg.Service, run.Mode), Accepted: len(run.Placed), Refused: run.Refused,
		MaxBacklog: map[string]int64{}, Retries: run.Result.Retries, Samples: run.Load.Samples, Actions: run.Load.Done, FirstRefusal: run.Load.Refusal}
	for _, o := range run.Load.orders {
		if o.refused && o.placed >= from && o.placed < to {
			res.RefusedDuring++
		}
	}
	for _, s := range run.Load.Samples {
		res.MaxInFlight = max(res.MaxInFlight, s.InFlight)
		for k, v := range s.Backlog {
			res.MaxBacklog[k] = max(res.MaxBacklog[k], v)
		}
	}
	h := run.Load.Latency(from, to)
	if h.TotalCount() > 0 {
		res.P50, res.P99 = float64(h.ValueAtQuantile(50))/1000, float64(h.ValueAtQuantile(99))/1000
	}
	last, ok := run.Load.LastEnd(from, to)
	res.Drain = -1
	if ok {
		res.Drain = max(0, (last - to).Seconds())
	}
	return res
}

// addResults adds the engines' results and verdicts to the report.
func addResults(rep *bench.Report, runs []*engineRun) {
	for _, r := range runs {
		rep.Results = append(rep.Results, r.Result)
		rep.Orders = max(rep.Orders, len(r.Load.orders))
		rep.OK = rep.OK && r.Result.InvariantsOK && r.Result.Errors == 0
	}
}

// outageSection is the table of the outage per engine.
func outageSection(results []OutageResult, cfg Config) bench.Section {
	sec := bench.Section{
		Title: "The outage, per engine",
		Text: []string{fmt.Sprintf("Down for %s from %s after the first placement, at %g placements/s. "+
			"Latencies are those of the orders placed while it was down; drain is the time from its return until the last of them ended. "+
			"Backlog is the most that waited at once: per consumer group (the service that reads) for the choreography, per task queue for the orchestration.",
			cfg.Outage, cfg.Before, cfg.Rate)},
		Header: []string{"ENGINE", "DOWN", "PLACED", "REFUSED (DURING)", "MAX IN FLIGHT", "P50 / P99 PLACED DURING", "DRAIN AFTER RETURN", "MAX BACKLOG", "RETRIES"},
	}
	for _, r := range results {
		drain := "never"
		if r.Drain >= 0 {
			drain = fmt.Sprintf("%.1fs", r.Drain)
		}
		sec.Rows = append(sec.Rows, []string{string(r.Mode), r.Down, fmt.Sprint(r.Accepted), fmt.Sprintf("%d (%d)", r.Refused, r.RefusedDuring),
			fmt.Sprint(r.MaxInFlight), fmt.Sprintf("%s / %s", msText(r.P50), msText(r.P99)), drain, backlogText(r.MaxBacklog), fmt.Sprint(r.Retries)})
	}
	return sec
}

func backlogText(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// msText writes a latency in ms the short way.
func msText(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2fs", ms/1000)
	}
	return fmt.Sprintf("%.0fms", ms)
}

// nonce tells one run's order IDs from another's.
func nonce() string { return strings.ReplaceAll(uuid.NewString(), "-", "")[:8] }
