package deploy_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// The exporters Prometheus reaches Redis and PostgreSQL through: Debian's
// packages, which the Compose stand-ins carry (deploy/standins).
const (
	redisExporterBin    = "prometheus-redis-exporter"
	postgresExporterBin = "prometheus-postgres-exporter"
	exporterPassword    = "exp-Secr3t-5e1a"
)

// promJob is what the tests read of one scrape job of prometheus.yml.
type promJob struct {
	Name          string              `yaml:"job_name"`
	MetricsPath   string              `yaml:"metrics_path"`
	Params        map[string][]string `yaml:"params"`
	StaticConfigs []struct {
		Targets []string
	} `yaml:"static_configs"`
	DNSSDConfigs []struct {
		Names []string
		Type  string
		Port  int
	} `yaml:"dns_sd_configs"`
}

// promJobs reads the scrape jobs of deploy/observability/prometheus.
func promJobs(t *testing.T) map[string]promJob {
	t.Helper()
	var cfg struct {
		ScrapeConfigs []promJob `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, obsDir+"/prometheus/prometheus.yml")), &cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	jobs := map[string]promJob{}
	for _, j := range cfg.ScrapeConfigs {
		jobs[j.Name] = j
	}
	return jobs
}

// exporterBinary finds one of the exporters, or fails (CI) or skips.
func exporterBinary(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		testenv.Missing(t, name+" (apt-get install -y "+name+"; scripts/deps.sh test)")
	}
	return bin
}

// composeEnv is a Compose service's environment as KEY=VALUE, with the
// values of over in place of the file's or added.
func composeEnv(s map[string]*string, over map[string]string) []string {
	var env []string
	for k, v := range s {
		if _, ok := over[k]; !ok && v != nil {
			env = append(env, k+"="+*v)
		}
	}
	for k, v := range over {
		env = append(env, k+"="+v)
	}
	return env
}

// startExporter runs bin with env and args until the test ends, and waits
// until url answers.
func startExporter(t *testing.T, bin string, env []string, url string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	testenv.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		noSecret(t, filepath.Base(bin)+"'s output", out.String())
	})
	err := poll.For(context.Background(), 30*time.Second, poll.Every(100*time.Millisecond), func(context.Context) (bool, error) {
		return scrape(url) != "", nil
	})
	if err != nil {
		t.Fatalf("%s serves nothing on %s:\n%s", bin, url, out.String())
	}
}

// startRedisExporter runs redis_exporter as docker-compose.yml's
// redis-exporter runs (its environment, its Redis user) against srv, and
// returns the URL Prometheus's job "redis" scrapes, with that job's
// parameters and srv as the target.
func startRedisExporter(t *testing.T, srv *testenv.RedisACLServer) string {
	t.Helper()
	bin := exporterBinary(t, redisExporterBin)
	port := testenv.FreePort(t)
	s := service(t, load(t), "redis-exporter")
	env := composeEnv(s.Environment, map[string]string{
		"REDIS_ADDR":                        "redis://" + srv.Addr,
		"REDIS_PASSWORD":                    testenv.RedisPassword(srv.AppPassword, testenv.RedisExporterUser),
		"REDIS_EXPORTER_WEB_LISTEN_ADDRESS": "127.0.0.1:" + strconv.Itoa(port),
	})
	job := promJobs(t)["redis"]
	q := url.Values{}
	for k, v := range job.Params {
		q[k] = v
	}
	q.Set("target", srv.Addr)
	u := fmt.Sprintf("http://127.0.0.1:%d%s?%s", port, job.MetricsPath, q.Encode())
	startExporter(t, bin, env, u)
	return u
}

// startPostgresExporter starts PostgreSQL, gives it the exporter's role
// with deploy/postgres/exporter-role.sh (run as the superuser, as Compose
// runs it as temporal), runs postgres_exporter as docker-compose.postgres.yml's
// postgres-exporter runs (its environment, that role), and returns its
// metrics URL.
func startPostgresExporter(t *testing.T) string {
	t.Helper()
	bin := exporterBinary(t, postgresExporterBin)
	pg := testenv.StartPostgres(t)
	bindir, err := testenv.PostgresBinDir()
	if err != nil {
		testenv.MissingErr(t, err)
	}
	libpq := []string{"PATH=" + bindir + ":" + os.Getenv("PATH"), "PGHOST=" + filepath.Join(pg.Dir, "data"),
		"PGPORT=" + strconv.Itoa(pg.Port), "PGDATABASE=postgres"}
	// Twice: the job runs at every `up`.
	for range 2 {
		role := exec.Command("sh", filepath.Join(testenv.RepoRoot(), "deploy", "postgres", "exporter-role.sh"))
		role.Env = append(slices.Clone(libpq), "PGUSER=postgres", "POSTGRES_EXPORTER_PASSWORD="+exporterPassword)
		out, err := role.CombinedOutput()
		noSecret(t, "exporter-role.sh's output", string(out))
		if err != nil {
			t.Fatalf("exporter-role.sh: %v\n%s", err, out)
		}
	}
	s := service(t, loadPostgres(t), "postgres-exporter")
	user := *s.Environment["DATA_SOURCE_USER"]
	assertMonitorOnly(t, filepath.Join(bindir, "psql"), append(libpq, "PGUSER="+user, "PGPASSWORD="+exporterPassword))
	port := testenv.FreePort(t)
	env := composeEnv(s.Environment, map[string]string{
		"DATA_SOURCE_URI":  strings.Replace(*s.Environment["DATA_SOURCE_URI"], "postgres:5432", pg.Addr, 1),
		"DATA_SOURCE_PASS": exporterPassword,
	})
	u := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	startExporter(t, bin, env, u, "--web.listen-address=127.0.0.1:"+strconv.Itoa(port))
	return u
}

// assertMonitorOnly: the exporter's role logs in with its password over
// TCP, is no superuser and may not create anything, and is a member of
// pg_monitor.
func assertMonitorOnly(t *testing.T, psql string, env []string) {
	t.Helper()
	cmd := exec.Command(psql, "-X", "-At", "-h", "127.0.0.1", "-c",
		"SELECT rolsuper, rolcreaterole, rolcreatedb, pg_has_role(current_user, 'pg_monitor', 'member') FROM pg_roles WHERE rolname = current_user")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "f|f|f|t" {
		t.Errorf("the exporter's role: %q %v, want no superuser, no CREATEROLE, no CREATEDB, a member of pg_monitor", out, err)
	}
}

// TestRedisExporterLeastPrivilege runs redis_exporter as Compose runs it,
// against a Redis that loads the project's ACL file and holds a stream of
// the choreography, a consumer's presence record beside it and an order
// record: it exports the Redis's INFO series and the stream's length, not
// the presence record; Redis refused it nothing; and its user may read no
// key's value, nor run CONFIG, CLIENT or ACL.
func TestRedisExporterLeastPrivilege(t *testing.T) {
	srv := testenv.StartRedisACL(t, appPassword, adminPassword)
	admin := srv.AdminClient()
	ctx := context.Background()
	p := "ordersaga:chor:{p0}:"
	for _, cmd := range [][]any{{"xadd", p + "stream:order", "*", "type", "OrderPlaced"}, {"xgroup", "create", p + "stream:order", "inventory", "0"},
		{"set", p + "stream:order:presence:inventory:c1", "1"}, {"hset", p + "order:x1", "customer", "someone"}} {
		if err := admin.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	out := scrape(startRedisExporter(t, srv))
	for _, want := range []string{"redis_up 1", `redis_stream_length{db="db0",stream="` + p + `stream:order"} 1`,
		`redis_stream_group_messages_pending{db="db0",group="inventory",stream="` + p + `stream:order"} 0`} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("redis_exporter does not export %s", want)
		}
	}
	if strings.Contains(out, "presence") || strings.Contains(out, "someone") {
		t.Error("redis_exporter exports a presence record or an order's data")
	}
	noACLDenials(t, admin)
	c := srv.ClientAs(testenv.RedisExporterUser)
	for _, cmd := range [][]any{{"get", "ordersaga:chor:partitions"}, {"hgetall", p + "order:x1"}, {"xrange", p + "stream:order", "-", "+"},
		{"xreadgroup", "group", "inventory", "c1", "streams", p + "stream:order", ">"}, {"xadd", p + "stream:order", "*", "a", "b"},
		{"config", "get", "*"}, {"client", "list"}, {"acl", "list"}, {"keys", "*"}, {"flushall"}} {
		if err := c.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%v as %s: %v, want NOPERM", cmd, testenv.RedisExporterUser, err)
		}
	}
	if err := admin.Do(ctx, "acl", "log", "reset").Err(); err != nil {
		t.Fatal(err)
	}
}

// TestComposeExportersSeeOwnPasswordOnly: the exporters' containers get
// their own password and no other user's, and log in as their own user.
func TestComposeExportersSeeOwnPasswordOnly(t *testing.T) {
	env := []string{"REDIS_ADMIN_PASSWORD=admin-pw-9c1e", "REDIS_STARTER_PASSWORD=app-pw-7f3a", "TEMPORAL_PG_PASSWORD=pg-pw-4b2d",
		"REDIS_EXPORTER_PASSWORD=rexp-pw-1d4f", "POSTGRES_EXPORTER_PASSWORD=pexp-pw-8a2c"}
	p := loadPostgres(t, env...)
	own := map[string]string{"redis-exporter": "rexp-pw-1d4f", "postgres-exporter": "pexp-pw-8a2c"}
	for name, pw := range own {
		s := service(t, p, name)
		var values []string
		for _, v := range s.Environment {
			if v != nil {
				values = append(values, *v)
			}
		}
		all := strings.Join(values, " ")
		if !strings.Contains(all, pw) {
			t.Errorf("%s: its password is not in its environment", name)
		}
		for _, other := range []string{"admin-pw-9c1e", "app-pw-7f3a", "pg-pw-4b2d", "rexp-pw-1d4f", "pexp-pw-8a2c"} {
			if other != pw && strings.Contains(all, other) {
				t.Errorf("%s sees another user's password (%.4s…)", name, other)
			}
		}
	}
	if u := service(t, p, "redis-exporter").Environment["REDIS_USER"]; u == nil || *u != testenv.RedisExporterUser {
		t.Errorf("redis-exporter logs in as %v, want %s", u, testenv.RedisExporterUser)
	}
	if v := service(t, p, "redis").Environment["REDIS_EXPORTER_PASSWORD"]; v == nil || *v != "rexp-pw-1d4f" {
		t.Errorf("redis renders the exporter's password from %v, want REDIS_EXPORTER_PASSWORD", v)
	}
}

// TestPrometheusScrapesServers: Prometheus asks redis-exporter for the
// one Redis with the streams' patterns, and for each cluster node by its
// service name, and postgres-exporter by name; the streams' patterns name
// every stream the choreography has and no presence record.
func TestPrometheusScrapesServers(t *testing.T) {
	jobs := promJobs(t)
	r := jobs["redis"]
	if r.MetricsPath != "/scrape" || !slices.Equal(r.Params["target"], []string{"redis:6379"}) ||
		len(r.StaticConfigs) != 1 || !slices.Equal(r.StaticConfigs[0].Targets, []string{"redis-exporter:9121"}) {
		t.Errorf("job redis = %+v, want redis-exporter:9121/scrape?target=redis:6379", r)
	}
	var patterns []string
	for _, v := range r.Params["check-streams"] {
		patterns = append(patterns, strings.Split(v, ",")...)
	}
	for _, svc := range []string{"order", "inventory", "payment", "shipping", "deadletter"} {
		if !slices.Contains(patterns, "ordersaga:chor:{*}:stream:"+svc) {
			t.Errorf("job redis: check-streams %v leaves out the %s streams", patterns, svc)
		}
	}
	for _, pat := range patterns {
		if strings.HasSuffix(pat, "*") {
			t.Errorf("job redis: check-streams pattern %q would match the consumers' presence records too", pat)
		}
	}
	c := jobs["redis-cluster"]
	if c.MetricsPath != "/scrape" || len(c.DNSSDConfigs) != 1 || !slices.Equal(c.DNSSDConfigs[0].Names, clusterNodes) || c.DNSSDConfigs[0].Port != 6379 {
		t.Errorf("job redis-cluster = %+v, want every cluster node (%v) on 6379 through /scrape", c, clusterNodes)
	}
	pg := jobs["postgres"]
	if pg.MetricsPath != "/metrics" || len(pg.DNSSDConfigs) != 1 || !slices.Equal(pg.DNSSDConfigs[0].Names, []string{"postgres-exporter"}) || pg.DNSSDConfigs[0].Port != 9187 {
		t.Errorf("job postgres = %+v, want postgres-exporter:9187", pg)
	}
}
