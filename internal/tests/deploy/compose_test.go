// Package deploy_test checks the deployment files against the code: the
// Compose stack (docker-compose.yml, with its cluster profile, and
// docker-compose.postgres.yml), the Dockerfile and the scripts behind
// `make up`, so that a rename on either side fails a test instead of a
// demo. There is no Docker engine here: the files are validated (loaded with
// compose-go), their shell entrypoints run against real servers where they
// can.
package deploy_test

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

const (
	orchestrationService = "orchestration"
	localRedisPassword   = "ordersaga-local-only"
	localAdminPassword   = "ordersaga-admin-local-only"
	postgresFile         = "docker-compose.postgres.yml"
)

// appServices run the worker binary; longRunning also includes the servers.
var (
	appServices = append([]string{"worker"}, choreography.Services...)
	longRunning = append([]string{"temporal", "redis", "web"}, appServices...)
	withEnv     = append(slices.Clone(appServices), "starter", "web")
	// clusterNodes are the cluster profile's nodes: the three the
	// application's URLs name (the masters once created), then their replicas.
	clusterNodes = []string{"redis-node-1", "redis-node-2", "redis-node-3", "redis-node-4", "redis-node-5", "redis-node-6"}
	// observability is the profile of the same name.
	observability = []string{"prometheus", "grafana", "jaeger", "redis-exporter"}
)

// load reads docker-compose.yml with every profile active and only env set
// for interpolation, so defaults are what a fresh checkout gets.
func load(t *testing.T, env ...string) *types.Project {
	t.Helper()
	return loadFiles(t, []string{"docker-compose.yml"}, env...)
}

// loadPostgres reads docker-compose.yml with docker-compose.postgres.yml
// over it, as `docker compose -f ... -f ...` does.
func loadPostgres(t *testing.T, env ...string) *types.Project {
	t.Helper()
	return loadFiles(t, []string{"docker-compose.yml", postgresFile}, env...)
}

func loadFiles(t *testing.T, files []string, env ...string) *types.Project {
	t.Helper()
	root := testenv.RepoRoot()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(root, f))
	}
	opts, err := cli.NewProjectOptions(
		paths,
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
		cli.WithProfiles([]string{"*"}),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("service %q: %v", name, err)
	}
	return s
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// flagValue returns the argument after flag in args, or "".
func flagValue(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

// imageTag splits an image reference into name and tag ("" when untagged).
func imageTag(ref string) (name, tag string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash {
		return ref, ""
	}
	return ref[:colon], ref[colon+1:]
}

// pinnedCLIVersion is the Temporal CLI version scripts/lib.sh pins, without "v".
func pinnedCLIVersion(t *testing.T) string {
	t.Helper()
	v := pins(t)["TEMPORAL_CLI_VERSION"]
	if v == "" {
		t.Fatal("scripts/lib.sh: no TEMPORAL_CLI_VERSION=X.Y.Z line")
	}
	return v
}

func TestComposeServices(t *testing.T) {
	p := load(t)
	if p.Name != "ordersaga" {
		t.Errorf("project name = %q, want ordersaga", p.Name)
	}
	want := append(slices.Clone(longRunning), "starter", "redis-cluster-create", "temporal-volume", "temporal-setup")
	want = append(want, clusterNodes...)
	want = append(want, observability...)
	got := p.ServiceNames()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("services = %v, want %v", got, want)
	}
	pg := loadPostgres(t)
	want = append(want, "postgres", "temporal-schema", "temporal-ui", "postgres-exporter", "postgres-exporter-role")
	got = pg.ServiceNames()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("with %s: services = %v, want %v", postgresFile, got, want)
	}
}

func TestComposeImagesArePinned(t *testing.T) {
	p := load(t)
	for name, s := range p.Services {
		img, tag := imageTag(s.Image)
		if img == "" || tag == "" || tag == "latest" {
			t.Errorf("%s: image %q must carry a tag other than latest", name, s.Image)
		}
	}
	img, tag := imageTag(service(t, p, "temporal").Image)
	if img != "temporalio/temporal" || tag != pinnedCLIVersion(t) {
		t.Errorf("temporal image = %s:%s, want temporalio/temporal:%s (the pinned CLI version)", img, tag, pinnedCLIVersion(t))
	}
	img, tag = imageTag(service(t, p, "redis").Image)
	if img != "redis" || !strings.HasPrefix(tag, "7.") {
		t.Errorf("redis image = %s:%s, want a pinned redis:7.x", img, tag)
	}
	// One service builds the image, the others run it and never pull it:
	// several services building one tag at once fail under Bake.
	for _, name := range withEnv {
		s := service(t, p, name)
		if s.Image != "ordersaga:dev" {
			t.Errorf("%s: image %q, want ordersaga:dev", name, s.Image)
		}
		builds := s.Build != nil
		if want := name == "worker"; builds != want {
			t.Errorf("%s: builds the image = %v, want %v (only the worker builds it)", name, builds, want)
		}
		if builds && s.Build.Context != testenv.RepoRoot() {
			t.Errorf("%s: must be built from the repository's Dockerfile, build = %+v", name, s.Build)
		}
		if !builds && s.PullPolicy != types.PullPolicyNever {
			t.Errorf("%s: pull_policy %q, want never (the image is built, not pulled)", name, s.PullPolicy)
		}
	}
}

func TestComposeTemporal(t *testing.T) {
	p := load(t)
	s := service(t, p, "temporal")
	cmd := []string(s.Command)
	if len(cmd) < 2 || cmd[0] != "server" || cmd[1] != "start-dev" {
		t.Fatalf("temporal command = %v, want server start-dev ...", cmd)
	}
	if ip := flagValue(cmd, "--ip"); ip != "0.0.0.0" {
		t.Errorf("--ip = %q, want 0.0.0.0 (reachable from the other containers)", ip)
	}
	if !containsRun(cmd, testenv.DevServerFlags) {
		t.Errorf("temporal command %v lacks the dev server flags %v", cmd, testenv.DevServerFlags)
	}
	if !containsRun(cmd, testenv.SearchAttributeFlags) {
		t.Errorf("temporal command %v does not register the search attributes %v", cmd, testenv.SearchAttributeFlags)
	}
	db := flagValue(cmd, "--db-filename")
	if db == "" {
		t.Fatal("temporal keeps its state in memory: want --db-filename on a named volume")
	}
	assertOnNamedVolume(t, p, s, db)
	assertPorts(t, s, 7233, 8233)

	test := strings.Join(healthTest(t, s), " ")
	if !strings.Contains(test, "temporal operator cluster health") || !strings.Contains(test, "--address 127.0.0.1:7233") {
		t.Errorf("temporal healthcheck = %q, want temporal operator cluster health --address 127.0.0.1:7233", test)
	}
}

func TestComposeRedis(t *testing.T) {
	p := load(t)
	s := service(t, p, "redis")
	assertRedisFromACLFile(t, s)
	assertOnNamedVolume(t, p, s, "/data")
	assertPorts(t, s, 6379)
	for _, user := range append(slices.Collect(maps.Values(testenv.RedisUsers)), "ordersaga-admin") {
		key, want := passwordVar(user), user+"-local-only"
		if v := s.Environment[key]; v == nil || *v != want {
			t.Errorf("redis: %s = %v, want the local default %q", key, v, want)
		}
	}
}

// composeRedisUser is the Redis user a Compose service logs in as.
func composeRedisUser(name string) string {
	if name == "worker" {
		return testenv.RedisUsers["orchestration"]
	}
	return testenv.RedisUsers[name]
}

// passwordVar is the variable that holds a Redis user's password, e.g.
// REDIS_PAYMENT_PASSWORD for ordersaga-payment.
func passwordVar(user string) string {
	return "REDIS_" + strings.ToUpper(strings.TrimPrefix(user, "ordersaga-")) + "_PASSWORD"
}

// assertRedisFromACLFile: a Redis service starts through deploy/redis/start.sh
// (which loads the repository's ACL file), mounted read-only, and checks its
// health as the application user with the password from the environment.
func assertRedisFromACLFile(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	if !slices.Equal(s.Entrypoint, types.ShellCommand{"/bin/sh", "/etc/ordersaga/redis/start.sh"}) || len(s.Command) != 0 {
		t.Errorf("%s: entrypoint %v command %v, want deploy/redis/start.sh alone", s.Name, s.Entrypoint, s.Command)
	}
	mounted := false
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == "/etc/ordersaga/redis" {
			mounted = v.ReadOnly && v.Source == filepath.Join(testenv.RepoRoot(), "deploy", "redis")
		}
	}
	if !mounted {
		t.Errorf("%s: deploy/redis is not mounted read-only at /etc/ordersaga/redis: %+v", s.Name, s.Volumes)
	}
	test := strings.Join(healthTest(t, s), " ")
	if !strings.Contains(test, `REDISCLI_AUTH="$REDIS_STARTER_PASSWORD"`) || !strings.Contains(test, "--user "+testenv.RedisStarterUser) || !strings.Contains(test, "ping") {
		t.Errorf("%s healthcheck = %q, want redis-cli ping as %s with REDISCLI_AUTH", s.Name, test, testenv.RedisStarterUser)
	}
}

// TestComposeNoSecretsOnCommandLines: with distinct passwords set, no
// entrypoint, command or healthcheck of any service, in any variant,
// carries one (docker inspect and ps would show it).
func TestComposeNoSecretsOnCommandLines(t *testing.T) {
	env := []string{"REDIS_STARTER_PASSWORD=app-pw-7f3a", "REDIS_ADMIN_PASSWORD=admin-pw-9c1e", "TEMPORAL_PG_PASSWORD=pg-pw-4b2d", "REDIS_CLUSTER=3"}
	for _, p := range []*types.Project{load(t, env...), loadPostgres(t, env...)} {
		for name, s := range p.Services {
			argv := append(slices.Clone([]string(s.Entrypoint)), s.Command...)
			if s.HealthCheck != nil {
				argv = append(argv, s.HealthCheck.Test...)
			}
			for _, secret := range []string{"app-pw-7f3a", "admin-pw-9c1e", "pg-pw-4b2d"} {
				if strings.Contains(strings.Join(argv, " "), secret) {
					t.Errorf("%s: a password is on a command line: %v", name, argv)
				}
			}
		}
	}
}

func TestComposePasswordOverride(t *testing.T) {
	env := []string{"REDIS_ADMIN_PASSWORD=changed-admin", "TEMPORAL_PORT=17233", "TEMPORAL_UI_PORT=18233", "REDIS_PORT=16379"}
	for _, name := range withEnv {
		env = append(env, passwordVar(composeRedisUser(name))+"=changed-"+name)
	}
	p := load(t, env...)
	r := service(t, p, "redis")
	if v := r.Environment["REDIS_ADMIN_PASSWORD"]; v == nil || *v != "changed-admin" {
		t.Errorf("REDIS_ADMIN_PASSWORD override: redis has %v", v)
	}
	for _, name := range withEnv {
		user, key := composeRedisUser(name), passwordVar(composeRedisUser(name))
		if v := r.Environment[key]; v == nil || *v != "changed-"+name {
			t.Errorf("%s override: redis has %v", key, v)
		}
		u := redisURL(t, service(t, p, name))
		if pw, _ := u.User.Password(); pw != "changed-"+name || u.User.Username() != user {
			t.Errorf("%s: REDIS_URL user %q password %q, want %s with %s", name, u.User.Username(), pw, user, key)
		}
	}
	published := map[string][]string{}
	for _, name := range []string{"temporal", "redis"} {
		for _, port := range service(t, p, name).Ports {
			published[name] = append(published[name], port.Published)
		}
	}
	if !slices.Equal(published["temporal"], []string{"17233", "18233"}) || !slices.Equal(published["redis"], []string{"16379"}) {
		t.Errorf("published ports = %v, want the TEMPORAL_PORT, TEMPORAL_UI_PORT and REDIS_PORT overrides", published)
	}
}

// jobs run once and exit 0; whatever waits for them waits for that.
var jobs = []string{"redis-cluster-create", "temporal-schema", "temporal-setup", "temporal-volume", "postgres-exporter-role"}

// startedOnly may wait for a service to have started rather than be
// healthy: Prometheus records the workers from their start, ready or not.
var startedOnly = map[string]bool{"prometheus": true}

func TestComposeDependsOnHealthy(t *testing.T) {
	for _, p := range []*types.Project{load(t), loadPostgres(t)} {
		for name, s := range p.Services {
			for dep, d := range s.DependsOn {
				if slices.Contains(jobs, dep) {
					if d.Condition != types.ServiceConditionCompletedSuccessfully {
						t.Errorf("%s depends on the job %s with condition %q, want %s", name, dep, d.Condition, types.ServiceConditionCompletedSuccessfully)
					}
					if r := service(t, p, dep).Restart; r != "" && r != types.RestartPolicyNo {
						t.Errorf("job %s: restart = %q, want no", dep, r)
					}
					continue
				}
				if startedOnly[name] && d.Condition == types.ServiceConditionStarted {
					continue
				}
				if d.Condition != types.ServiceConditionHealthy {
					t.Errorf("%s depends on %s with condition %q, want %s", name, dep, d.Condition, types.ServiceConditionHealthy)
				}
				healthTest(t, service(t, p, dep))
			}
		}
	}
	p := load(t)
	needs := map[string][]string{"worker": {"redis", "redis-cluster-create", "temporal", "temporal-setup"},
		"web":     {"redis", "redis-cluster-create", "temporal", "temporal-setup"},
		"starter": {"fraud", "inventory", "notify", "order", "payment", "redis", "redis-cluster-create", "shipping", "temporal", "temporal-setup", "worker"}}
	for _, svc := range choreography.Services {
		needs[svc] = []string{"redis", "redis-cluster-create"}
	}
	for name, want := range needs {
		var got []string
		for dep, d := range service(t, p, name).DependsOn {
			got = append(got, dep)
			if dep == "redis-cluster-create" && d.Required {
				t.Errorf("%s: the cluster job is only there with --profile cluster; want required: false", name)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s depends on %v, want %v", name, got, want)
		}
	}
}

func TestComposePortsOnLoopback(t *testing.T) {
	p := load(t)
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %d on %q, want 127.0.0.1", name, port.Target, port.HostIP)
			}
		}
		if len(s.Ports) > 0 && name != "temporal" && name != "redis" && name != "web" && !slices.Contains(observability, name) {
			t.Errorf("%s publishes ports; only the servers, the live page and the observability profile need to", name)
		}
	}
	pg := loadPostgres(t)
	for name, s := range pg.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: %s publishes %d on %q, want 127.0.0.1", postgresFile, name, port.Target, port.HostIP)
			}
		}
	}
	assertPorts(t, service(t, pg, "temporal"), 7233)
	if ports := service(t, pg, "temporal-ui").Ports; len(ports) != 1 || ports[0].Published != "8233" || ports[0].Target != 8080 {
		t.Errorf("temporal-ui publishes %+v, want 127.0.0.1:8233 -> 8080 (the dev server's UI port)", ports)
	}
	if len(service(t, pg, "postgres").Ports) != 0 {
		t.Error("postgres publishes a port; only Temporal needs it")
	}
}

func TestComposeRestartAndProfiles(t *testing.T) {
	p := load(t)
	for _, name := range longRunning {
		s := service(t, p, name)
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s: restart = %q, want unless-stopped", name, s.Restart)
		}
		if len(s.Profiles) != 0 {
			t.Errorf("%s: profiles %v, want none (started by docker compose up)", name, s.Profiles)
		}
	}
	for _, name := range append(slices.Clone(clusterNodes), "redis-cluster-create") {
		if s := service(t, p, name); !slices.Equal(s.Profiles, []string{"cluster"}) {
			t.Errorf("%s profiles = %v, want [cluster]", name, s.Profiles)
		}
	}
	s := service(t, p, "starter")
	if !slices.Equal(s.Profiles, []string{"tools"}) {
		t.Errorf("starter profiles = %v, want [tools]", s.Profiles)
	}
	if s.Restart == types.RestartPolicyUnlessStopped || s.Restart == types.RestartPolicyAlways {
		t.Errorf("starter is a one-off command, restart = %q", s.Restart)
	}
	if !slices.Equal(s.Entrypoint, types.ShellCommand{"starter"}) {
		t.Errorf("starter entrypoint = %v, want [starter]", s.Entrypoint)
	}
}

// TestComposeWorkerServices checks that each of the worker's --services runs
// in a container of its own, the choreography ones with a fixed consumer name.
func TestComposeWorkerServices(t *testing.T) {
	p := load(t)
	consumers := map[string]bool{}
	for _, name := range appServices {
		cmd := []string(service(t, p, name).Command)
		want := name
		if name == "worker" {
			want = orchestrationService
		}
		if got := flagValue(cmd, "--services"); got != want {
			t.Errorf("%s: --services %q, want %q", name, got, want)
		}
		if name == "worker" {
			continue
		}
		c := flagValue(cmd, "--consumer-name")
		if c == "" || strings.Contains(c, "$") {
			t.Errorf("%s: --consumer-name %q, want a fixed name (the default is the container's random hostname)", name, c)
		}
		full := c + "-" + name
		if consumers[full] {
			t.Errorf("%s: consumer %q used twice", name, full)
		}
		consumers[full] = true
	}
}

// TestComposeEnvMatchesConfig feeds each service's environment to
// config.FromEnv, so the variable names are the ones the code reads.
func TestComposeEnvMatchesConfig(t *testing.T) {
	p := load(t)
	for _, name := range withEnv {
		user := composeRedisUser(name)
		redisPW := *service(t, p, "redis").Environment[passwordVar(user)]
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			for _, key := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "REDIS_URL", "TEMPORAL_UI_URL"} {
				v := s.Environment[key]
				if v == nil || *v == "" {
					t.Fatalf("%s is not set", key)
				}
				t.Setenv(key, *v)
			}
			if v := s.Environment["REDIS_CLUSTER_URL"]; v != nil && *v != "" {
				t.Errorf("REDIS_CLUSTER_URL = %q without REDIS_CLUSTER: the single Redis must be used", *v)
			}
			t.Setenv("REDIS_CLUSTER_URL", "")
			cfg := config.FromEnv()
			if cfg.TemporalAddress != "temporal:7233" {
				t.Errorf("TemporalAddress = %q, want temporal:7233", cfg.TemporalAddress)
			}
			if cfg.Namespace != config.DefaultNamespace {
				t.Errorf("Namespace = %q, want %q", cfg.Namespace, config.DefaultNamespace)
			}
			if cfg.UIURL != config.DefaultUIURL {
				t.Errorf("UIURL = %q, want %q (links open in the host's browser)", cfg.UIURL, config.DefaultUIURL)
			}
			u := redisURL(t, s)
			if u.Host != "redis:6379" {
				t.Errorf("REDIS_URL host = %q, want redis:6379", u.Host)
			}
			if pw, _ := u.User.Password(); pw != redisPW || u.User.Username() != user {
				t.Errorf("REDIS_URL user %q password %q, want %s with redis's %s %q", u.User.Username(), pw, user, passwordVar(user), redisPW)
			}
		})
	}
}

// TestComposeCluster: the cluster profile has six nodes from the same
// entrypoint and ACL file, each on a volume of its own and announcing its
// service name, a job that assigns the slots to three masters with a
// replica each once they are healthy, and REDIS_CLUSTER=3 points every
// application service at them.
func TestComposeCluster(t *testing.T) {
	p := load(t, "REDIS_CLUSTER=3", "REDIS_PAYMENT_PASSWORD=cluster-pw")
	for _, name := range clusterNodes {
		s := service(t, p, name)
		assertRedisFromACLFile(t, s)
		assertOnNamedVolume(t, p, s, "/data")
		if v := s.Environment["REDIS_CLUSTER_NODE"]; v == nil || *v != "yes" {
			t.Errorf("%s: REDIS_CLUSTER_NODE = %v, want yes", name, v)
		}
		if v := s.Environment["REDIS_ANNOUNCE_HOSTNAME"]; v == nil || *v != name {
			t.Errorf("%s: REDIS_ANNOUNCE_HOSTNAME = %v, want its service name: a node reconnected under a new IP is found by its name", name, v)
		}
		if len(s.Ports) != 0 {
			t.Errorf("%s publishes ports: a cluster redirects to the nodes' own addresses, reachable only inside the network", name)
		}
		for _, v := range s.Volumes {
			for _, other := range clusterNodes {
				if other != name && v.Source == other+"-data" {
					t.Errorf("%s shares the volume of %s", name, other)
				}
			}
		}
	}
	job := service(t, p, "redis-cluster-create")
	var deps []string
	for dep := range job.DependsOn {
		deps = append(deps, dep)
	}
	slices.Sort(deps)
	if !slices.Equal(deps, clusterNodes) {
		t.Errorf("redis-cluster-create depends on %v, want %v", deps, clusterNodes)
	}
	script := readFile(t, "deploy/redis/create-cluster.sh")
	for _, want := range []string{"--cluster create", `--cluster-replicas "${REDIS_CLUSTER_REPLICAS:-1}"`, "--cluster-yes", "REDISCLI_AUTH",
		"redis-node-1 redis-node-2 redis-node-3 redis-node-4 redis-node-5 redis-node-6", "master_link_status:up"} {
		if !strings.Contains(script, want) {
			t.Errorf("deploy/redis/create-cluster.sh lacks %s", want)
		}
	}
	for _, name := range withEnv {
		v := service(t, p, name).Environment["REDIS_CLUSTER_URL"]
		if v == nil {
			t.Fatalf("%s: REDIS_CLUSTER_URL is not set with REDIS_CLUSTER=3", name)
		}
		opts, err := redis.ParseClusterURL(*v)
		if err != nil {
			t.Fatalf("%s: REDIS_CLUSTER_URL %q: %v", name, config.Redact(*v), err)
		}
		var want []string
		for _, n := range clusterNodes[:3] {
			want = append(want, n+":6379")
		}
		user := composeRedisUser(name)
		pw := *service(t, p, clusterNodes[0]).Environment[passwordVar(user)]
		if !slices.Equal(opts.Addrs, want) || opts.Username != user || opts.Password != pw || name == "payment" && pw != "cluster-pw" {
			t.Errorf("%s: cluster %v as %q, want %v as %s with %s", name, opts.Addrs, opts.Username, want, user, passwordVar(user))
		}
		t.Setenv("REDIS_CLUSTER_URL", *v)
		if cfg := config.FromEnv(); cfg.RedisClusterURL != *v {
			t.Errorf("config.FromEnv does not read REDIS_CLUSTER_URL")
		}
	}
}

func TestDockerfile(t *testing.T) {
	type stage struct{ from, user string }
	var stages []stage
	for _, line := range strings.Split(readFile(t, "Dockerfile"), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			stages = append(stages, stage{from: f[1]})
		case "USER":
			if len(stages) > 0 {
				stages[len(stages)-1].user = f[1]
			}
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and a runtime stage", len(stages))
	}
	for _, s := range stages {
		if s.from == "scratch" {
			continue
		}
		if _, tag := imageTag(s.from); tag == "" || tag == "latest" {
			t.Errorf("FROM %s: want a pinned tag", s.from)
		}
	}
	goMod := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readFile(t, "go.mod"))
	if img, tag := imageTag(stages[0].from); img != "golang" || goMod == nil || !strings.HasPrefix(tag, goMod[1]+".") {
		t.Errorf("builder FROM %s, want golang:%s.x as in go.mod", stages[0].from, goMod)
	}
	text := readFile(t, "Dockerfile")
	for _, want := range []string{"CGO_ENABLED=0", "./worker", "./starter"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile does not mention %s", want)
		}
	}
	user, _, _ := strings.Cut(stages[len(stages)-1].user, ":")
	if user == "" || user == "root" || user == "0" {
		t.Errorf("runtime stage runs as %q, want a non-root USER", stages[len(stages)-1].user)
	}

	ignored := strings.Fields(readFile(t, ".dockerignore"))
	for _, want := range []string{".git", ".bin", ".state", "bin"} {
		if !slices.Contains(ignored, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}

// TestLocalScriptsMatchCompose checks that `make up` runs the dev server and
// Redis like the Compose stack does.
func TestLocalScriptsMatchCompose(t *testing.T) {
	lib := readFile(t, "scripts/lib.sh")
	for _, v := range append(slices.Clone(testenv.DevServerFlags), testenv.SearchAttributeFlags...) {
		if !strings.Contains(lib, v) {
			t.Errorf("scripts/lib.sh lacks the dev server flag %s", v)
		}
	}
	for _, v := range []string{
		// REDIS_<USER>_PASSWORD, default ordersaga-<user>-local-only.
		"REDIS_USERS=(order inventory fraud payment shipping notify worker starter web exporter)",
		`"${!var:-ordersaga-$user-local-only}"`,
		`redis_user() { echo "ordersaga-$1"; }`,
		"TEMPORAL_PG_PASSWORD=${TEMPORAL_PG_PASSWORD:-" + localRedisPassword + "}",
	} {
		if !strings.Contains(lib, v) {
			t.Errorf("scripts/lib.sh: want the same default as the Compose files: %s", v)
		}
	}
	for _, v := range []string{"TEMPORAL_PORT:-7233", "TEMPORAL_UI_PORT:-8233", "REDIS_PORT:-6379", "TEMPORAL_HISTORY_SHARDS:-4", "TEMPORAL_BACKEND:-dev"} {
		if !strings.Contains(lib, v) {
			t.Errorf("scripts/lib.sh lacks the default %s", v)
		}
	}
	// One ACL file, one schema script, one registration script, one server
	// config: make up uses the repository's, as Compose and the tests do.
	up := readFile(t, "scripts/up-redis.sh") + readFile(t, "scripts/lib.sh") + readFile(t, "scripts/up-temporal.sh")
	for _, want := range []string{"deploy/redis/users.acl", "deploy/temporal/setup-schema.sh", "deploy/temporal/register.sh", `--root "$ROOT/deploy/temporal" --config config --env ordersaga`, "deploy/temporal/dynamicconfig.yaml", "--config ui --env ordersaga"} {
		if !strings.Contains(up, want) {
			t.Errorf("make up's scripts do not use %s", want)
		}
	}
	if strings.Contains(up, "requirepass") || strings.Contains(up, "redis-cli -a") || strings.Contains(up, "--pass ") {
		t.Error("make up passes a Redis password some other way than the ACL file and REDISCLI_AUTH")
	}
	// up.sh takes a worker as ready once its /readyz says so.
	if !strings.Contains(readFile(t, "scripts/up.sh"), "wait_for 60 \"$name\" worker_ready") ||
		!strings.Contains(lib, `"$ROOT/bin/worker" healthcheck --addr "$(metrics_addr "$1")"`) {
		t.Error("scripts/up.sh waits for each worker's readiness with `worker healthcheck` on its metrics address; keep the two in step")
	}
}

// pins reads the versions scripts/lib.sh pins.
func pins(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(TEMPORAL_\w+_VERSION)=(\S+)$`).FindAllStringSubmatch(readFile(t, "scripts/lib.sh"), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// TestPinnedVersionsAgree: the Makefile, make up's scripts and both Compose
// files name the same Temporal CLI, server and UI versions.
func TestPinnedVersionsAgree(t *testing.T) {
	v := pins(t)
	cli, server, ui := v["TEMPORAL_CLI_VERSION"], v["TEMPORAL_SERVER_VERSION"], v["TEMPORAL_UI_VERSION"]
	if cli == "" || server == "" || ui == "" {
		t.Fatalf("scripts/lib.sh pins %v, want the CLI, server and UI versions", v)
	}
	tools := readFile(t, "scripts/tools.sh")
	for _, want := range []string{"github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION", "go.temporal.io/server/cmd/server@v$TEMPORAL_SERVER_VERSION", "go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_SERVER_VERSION", "github.com/temporalio/ui-server/v2/cmd/server@v$TEMPORAL_UI_VERSION"} {
		if !strings.Contains(tools, want) {
			t.Errorf("scripts/tools.sh does not build %s", want)
		}
	}
	p := loadPostgres(t)
	for svc, want := range map[string]string{
		"temporal":        "temporalio/server:" + server,
		"temporal-schema": "temporalio/admin-tools:" + server,
		"temporal-setup":  "temporalio/admin-tools:" + server,
		"temporal-ui":     "temporalio/ui:" + ui,
	} {
		if got := service(t, p, svc).Image; got != want {
			t.Errorf("%s: image %s, want %s", svc, got, want)
		}
	}
	if img, tag := imageTag(service(t, p, "postgres").Image); img != "postgres" || !strings.HasPrefix(tag, "15.") {
		t.Errorf("postgres image %s:%s, want a pinned postgres:15.x", img, tag)
	}
}

// TestComposePostgres: PostgreSQL, then the schema job, then the server
// (which needs the job to have finished), then the namespace job, then the
// application; every long-running service with a healthcheck; one password
// for PostgreSQL, the schema job and the server.
func TestComposePostgres(t *testing.T) {
	p := loadPostgres(t, "TEMPORAL_PG_PASSWORD=pg-secret", "TEMPORAL_HISTORY_SHARDS=8")
	wantDeps := map[string]map[string]string{
		"temporal-schema": {"postgres": types.ServiceConditionHealthy},
		"temporal":        {"postgres": types.ServiceConditionHealthy, "temporal-schema": types.ServiceConditionCompletedSuccessfully, "temporal-volume": types.ServiceConditionCompletedSuccessfully},
		"temporal-setup":  {"temporal": types.ServiceConditionHealthy},
		"temporal-ui":     {"temporal": types.ServiceConditionHealthy},
	}
	for name, want := range wantDeps {
		got := map[string]string{}
		for dep, d := range service(t, p, name).DependsOn {
			got[dep] = d.Condition
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s depends on %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"worker", "starter"} {
		if d, ok := service(t, p, name).DependsOn["temporal-setup"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s does not wait for the namespace and search attributes (temporal-setup)", name)
		}
	}
	for _, name := range []string{"postgres", "temporal", "temporal-ui"} {
		healthTest(t, service(t, p, name))
	}
	env := func(svc, key string) string {
		v := service(t, p, svc).Environment[key]
		if v == nil {
			t.Errorf("%s: %s is not set", svc, key)
			return ""
		}
		return *v
	}
	for _, got := range []string{env("postgres", "POSTGRES_PASSWORD"), env("temporal-schema", "SQL_PASSWORD"), env("temporal", "TEMPORAL_PG_PASSWORD")} {
		if got != "pg-secret" {
			t.Errorf("the database password %q does not follow TEMPORAL_PG_PASSWORD", got)
		}
	}
	if env("temporal", "TEMPORAL_HISTORY_SHARDS") != "8" {
		t.Error("TEMPORAL_HISTORY_SHARDS does not reach the server")
	}
	s := service(t, p, "temporal")
	if len(s.Command) != 0 || !slices.Equal(s.Entrypoint, types.ShellCommand{"/bin/sh", "/etc/ordersaga/temporal/start-server.sh"}) {
		t.Errorf("temporal: entrypoint %v command %v, want deploy/temporal/start-server.sh and no dev server flags", s.Entrypoint, s.Command)
	}
	for _, v := range s.Volumes {
		if v.Target == "/home/temporal" {
			t.Error("temporal still mounts the dev server's volume")
		}
	}
	// The paths the server's environment names exist in the mounted folder.
	dyn := env("temporal", "TEMPORAL_DYNAMIC_CONFIG")
	if rel, ok := strings.CutPrefix(dyn, "/etc/ordersaga/temporal/"); !ok {
		t.Errorf("TEMPORAL_DYNAMIC_CONFIG %q is outside the mounted deploy/temporal", dyn)
	} else {
		readFile(t, filepath.Join("deploy", "temporal", rel))
	}
	start := readFile(t, "deploy/temporal/start-server.sh")
	if !strings.Contains(start, "--root /etc/ordersaga/temporal --config config --env ordersaga") {
		t.Error("deploy/temporal/start-server.sh does not run the server on the repository's config")
	}
	for _, job := range []string{"temporal-schema", "temporal-setup"} {
		s := service(t, p, job)
		if len(s.Entrypoint) != 2 || !strings.HasPrefix(s.Entrypoint[1], "/etc/ordersaga/temporal/") {
			t.Fatalf("%s entrypoint %v, want a script of deploy/temporal", job, s.Entrypoint)
		}
		readFile(t, filepath.Join("deploy", "temporal", strings.TrimPrefix(s.Entrypoint[1], "/etc/ordersaga/temporal/")))
	}
	assertOnNamedVolume(t, p, service(t, p, "postgres"), "/var/lib/postgresql/data")
}

// TestDynamicConfigMatchesDevServer: the PostgreSQL-backed server runs with
// the dev server's dynamic config values.
func TestDynamicConfigMatchesDevServer(t *testing.T) {
	text := readFile(t, "deploy/temporal/dynamicconfig.yaml")
	values := map[string]string{}
	key := ""
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "":
		case !strings.HasPrefix(line, " "):
			key = strings.TrimSuffix(strings.TrimSpace(line), ":")
		case strings.Contains(line, "- value:"):
			values[key] = strings.TrimSpace(strings.SplitN(line, "- value:", 2)[1])
		}
	}
	want := map[string]string{}
	for i := 0; i+1 < len(testenv.DevServerFlags); i += 2 {
		k, v, _ := strings.Cut(testenv.DevServerFlags[i+1], "=")
		want[k] = v
	}
	if fmt.Sprint(values) != fmt.Sprint(want) {
		t.Errorf("deploy/temporal/dynamicconfig.yaml = %v, want the dev server's %v", values, want)
	}
}

func healthTest(t *testing.T, s types.ServiceConfig) []string {
	t.Helper()
	h := s.HealthCheck
	if h == nil || h.Disable || len(h.Test) < 2 || h.Test[0] == "NONE" {
		t.Fatalf("%s: no healthcheck", s.Name)
	}
	return h.Test[1:]
}

func redisURL(t *testing.T, s types.ServiceConfig) *url.URL {
	t.Helper()
	v := s.Environment["REDIS_URL"]
	if v == nil {
		t.Fatalf("%s: REDIS_URL is not set", s.Name)
	}
	u, err := url.Parse(*v)
	if err != nil || u.Scheme != "redis" || u.User == nil {
		t.Fatalf("%s: REDIS_URL %q: want redis://:PASSWORD@host:port/db (%v)", s.Name, *v, err)
	}
	return u
}

// assertPorts checks that s publishes exactly targets, by default on the same host ports.
func assertPorts(t *testing.T, s types.ServiceConfig, targets ...uint32) {
	t.Helper()
	var got []uint32
	for _, p := range s.Ports {
		got = append(got, p.Target)
		if p.Published != strconv.FormatUint(uint64(p.Target), 10) {
			t.Errorf("%s: container port %d is published on %s, want the same port by default", s.Name, p.Target, p.Published)
		}
	}
	if !slices.Equal(got, targets) {
		t.Errorf("%s publishes %v, want %v", s.Name, got, targets)
	}
}

// assertOnNamedVolume checks that path lies on a named volume of the project.
func assertOnNamedVolume(t *testing.T, p *types.Project, s types.ServiceConfig, path string) {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeVolume || (path != v.Target && !strings.HasPrefix(path, v.Target+"/")) {
			continue
		}
		if _, ok := p.Volumes[v.Source]; !ok {
			t.Errorf("%s: volume %q is not declared under volumes:", s.Name, v.Source)
		}
		return
	}
	t.Errorf("%s: %s is not on a named volume (volumes: %+v)", s.Name, path, s.Volumes)
}

// containsRun reports whether run appears in args as consecutive elements.
func containsRun(args, run []string) bool {
	for i := 0; i+len(run) <= len(args); i++ {
		if slices.Equal(args[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

// TestScriptsParse: every shell script of make up and of the Compose
// containers at least parses, in the shell that runs it (bash for scripts/,
// POSIX sh for deploy/, which runs inside the images too).
func TestScriptsParse(t *testing.T) {
	root := testenv.RepoRoot()
	for shell, pattern := range map[string]string{"bash": "scripts/*.sh", "sh": "deploy/*/*.sh"} {
		files, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s: %v", pattern, err)
		}
		for _, f := range append(files, filepath.Join(root, ".ci", "run")) {
			if shell == "sh" && strings.HasSuffix(f, "run") {
				continue
			}
			if out, err := exec.Command(shell, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s -n %s: %v\n%s", shell, f, err, out)
			}
		}
	}
}
