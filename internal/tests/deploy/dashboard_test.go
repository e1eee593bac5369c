package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// dashboard is what the test reads of the Grafana dashboard.
type dashboard struct {
	Templating struct {
		List []struct {
			Name, Type string
			Query      any
		}
	}
	Panels []panel
}

type panel struct {
	ID         int
	Title      string
	Type       string
	Datasource *struct{ Type, UID string }
	Targets    []struct{ Expr string }
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(readFile(t, obsDir+"/grafana/dashboards/ordersaga.json")), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// promQLWords are the PromQL functions, aggregations and keywords the
// dashboard's queries use: every other word outside braces, brackets and
// the label lists of by (…) is a metric name.
var promQLWords = []string{"sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "label_replace",
	"by", "without", "on", "ignoring", "and", "or", "unless"}

var (
	labelLists = regexp.MustCompile(`\b(by|without|on|ignoring)\s*\([^)]*\)|\{[^}]*\}|\[[^\]]*\]|"[^"]*"`)
	words      = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// metricNames are the metrics a PromQL query reads.
func metricNames(expr string) []string {
	var names []string
	for _, w := range words.FindAllString(labelLists.ReplaceAllString(expr, " "), -1) {
		if !slices.Contains(promQLWords, w) && !slices.Contains(names, w) {
			names = append(names, w)
		}
	}
	return names
}

// TestDashboardVariables: the dashboard chooses its Prometheus data source
// and the Temporal namespace with variables; every panel queries the data
// source variable, and every query of the SDK's series (temporal_*) is
// limited to the chosen namespaces. No two panels share an id.
func TestDashboardVariables(t *testing.T) {
	d := readDashboard(t)
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name+":"+v.Type)
	}
	if !slices.Contains(vars, "datasource:datasource") || !slices.Contains(vars, "namespace:query") {
		t.Errorf("dashboard variables %v, want datasource:datasource and namespace:query", vars)
	}
	sdk := regexp.MustCompile(`\btemporal_[a-z_]+\{namespace=~"\$namespace"`)
	ids := map[int]string{}
	for _, p := range d.Panels {
		if other, ok := ids[p.ID]; ok {
			t.Errorf("panels %q and %q share the id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source %+v, want the variable ${datasource}", p.Title, p.Datasource)
		}
		for _, tg := range p.Targets {
			if strings.Contains(tg.Expr, "temporal_") && len(sdk.FindAllString(tg.Expr, -1)) != strings.Count(tg.Expr, "temporal_") {
				t.Errorf("panel %q: %s reads the SDK's series of every namespace, want namespace=~\"$namespace\"", p.Title, tg.Expr)
			}
		}
	}
}

// TestDashboardMetricsExist runs what make up runs (a Temporal dev server
// with its metrics on a fixed port, a worker with every service, metrics
// on, as the starter's user of a Redis that loads the project's ACL file)
// and the exporters as Compose runs them (redis_exporter on that Redis,
// postgres_exporter on a PostgreSQL), places orders on both engines, a
// compensated one among them, and scrapes the server, the worker and the
// exporters as Prometheus does: every metric a panel of the dashboard
// queries must be among the series they export, and the dashboard shows
// the compensations retrying past the alert threshold of both engines.
func TestDashboardMetricsExist(t *testing.T) {
	worker, starter := binaries(t)
	rdb := testenv.StartRedisACL(t, appPassword, adminPassword)
	exporters := []string{startRedisExporter(t, rdb), startPostgresExporter(t)}
	tport, mport, wport := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	temporal := startDevServer(t, tport, mport)
	env := append(os.Environ(), "REDIS_URL="+rdb.AppURL(), "REDIS_CLUSTER_URL=", "TEMPORAL_ADDRESS="+temporal,
		fmt.Sprintf("%s=127.0.0.1:%d", metricsAddrEnv, wport), otlpEnv+"=")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := exec.CommandContext(ctx, worker, "--compensation-alert-after", "1s")
	w.Env = env
	var wlog testenv.SyncBuffer
	w.Stdout, w.Stderr = &wlog, &wlog
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker's log:\n%s", wlog.String())
		}
	})
	testenv.DieWithParent(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = w.Wait() }()
	// A completed order, a compensated one, one whose charge fails once
	// (redelivered), and an event that is not one (dead-lettered).
	for _, args := range [][]string{{"order", "--id", "dash-1"}, {"order", "--id", "dash-2", "--fail", "payment"},
		{"order", "--id", "dash-3", "--fail", "payment:transient:1"}} {
		cmd := exec.Command(starter, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("starter %v: %v\n%s", args, err, out)
		}
	}
	// One whose refund keeps failing past the alert threshold (some 3 s
	// in the choreography): the worker's threshold is the gauge's too.
	cmd := exec.Command(starter, "order", "--id", "dash-4", "--fail", "shipping", "--fail", "refund:transient:6")
	cmd.Env = env
	if !refundSeenCompensating(t, cmd, fmt.Sprintf("http://127.0.0.1:%d/metrics", wport)) {
		t.Errorf("the choreography's refund retrying past --compensation-alert-after 1s was never among the orders compensating")
	}
	poison(t, rdb)
	var missing []string
	err := poll.For(context.Background(), time.Minute, poll.Every(2*time.Second), func(context.Context) (bool, error) {
		exported := scrape(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)) + scrape(fmt.Sprintf("http://127.0.0.1:%d/metrics", wport))
		for _, u := range exporters {
			exported += scrape(u)
		}
		missing = missingMetrics(readDashboard(t), exported)
		return len(missing) == 0, nil
	})
	if err != nil {
		t.Errorf("dashboard queries of metrics no process exports: %v", missing)
	}
	for _, must := range []string{"ordersaga_sagas_total", "ordersaga_saga_duration_seconds_bucket", "ordersaga_compensations_total", "ordersaga_stream_group_lag",
		"ordersaga_compensations_retrying_total", "ordersaga_orders_compensating",
		"redis_commands_processed_total", "redis_cpu_sys_seconds_total", "redis_memory_used_bytes", "redis_stream_length",
		"pg_stat_database_xact_commit", "pg_stat_database_numbackends"} {
		if !slices.ContainsFunc(readDashboard(t).Panels, func(p panel) bool { return slices.Contains(queries(p), must) }) {
			t.Errorf("the dashboard does not show %s", must)
		}
	}
}

// compensatingRefund is a choreography's refund counted among the orders
// compensating.
var compensatingRefund = regexp.MustCompile(`(?m)^ordersaga_orders_compensating\{engine="choreography",op="refund"\} [1-9]`)

// refundSeenCompensating runs the starter's cmd and scrapes url meanwhile:
// whether a choreography's refund was ever counted among the orders
// compensating before the command ended.
func refundSeenCompensating(t *testing.T, cmd *exec.Cmd, url string) bool {
	t.Helper()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	seen, ended := false, false
	_ = poll.For(context.Background(), 2*time.Minute, poll.Every(100*time.Millisecond), func(context.Context) (bool, error) {
		seen = seen || compensatingRefund.MatchString(scrape(url))
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("starter %v: %v\n%s", cmd.Args[1:], err, out.String())
			}
			ended = true
		default:
		}
		return ended, nil
	})
	if !ended {
		t.Fatalf("starter %v did not end within 2 minutes", cmd.Args[1:])
	}
	return seen
}

// queries lists the metrics a panel's targets query.
func queries(p panel) []string {
	var out []string
	for _, tg := range p.Targets {
		out = append(out, metricNames(tg.Expr)...)
	}
	return out
}

// labelValues is the metric a query variable takes its values from.
var labelValues = regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// missingMetrics lists "panel: metric" for every metric a panel queries,
// and "variable: metric" for every one a variable takes its values from,
// that the exposition text does not hold.
func missingMetrics(d dashboard, exported string) []string {
	var missing []string
	for _, v := range d.Templating.List {
		q, _ := json.Marshal(v.Query)
		for _, m := range labelValues.FindAllStringSubmatch(string(q), -1) {
			if !regexp.MustCompile(`(?m)^` + m[1] + `[{ ]`).MatchString(exported) {
				missing = append(missing, "$"+v.Name+": "+m[1])
			}
		}
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range metricNames(tg.Expr) {
				if !regexp.MustCompile(`(?m)^` + m + `[{ ]`).MatchString(exported) {
					missing = append(missing, p.Title+": "+m)
				}
			}
		}
	}
	return missing
}

func scrape(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// startDevServer starts the Temporal dev server as make up does, in
// memory, with its metrics on mport, and returns its address once it
// serves.
func startDevServer(t *testing.T, port, mport int) string {
	t.Helper()
	bin, err := testenv.TemporalBinary()
	if err != nil {
		testenv.MissingErr(t, err)
	}
	args := append([]string{"server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", fmt.Sprint(port),
		"--metrics-port", fmt.Sprint(mport), "--log-level", "error"}, testenv.DevServerArgs...)
	cmd := exec.Command(bin, args...)
	testenv.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	err = poll.For(context.Background(), time.Minute, poll.Every(200*time.Millisecond), func(context.Context) (bool, error) {
		return scrape(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)) != "", nil
	})
	if err != nil {
		t.Fatalf("the dev server serves no metrics on port %d", mport)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// poison adds an entry that is no event to every stream the payment
// service consumes.
func poison(t *testing.T, rdb *testenv.RedisACLServer) {
	t.Helper()
	ctx := context.Background()
	admin := rdb.AdminClient()
	keys, err := admin.Keys(ctx, "ordersaga:chor:*stream:inventory").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("the inventory service's streams: %v, %v", keys, err)
	}
	for _, k := range keys {
		if err := admin.XAdd(ctx, &redis.XAddArgs{Stream: k, Values: []string{"not", "an event"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}
