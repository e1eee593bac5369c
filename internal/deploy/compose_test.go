// Package deploy_test checks the deployment files against the code: the
// Compose stack (docker-compose.yml), the Dockerfile and the scripts behind
// `make up`, so that a rename on either side fails a test instead of a demo.
package deploy_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/config"
	"github.com/ordersaga/ordersaga/internal/testenv"
)

const (
	orchestrationService = "orchestration"
	localRedisPassword   = "ordersaga-local-only"
)

// appServices run the worker binary; longRunning also includes the servers.
var (
	appServices = append([]string{"worker"}, choreography.Services...)
	longRunning = append([]string{"temporal", "redis"}, appServices...)
	withEnv     = append(slices.Clone(appServices), "starter")
)

// load reads docker-compose.yml with every profile active and only env set
// for interpolation, so defaults are what a fresh checkout gets.
func load(t *testing.T, env ...string) *types.Project {
	t.Helper()
	root := testenv.RepoRoot()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
		cli.WithProfiles([]string{"*"}),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
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

// makefileTemporalVersion is the Temporal CLI version the Makefile pins, without "v".
func makefileTemporalVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^TEMPORAL_CLI\s*:=\s*\S+@v(\S+)\s*$`).FindStringSubmatch(readFile(t, "Makefile"))
	if m == nil {
		t.Fatal("Makefile: no TEMPORAL_CLI := ...@vX.Y.Z line")
	}
	return m[1]
}

func TestComposeServices(t *testing.T) {
	p := load(t)
	if p.Name != "ordersaga" {
		t.Errorf("project name = %q, want ordersaga", p.Name)
	}
	want := append(slices.Clone(longRunning), "starter")
	got := p.ServiceNames()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("services = %v, want %v", got, want)
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
	if img != "temporalio/temporal" || tag != makefileTemporalVersion(t) {
		t.Errorf("temporal image = %s:%s, want temporalio/temporal:%s (the Makefile's TEMPORAL_CLI version)", img, tag, makefileTemporalVersion(t))
	}
	img, tag = imageTag(service(t, p, "redis").Image)
	if img != "redis" || !strings.HasPrefix(tag, "7.") {
		t.Errorf("redis image = %s:%s, want a pinned redis:7.x", img, tag)
	}
	for _, name := range withEnv {
		s := service(t, p, name)
		if s.Build == nil || s.Build.Context != testenv.RepoRoot() {
			t.Errorf("%s: must be built from the repository's Dockerfile, build = %+v", name, s.Build)
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
	if slices.Contains(cmd, "--search-attribute") {
		t.Error("the workflow uses no custom search attributes")
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
	cmd := []string(s.Command)
	if flagValue(cmd, "--appendonly") != "yes" {
		t.Errorf("redis command %v: want --appendonly yes", cmd)
	}
	if pw := flagValue(cmd, "--requirepass"); pw != localRedisPassword {
		t.Errorf("redis --requirepass = %q, want the local default %q", pw, localRedisPassword)
	}
	assertOnNamedVolume(t, p, s, filepath.Join(flagValue(cmd, "--dir"), "appendonlydir"))
	assertPorts(t, s, 6379)
	test := strings.Join(healthTest(t, s), " ")
	if !strings.Contains(test, "redis-cli") || !strings.Contains(test, "ping") || !strings.Contains(test, "REDIS_PASSWORD") {
		t.Errorf("redis healthcheck = %q, want redis-cli with the password, ping", test)
	}
	if v := s.Environment["REDIS_PASSWORD"]; v == nil || *v != localRedisPassword {
		t.Errorf("redis: REDIS_PASSWORD for the healthcheck = %v, want %q", v, localRedisPassword)
	}
}

func TestComposePasswordOverride(t *testing.T) {
	p := load(t, "REDIS_PASSWORD=changed-pw", "TEMPORAL_PORT=17233", "TEMPORAL_UI_PORT=18233", "REDIS_PORT=16379")
	if pw := flagValue(service(t, p, "redis").Command, "--requirepass"); pw != "changed-pw" {
		t.Errorf("REDIS_PASSWORD override: --requirepass = %q", pw)
	}
	for _, name := range withEnv {
		u := redisURL(t, service(t, p, name))
		if pw, _ := u.User.Password(); pw != "changed-pw" {
			t.Errorf("%s: REDIS_URL password %q does not follow REDIS_PASSWORD", name, pw)
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

func TestComposeDependsOnHealthy(t *testing.T) {
	p := load(t)
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s depends on %s with condition %q, want %s", name, dep, d.Condition, types.ServiceConditionHealthy)
			}
			healthTest(t, service(t, p, dep))
		}
	}
	needs := map[string][]string{"worker": {"redis", "temporal"}, "starter": {"redis", "temporal"}}
	for _, svc := range choreography.Services {
		needs[svc] = []string{"redis"}
	}
	for name, want := range needs {
		var got []string
		for dep := range service(t, p, name).DependsOn {
			got = append(got, dep)
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
		if len(s.Ports) > 0 && name != "temporal" && name != "redis" {
			t.Errorf("%s publishes ports; only the servers need to", name)
		}
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
	redisPW := flagValue(service(t, p, "redis").Command, "--requirepass")
	for _, name := range withEnv {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			for _, key := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "REDIS_URL", "TEMPORAL_UI_URL"} {
				v := s.Environment[key]
				if v == nil || *v == "" {
					t.Fatalf("%s is not set", key)
				}
				t.Setenv(key, *v)
			}
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
			if pw, _ := u.User.Password(); pw != redisPW {
				t.Errorf("REDIS_URL password = %q, want redis's --requirepass %q", pw, redisPW)
			}
		})
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
	for _, v := range testenv.DevServerFlags {
		if !strings.Contains(lib, v) {
			t.Errorf("scripts/lib.sh lacks the dev server flag %s", v)
		}
	}
	if !strings.Contains(lib, "REDIS_PASSWORD=${REDIS_PASSWORD:-"+localRedisPassword+"}") {
		t.Errorf("scripts/lib.sh: want the same Redis password default as docker-compose.yml (%s)", localRedisPassword)
	}
	for _, v := range []string{"TEMPORAL_PORT:-7233", "TEMPORAL_UI_PORT:-8233", "REDIS_PORT:-6379"} {
		if !strings.Contains(lib, v) {
			t.Errorf("scripts/lib.sh lacks the port default %s", v)
		}
	}
	// up.sh takes a worker as ready once its log says so.
	if !strings.Contains(readFile(t, "scripts/up.sh"), `msg="worker running"`) ||
		!strings.Contains(readFile(t, "worker/main.go"), `log.Info("worker running"`) {
		t.Error(`scripts/up.sh waits for the worker's "worker running" log line; keep the two in step`)
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
