package deploy_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
)

const (
	metricsAddrEnv = "ORDERSAGA_METRICS_ADDR"
	otlpEnv        = "OTEL_EXPORTER_OTLP_ENDPOINT"
	obsDir         = "deploy/observability"
)

// TestComposeObservability: the profile "observability" has Prometheus,
// Grafana and Jaeger on pinned images, published on the loopback only;
// every worker process serves its metrics and health inside the network
// only, is health-checked through them, and is scraped by Prometheus;
// Grafana is provisioned from the repository's files.
func TestComposeObservability(t *testing.T) {
	p := load(t)
	pinned := map[string]string{"prometheus": "prom/prometheus:v3.", "grafana": "grafana/grafana:12.", "jaeger": "jaegertracing/jaeger:2.",
		"redis-exporter": "oliver006/redis_exporter:v1."}
	for _, name := range observability {
		s := service(t, p, name)
		if !slices.Equal(s.Profiles, []string{"observability"}) {
			t.Errorf("%s profiles = %v, want [observability]", name, s.Profiles)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s: restart = %q, want unless-stopped", name, s.Restart)
		}
		if img, tag := imageTag(s.Image); !strings.HasPrefix(s.Image, pinned[name]) || strings.Count(tag, ".") != 2 {
			t.Errorf("%s image = %s:%s, want %sX.Y pinned to a patch release", name, img, tag, pinned[name])
		}
	}
	port := metricsPort(t, p)
	for _, name := range appServices {
		s := service(t, p, name)
		if got := healthTest(t, s); !slices.Equal(got, []string{"worker", "healthcheck"}) {
			t.Errorf("%s: healthcheck %v, want [worker healthcheck] (its /readyz)", name, got)
		}
	}
	starter := service(t, p, "starter")
	if starter.HealthCheck == nil || !starter.HealthCheck.Disable {
		t.Error("starter: a one-off command has no /readyz; want healthcheck disabled")
	}
	for _, app := range appServices {
		if d, ok := service(t, p, "starter").DependsOn[app]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("starter does not wait for %s to be healthy (ready)", app)
		}
		// Prometheus starts with the workers and records them not ready.
		if d, ok := service(t, p, "prometheus").DependsOn[app]; !ok || d.Condition != types.ServiceConditionStarted {
			t.Errorf("prometheus does not start after %s (service_started)", app)
		}
	}
	assertScrapes(t, p, port)
	assertGrafana(t, p)
	assertPorts(t, service(t, p, "jaeger"), 16686, 4317, 4318)
	assertPorts(t, service(t, p, "prometheus"), 9090)
	assertPorts(t, service(t, p, "grafana"), 3000)
}

// metricsPort is the port every worker process serves its metrics on,
// the same in each, on every interface of its container.
func metricsPort(t *testing.T, p *types.Project) string {
	t.Helper()
	var port string
	for _, name := range withEnv {
		v := service(t, p, name).Environment[metricsAddrEnv]
		if v == nil {
			t.Fatalf("%s: %s is not set", name, metricsAddrEnv)
		}
		host, pt, err := net.SplitHostPort(*v)
		if err != nil || host != "0.0.0.0" || (port != "" && pt != port) {
			t.Fatalf("%s: %s=%q, want 0.0.0.0:PORT, one port for all (Prometheus reaches it from its container)", name, metricsAddrEnv, *v)
		}
		port = pt
	}
	return port
}

// assertScrapes: Prometheus mounts the repository's config, which scrapes
// each worker process by its service name on the metrics port, the
// Temporal server, and redis-exporter (which asks Redis for it: /scrape).
func assertScrapes(t *testing.T, p *types.Project, port string) {
	t.Helper()
	s := service(t, p, "prometheus")
	assertMount(t, s, filepath.Join(obsDir, "prometheus"), "/etc/prometheus")
	if !slices.Contains(s.Command, "--config.file=/etc/prometheus/prometheus.yml") {
		t.Errorf("prometheus command %v does not read /etc/prometheus/prometheus.yml", s.Command)
	}
	var targets []string
	for name, job := range promJobs(t) {
		want := "/metrics"
		if strings.HasPrefix(name, "redis") {
			want = "/scrape"
		}
		if job.MetricsPath != want {
			t.Errorf("scrape job %s: metrics_path %q, want %s", name, job.MetricsPath, want)
		}
		for _, st := range job.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	tport := flagValue(service(t, p, "temporal").Command, "--metrics-port")
	// The PostgreSQL variant's server serves its metrics where the dev
	// server does (deploy/temporal/config/ordersaga.yaml).
	if v := service(t, loadPostgres(t), "temporal").Environment["TEMPORAL_METRICS_ADDRESS"]; v == nil || *v != "0.0.0.0:"+tport {
		t.Errorf("%s: TEMPORAL_METRICS_ADDRESS = %v, want 0.0.0.0:%s, where Prometheus scrapes the dev server", postgresFile, v, tport)
	}
	if !strings.Contains(readFile(t, "deploy/temporal/config/ordersaga.yaml"), `listenAddress: {{ env "TEMPORAL_METRICS_ADDRESS" | quote }}`) {
		t.Error("deploy/temporal/config/ordersaga.yaml does not serve metrics on TEMPORAL_METRICS_ADDRESS")
	}
	want := []string{"temporal:" + tport, "redis-exporter:9121"}
	for _, name := range appServices {
		want = append(want, name+":"+port)
	}
	slices.Sort(targets)
	slices.Sort(want)
	if !slices.Equal(targets, want) {
		t.Errorf("prometheus scrapes %v, want every worker process, the Temporal server and redis-exporter: %v", targets, want)
	}
}

// assertGrafana: the provisioning and the dashboards come from the
// repository, the dashboard provider reads where they are mounted, the
// data sources name the Compose services, and the home dashboard exists.
func assertGrafana(t *testing.T, p *types.Project) {
	t.Helper()
	s := service(t, p, "grafana")
	assertMount(t, s, filepath.Join(obsDir, "grafana", "provisioning"), "/etc/grafana/provisioning")
	dashboards := assertMount(t, s, filepath.Join(obsDir, "grafana", "dashboards"), "")
	var prov struct {
		Providers []struct{ Options struct{ Path string } }
	}
	if err := yaml.Unmarshal([]byte(readFile(t, obsDir+"/grafana/provisioning/dashboards/dashboards.yml")), &prov); err != nil {
		t.Fatal(err)
	}
	if len(prov.Providers) != 1 || prov.Providers[0].Options.Path != dashboards {
		t.Errorf("dashboard provider %+v, want one reading %s, where the dashboards are mounted", prov.Providers, dashboards)
	}
	home := s.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if home == nil || filepath.Dir(*home) != dashboards {
		t.Errorf("home dashboard %v, want a file of %s", home, dashboards)
	} else if _, err := os.Stat(filepath.Join(testenv.RepoRoot(), obsDir, "grafana", "dashboards", filepath.Base(*home))); err != nil {
		t.Errorf("home dashboard: %v", err)
	}
	var ds struct {
		Datasources []struct{ UID, Type, URL string }
	}
	if err := yaml.Unmarshal([]byte(readFile(t, obsDir+"/grafana/provisioning/datasources/datasources.yml")), &ds); err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{}
	for _, d := range ds.Datasources {
		urls[d.Type] = d.URL
	}
	if urls["prometheus"] != "http://prometheus:9090" || urls["jaeger"] != "http://jaeger:16686" {
		t.Errorf("data sources %v, want prometheus at http://prometheus:9090 and jaeger at http://jaeger:16686", urls)
	}
	dash := readDashboard(t)
	for _, d := range ds.Datasources {
		for _, v := range dash.Templating.List {
			if v.Type == "datasource" && v.Query != d.Type && d.Type == "prometheus" {
				t.Errorf("the dashboard's data source variable offers %v, not the provisioned %s", v.Query, d.Type)
			}
		}
	}
}

// assertMount checks that s mounts the repository's dir read-only, at
// target when given, and returns where.
func assertMount(t *testing.T, s types.ServiceConfig, dir, target string) string {
	t.Helper()
	want := filepath.Join(testenv.RepoRoot(), dir)
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && filepath.Clean(v.Source) == want {
			if !v.ReadOnly || (target != "" && v.Target != target) {
				t.Errorf("%s mounts %s at %s (read-only %v), want read-only at %s", s.Name, dir, v.Target, v.ReadOnly, target)
			}
			return v.Target
		}
	}
	t.Errorf("%s does not mount %s", s.Name, dir)
	return ""
}

// TestComposeTracingEndpoint: spans are exported only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set for Compose; then every process of
// the application gets it, and Jaeger takes OTLP on its standard ports.
func TestComposeTracingEndpoint(t *testing.T) {
	for _, name := range withEnv {
		if v := service(t, load(t), name).Environment[otlpEnv]; v != nil && *v != "" {
			t.Errorf("%s: %s=%q by default; nothing should be exported unless asked", name, otlpEnv, *v)
		}
	}
	p := load(t, otlpEnv+"=http://jaeger:4318")
	for _, name := range withEnv {
		if v := service(t, p, name).Environment[otlpEnv]; v == nil || *v != "http://jaeger:4318" {
			t.Errorf("%s: %s = %v, want the value given to Compose", name, otlpEnv, v)
		}
	}
	if v := service(t, p, "jaeger").Environment["JAEGER_LISTEN_HOST"]; v == nil || *v != "0.0.0.0" {
		t.Error("jaeger: JAEGER_LISTEN_HOST is not 0.0.0.0: Jaeger v2's receivers would listen inside its container only")
	}
}

// TestComposeWorkerHealthcheckRuns runs a worker binary with the Compose
// environment's metrics address (on a free port) and then its health
// check, exactly as Compose runs it: it passes once the worker is ready,
// and fails when nothing listens.
func TestComposeWorkerHealthcheckRuns(t *testing.T) {
	p := load(t)
	s := service(t, p, "payment")
	check := healthTest(t, s)
	worker, _ := binaries(t)
	rdb := testenv.StartRedis(t)
	addr := fmt.Sprintf("0.0.0.0:%d", testenv.FreePort(t))
	env := append(os.Environ(), metricsAddrEnv+"="+addr, "REDIS_URL="+rdb.URL(), "REDIS_CLUSTER_URL=")
	probe := func() error {
		cmd := exec.Command(worker, check[1:]...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	if err := probe(); err == nil {
		t.Fatal("health check passed with no worker running")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, worker, []string(s.Command)...)
	cmd.Env = append(env, "TEMPORAL_ADDRESS=127.0.0.1:1")
	testenv.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	teststack.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		if err := probe(); err != nil {
			return fmt.Errorf("health check of a running payment service: %v", err)
		}
		return nil
	})
}
