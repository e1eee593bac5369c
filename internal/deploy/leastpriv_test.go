package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/scenarios"
	"github.com/ordersaga/ordersaga/internal/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// Secrets used by the least-privilege tests: each must never show up in an
// output, an error or a command line.
const (
	appPassword   = "app-Secr3t-41c2"
	adminPassword = "adm-Secr3t-77e0"
	apiKey        = "tmprl-Secr3t-api-key-9d0b"
)

var secrets = []string{appPassword, adminPassword, apiKey}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the worker and starter once per test binary.
func binaries(t *testing.T) (worker, starter string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ordersaga-deploy-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./worker", "./starter")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build worker and starter: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "worker"), filepath.Join(binDir, "starter")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// appEnv is the environment worker and starter run with: the limited Redis
// user, an API key for Temporal (sent in clear: the dev server has no TLS
// and ignores it), and no temporal.toml of the machine's user.
func appEnv(t *testing.T, redisURL, temporalAddr string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "TEMPORAL_") && !strings.HasPrefix(k, "REDIS_") {
			env = append(env, kv)
		}
	}
	return append(env, "REDIS_URL="+redisURL, "TEMPORAL_ADDRESS="+temporalAddr, "TEMPORAL_API_KEY="+apiKey,
		"TEMPORAL_TLS=false", "TEMPORAL_CONFIG_FILE="+filepath.Join(t.TempDir(), "none.toml"))
}

// noSecret fails t if text shows any of the secrets.
func noSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows a secret (%.4s…):\n%s", what, s, text)
		}
	}
}

// runStarter runs the starter and returns its combined output and exit code.
func runStarter(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	noSecret(t, "starter "+strings.Join(args, " "), string(out))
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("starter %v: %v", args, err)
	}
	return string(out), 0
}

// startWorker runs the worker with every service; it is stopped (SIGTERM)
// when the test ends and its output checked for secrets.
func startWorker(t *testing.T, bin string, env []string) *exec.Cmd {
	t.Helper()
	var mu sync.Mutex
	var out bytes.Buffer
	pr, pw := io.Pipe()
	cmd := exec.Command(bin, "--log-level", "debug", "--consumer-name", "acl")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = pw, pw
	testenv.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), `msg="worker running"`) {
				once.Do(func() { close(ready) })
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); _ = pw.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		mu.Lock()
		defer mu.Unlock()
		noSecret(t, "the worker's output", out.String())
	})
	select {
	case <-ready:
	case err := <-done:
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("worker exited at start: %v\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatal("worker not running after 60s")
	}
	args, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
	noSecret(t, "the worker's command line", string(args))
	return cmd
}

// TestLeastPrivilege runs real work on both engines as the limited Redis
// user of deploy/redis/users.acl (the worker and starter binaries, then the
// shared scenario suite), with a Temporal API key set, and checks that no
// output shows a secret and that the user is refused keys outside
// ordersaga:* and administration commands.
func TestLeastPrivilege(t *testing.T) {
	srv := testenv.StartRedisACL(t, appPassword, adminPassword)
	tsrv := testenv.StartTemporalBackend(t, testenv.BackendDev)
	workerBin, starterBin := binaries(t)
	env := appEnv(t, srv.AppURL(), tsrv.Address)
	startWorker(t, workerBin, env)

	for _, args := range [][]string{
		{"order", "--id", "acl-1", "--timeout", "60s"},
		{"order", "--id", "acl-2", "--fail", "payment", "--timeout", "60s"},
		{"status", "acl-2"},
		{"history", "acl-2"},
		{"verify"},
		{"stock"},
		{"dlq", "list"},
		{"bench", "--orders", "10", "--concurrency", "2", "--baseline", "--reset", "--force"},
		{"stock", "--reset", "--force"},
		{"verify"},
	} {
		if out, code := runStarter(t, starterBin, env, args...); code != 0 {
			t.Errorf("starter %s as the limited user: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}

	// The shared scenario suite, through the same worker, as the limited user.
	rdb := srv.AppClient()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tc, err := client.Dial(client.Options{HostPort: tsrv.Address, Namespace: tsrv.Namespace, Logger: tlog.NewStructuredLogger(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	catalog := shop.DefaultCatalog()
	node := choreography.NewNode(rdb, catalog, quiet)
	if err := node.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, eng := range []interface {
		shop.Engine
		Prefix() string
	}{workflows.NewEngine(tc, catalog).WithRedis(rdb), choreography.NewEngine(node, catalog)} {
		for name, out := range scenarios.Run(t, eng, rdb, eng.Prefix()) {
			if out.Status == "" {
				t.Errorf("%s: scenario %s has no outcome", eng.Mode(), name)
			}
		}
	}

	assertRefused(t, rdb, srv)
}

// assertRefused: the limited user is refused keys outside the prefix and
// administration; the default user needs its own password.
func assertRefused(t *testing.T, rdb *redis.Client, srv *testenv.RedisACLServer) {
	t.Helper()
	ctx := context.Background()
	for _, cmd := range [][]any{
		{"set", "not-ours", "1"},
		{"get", "other:key"},
		{"flushall"},
		{"flushdb"},
		{"config", "set", "appendonly", "no"},
		{"config", "get", "dir"},
		{"keys", "*"},
		{"acl", "list"},
		{"client", "kill", "id", "999999"},
		{"bgsave"},
		{"publish", "ordersaga:chan", "x"},
	} {
		err := rdb.Do(ctx, cmd...).Err()
		if err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Errorf("%v as %s: %v, want NOPERM", cmd, testenv.RedisAppUser, err)
		}
	}
	if n, err := rdb.Exists(ctx, activities.PartitionsKey(activities.ChoreographyPrefix)).Result(); err != nil || n != 1 {
		t.Errorf("the limited user cannot read the project's keys: %d %v", n, err)
	}
	anon := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("the default user without a password: %v, want NOAUTH", err)
	}
	if err := srv.AdminClient().ConfigGet(ctx, "appendonly").Err(); err != nil {
		t.Errorf("the administration user: %v", err)
	}
}

// TestSecretsStayOutOfErrors: the worker and the starter given a malformed
// REDIS_URL, a wrong password, or asked for their usage with secrets in the
// environment, fail (or print) with one clear line and no secret.
func TestSecretsStayOutOfErrors(t *testing.T) {
	srv := testenv.StartRedisACL(t, appPassword, adminPassword)
	workerBin, starterBin := binaries(t)
	bad := []struct{ name, url, want string }{
		{"malformed port", "redis://ordersaga:" + appPassword + "@localhost:notaport/0", "--redis-url"},
		{"malformed escape", "redis://ordersaga:" + appPassword + "%zz@localhost:6379/0", "--redis-url"},
		{"two @", "redis://ordersaga:" + appPassword + "@x@localhost:6379/notadb", "--redis-url"},
		{"wrong password", "redis://ordersaga:" + adminPassword + "@" + srv.Addr + "/0", "unreachable"},
		{"admin password for the app user", "redis://default:" + appPassword + "@" + srv.Addr + "/0", "unreachable"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			env := appEnv(t, tc.url, "127.0.0.1:1")
			for _, run := range [][]string{{workerBin}, {starterBin, "stock"}} {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				cmd := exec.CommandContext(ctx, run[0], run[1:]...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				cancel()
				noSecret(t, filepath.Base(run[0])+" with a "+tc.name, string(out))
				if err == nil {
					t.Errorf("%s with a %s: no error", filepath.Base(run[0]), tc.name)
				}
				if lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; lines != 1 || !strings.Contains(string(out), tc.want) {
					t.Errorf("%s with a %s: want one line mentioning %q, got %d:\n%s", filepath.Base(run[0]), tc.name, tc.want, lines, out)
				}
			}
		})
	}
	env := append(appEnv(t, srv.AppURL(), "127.0.0.1:1"), "REDIS_CLUSTER_URL=redis://ordersaga:"+adminPassword+"@h:1?addr=h:2")
	for _, run := range [][]string{{workerBin, "--help"}, {starterBin, "--help"}, {starterBin, "order", "--help"}} {
		cmd := exec.Command(run[0], run[1:]...)
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		noSecret(t, strings.Join(append([]string{filepath.Base(run[0])}, run[1:]...), " "), string(out))
		if !strings.Contains(string(out), "redis-url") {
			t.Errorf("%v does not show its flags:\n%s", run, out)
		}
	}
}

// TestComposeRedisEntrypoint runs the Compose Redis entrypoint
// (deploy/redis/start.sh) against the real redis-server, with the image's
// entrypoint replaced by a stand-in that runs redis-server on a free port:
// the ACL file it renders loads, the limited user works as in make up, and
// no password is on the server's command line.
func TestComposeRedisEntrypoint(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		testenv.Missing(t, "redis-server (apt-get install -y redis-server)")
	}
	dir := t.TempDir()
	shim := filepath.Join(dir, "bin")
	if err := os.Mkdir(shim, 0o755); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	// Options after the config file override it: a free port, loopback.
	stub := "#!/bin/sh\nexec \"$@\" --port " + strconv.Itoa(port) + " --bind 127.0.0.1\n"
	if err := os.WriteFile(filepath.Join(shim, "docker-entrypoint.sh"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", filepath.Join(testenv.RepoRoot(), "deploy", "redis", "start.sh"))
	cmd.Env = append(os.Environ(), "PATH="+shim+":"+os.Getenv("PATH"), "REDIS_PASSWORD="+appPassword,
		"REDIS_ADMIN_PASSWORD="+adminPassword, "REDIS_CONF_DIR="+filepath.Join(dir, "conf"), "REDIS_DATA_DIR="+dir)
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	app := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Username: testenv.RedisAppUser, Password: appPassword})
	defer app.Close()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for app.Ping(ctx).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("redis from deploy/redis/start.sh does not answer the application user:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := app.Set(ctx, "ordersaga:x", 1, 0).Err(); err != nil {
		t.Errorf("set ordersaga:x: %v", err)
	}
	if err := app.Set(ctx, "x", 1, 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("set x: %v, want NOPERM", err)
	}
	admin := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: adminPassword})
	defer admin.Close()
	if v, err := admin.ConfigGet(ctx, "appendonly").Result(); err != nil || v["appendonly"] != "yes" {
		t.Errorf("appendonly %v %v, want yes", v, err)
	}
	args, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
	noSecret(t, "redis-server's command line", string(args))
	acl, _ := os.ReadFile(filepath.Join(dir, "conf", "users.acl"))
	noSecret(t, "the rendered ACL file", string(acl))
	noSecret(t, "the entrypoint's output", out.String())
}
