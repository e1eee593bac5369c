package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
	"github.com/ordersaga/ordersaga/internal/app/scenarios"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
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

// startWorker runs the worker with args (every service without
// --services); it is stopped (SIGTERM) when the test ends and its output
// checked for secrets.
func startWorker(t *testing.T, bin string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	var mu sync.Mutex
	var out bytes.Buffer
	pr, pw := io.Pipe()
	cmd := exec.Command(bin, append([]string{"--log-level", "debug", "--consumer-name", "acl"}, args...)...)
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
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
	noSecret(t, "the worker's command line", string(cmdline))
	return cmd
}

// workerProcesses are the worker processes of a deployment, each its
// --services value, run as its own Redis user (testenv.RedisUsers).
var workerProcesses = []string{"orchestration", "order", "inventory", "fraud", "payment", "shipping", "notify"}

// startWorkers starts one worker process per entry of workerProcesses,
// each logged in as its own user (urlAs gives its REDIS_URL or
// REDIS_CLUSTER_URL line).
func startWorkers(t *testing.T, bin, temporalAddr string, urlAs func(user string) string) {
	t.Helper()
	for _, svc := range workerProcesses {
		env := append(appEnv(t, "", temporalAddr), urlAs(testenv.RedisUsers[svc]))
		startWorker(t, bin, env, "--services", svc)
	}
}

// TestLeastPrivilege runs real work on both engines with every process
// logged in as its own user of deploy/redis/users.acl (a worker process
// per service, the starter, then the shared scenario suite as the
// starter), with a Temporal API key set, and checks that no output shows
// a secret, that Redis refused nothing they asked (its ACL LOG stays
// empty), and that each user is refused what is not its own.
func TestLeastPrivilege(t *testing.T) {
	srv := testenv.StartRedisACL(t, appPassword, adminPassword)
	tsrv := testenv.StartTemporalBackend(t, testenv.BackendDev)
	workerBin, starterBin := binaries(t)
	startWorkers(t, workerBin, tsrv.Address, func(user string) string { return "REDIS_URL=" + srv.URLAs(user) })
	env := appEnv(t, srv.URLAs(testenv.RedisStarterUser), tsrv.Address)

	for _, args := range [][]string{
		{"order", "--id", "acl-1", "--timeout", "60s"},
		{"order", "--id", "acl-2", "--fail", "payment", "--timeout", "60s"},
		{"status", "acl-2"},
		{"history", "acl-2"},
		{"verify"},
		{"stock"},
		{"dlq", "list"},
		{"fraud-check"},
		{"bench", "--orders", "10", "--concurrency", "2", "--baseline", "--reset", "--force"},
		{"stock", "--reset", "--force"},
		{"verify"},
	} {
		if out, code := runStarter(t, starterBin, env, args...); code != 0 {
			t.Errorf("starter %s as %s: exit %d\n%s", strings.Join(args, " "), testenv.RedisStarterUser, code, out)
		}
	}

	usePage(t, starterBin, appEnv(t, srv.URLAs(testenv.RedisWebUser), tsrv.Address))

	// The shared scenario suite, through the same workers, as the starter.
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

	admin := srv.AdminClient()
	noACLDenials(t, admin)
	assertRefused(t, rdb, srv)
	assertOwnKeysOnly(t, srv, admin)
}

// noACLDenials fails t when Redis refused any command of the application
// (ACL LOG), naming user, command and key of each, then clears the log.
func noACLDenials(t *testing.T, admin *redis.Client) {
	t.Helper()
	ctx := context.Background()
	entries, err := admin.Do(ctx, "acl", "log").Slice()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		m, _ := e.(map[any]any)
		// Refusals the starter is built to take: `stock --reset` counts
		// the blocked readers with CLIENT LIST, else waits a fixed time;
		// the bench report reads the fsync policy with CONFIG GET, else
		// tells persistence from INFO alone.
		if m["username"] == testenv.RedisStarterUser && (m["object"] == "client|list" || m["object"] == "config|get") {
			continue
		}
		t.Errorf("redis refused the application: %v", e)
	}
	if err := admin.Do(ctx, "acl", "log", "reset").Err(); err != nil {
		t.Fatal(err)
	}
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
		{"malformed port", "redis://ordersaga-starter:" + appPassword + "@localhost:notaport/0", "--redis-url"},
		{"malformed escape", "redis://ordersaga-starter:" + appPassword + "%zz@localhost:6379/0", "--redis-url"},
		{"two @", "redis://ordersaga-starter:" + appPassword + "@x@localhost:6379/notadb", "--redis-url"},
		// A refused login says so: the server is not "unreachable".
		{"wrong password", "redis://ordersaga-starter:" + adminPassword + "@" + srv.Addr + "/0", "refuses the user or password"},
		{"admin password for the app user", "redis://default:" + appPassword + "@" + srv.Addr + "/0", "refuses the user or password"},
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
	env := append(appEnv(t, srv.AppURL(), "127.0.0.1:1"), "REDIS_CLUSTER_URL=redis://ordersaga-starter:"+adminPassword+"@h:1?addr=h:2")
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
	cmd.Env = append(os.Environ(), "PATH="+shim+":"+os.Getenv("PATH"),
		"REDIS_ADMIN_PASSWORD="+adminPassword, "REDIS_CONF_DIR="+filepath.Join(dir, "conf"), "REDIS_DATA_DIR="+dir)
	for _, user := range testenv.RedisUsers {
		cmd.Env = append(cmd.Env, "REDIS_"+strings.ToUpper(strings.TrimPrefix(user, "ordersaga-"))+"_PASSWORD="+testenv.RedisPassword(appPassword, user))
	}
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	app := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Username: testenv.RedisStarterUser, Password: appPassword})
	defer app.Close()
	ctx := context.Background()
	teststack.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if app.Ping(ctx).Err() != nil {
			return fmt.Errorf("redis from deploy/redis/start.sh does not answer the application user:\n%s", out.String())
		}
		return nil
	})
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

// assertOwnKeysOnly: each user is refused another's streams and state,
// directly and through a script of its own, and every user but the
// starter and the exporter is refused SCAN; none may run KEYS, CLIENT or
// CONFIG; every one may read INFO memory (the eviction check); the
// exporter may read no key's value and write nothing.
func assertOwnKeysOnly(t *testing.T, srv *testenv.RedisACLServer, admin *redis.Client) {
	t.Helper()
	ctx := context.Background()
	p := "ordersaga:chor:{p0}:"
	if err := admin.HSet(ctx, p+"order:acl-1", "status", "PENDING").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.HSet(ctx, p+"pay:acl-1", "charge", "ok|4200").Err(); err != nil {
		t.Fatal(err)
	}
	xadd := func(svc string) []any {
		return []any{"xadd", p + "stream:" + svc, "*", "type", "Forged", "event", "{}"}
	}
	stock := "ordersaga:chor:{stock:book}"
	script := func(body, key string) []any { return []any{"eval", body, 1, key} }
	denied := map[string][][]any{
		testenv.RedisShippingUser: {xadd("payment"), xadd("order"), xadd("inventory"),
			{"del", p + "order:acl-1"}, {"hset", p + "order:acl-1", "status", "COMPLETED"}, {"hset", p + "pay:acl-1", "charge", "ok|0"},
			{"del", p + "stream:payment"}, {"xtrim", p + "stream:payment", "maxlen", 0}, {"decrby", stock, 1},
			script("return redis.call('XADD', KEYS[1], '*', 'type', 'Forged')", p+"stream:payment"),
			script("return redis.call('DEL', KEYS[1])", p+"stream:payment"),
			script("return redis.call('DEL', KEYS[1])", p+"order:acl-1")},
		testenv.RedisPaymentUser: {xadd("shipping"), xadd("inventory"), {"hset", p + "ship:acl-1", "schedule", "ok|x"},
			{"decrby", stock, 1}, {"del", p + "history:acl-1"}, {"hset", p + "order:acl-1", "status", "COMPLETED"},
			script("return redis.call('XADD', KEYS[1], '*', 'type', 'Forged')", p+"stream:inventory")},
		testenv.RedisInventoryUser: {xadd("payment"), xadd("order"), {"hset", p + "order:acl-1", "status", "COMPENSATED"},
			{"hincrby", p + "ledger", "net_cents", -100}, {"del", p + "inv:acl-1"}},
		testenv.RedisOrderUser: {xadd("inventory"), xadd("payment"), {"hset", p + "pay:acl-1", "refund", "ok|0"},
			{"decrby", stock, 1}, {"hincrby", p + "ledger", "net_cents", -100}},
		testenv.RedisFraudUser: {xadd("inventory"), xadd("payment"), xadd("order"), {"hset", p + "order:acl-1", "status", "COMPENSATED"},
			{"hset", p + "pay:acl-1", "charge", "ok|0"}, {"hset", p + "inv:acl-1", "release", "ok|x"}, {"decrby", stock, 1},
			{"xack", p + "stream:order", "inventory", "0-1"}, {"set", "ordersaga:chor:compensation-alert-after", "1s"},
			script("return redis.call('XADD', KEYS[1], '*', 'type', 'Forged')", p+"stream:inventory")},
		testenv.RedisNotifyUser: {xadd("order"), xadd("payment"), {"hset", p + "order:acl-1", "status", "COMPLETED"},
			{"hset", p + "pay:acl-1", "charge", "ok|0"}, {"del", p + "history:acl-1"}, {"decrby", stock, 1},
			{"xtrim", p + "stream:order", "maxlen", 0}, {"del", p + "notifications"},
			script("return redis.call('XADD', KEYS[1], '*', 'type', 'Forged')", p+"stream:order")},
		testenv.RedisWorkerUser: {xadd("order"), {"get", "ordersaga:chor:partitions"}, {"hset", p + "pay:acl-1", "charge", "ok|0"}},
		testenv.RedisWebUser: {xadd("payment"), {"del", p + "order:acl-1"}, {"decrby", stock, 1}, {"hincrby", p + "ledger", "net_cents", -100},
			{"xack", p + "stream:order", "inventory", "0-1"}},
		testenv.RedisExporterUser: {xadd("order"), {"hgetall", p + "order:acl-1"}, {"hget", p + "pay:acl-1", "charge"}, {"get", stock},
			{"xrange", p + "stream:order", "-", "+"}, {"xread", "streams", p + "stream:order", "0"}, {"xgroup", "create", p + "stream:order", "x", "0"},
			script("return redis.call('XLEN', KEYS[1])", p+"stream:order")},
	}
	assertDenied(t, srv, denied)
	for _, user := range testenv.RedisUsers {
		if err := srv.ClientAs(user).Info(ctx, "memory").Err(); err != nil {
			t.Errorf("info memory as %s: %v", user, err)
		}
	}
	if err := srv.AppClient().Do(ctx, "scan", 0, "count", 10).Err(); err != nil {
		t.Errorf("scan as %s (stock --reset, bench --reset): %v", testenv.RedisStarterUser, err)
	}
	if st, err := admin.HGet(ctx, p+"order:acl-1", "status").Result(); err != nil || st != "PENDING" {
		t.Errorf("after the refused writes, order acl-1's status: %q %v, want PENDING", st, err)
	}
	if ch, err := admin.HGetAll(ctx, p+"pay:acl-1").Result(); err != nil || len(ch) != 1 || ch["charge"] != "ok|4200" {
		t.Errorf("after the refused writes, order acl-1's payment record: %v %v, want the charge alone", ch, err)
	}
}

// assertDenied: Redis refuses each user its commands of denied, and KEYS,
// CLIENT, CONFIG, FLUSHALL and, to all but the exporter (which finds the
// streams it measures with it), SCAN.
func assertDenied(t *testing.T, srv *testenv.RedisACLServer, denied map[string][][]any) {
	t.Helper()
	ctx := context.Background()
	for user, cmds := range denied {
		c := srv.ClientAs(user)
		if user != testenv.RedisExporterUser {
			cmds = append(cmds, []any{"scan", 0})
		}
		cmds = append(cmds, []any{"keys", "*"}, []any{"client", "list"}, []any{"config", "get", "maxmemory-policy"}, []any{"flushall"})
		for _, cmd := range cmds {
			// A script's own command refused reads "can't access" on 7.0.
			if err := c.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") && !strings.Contains(err.Error(), "can't access") {
				t.Errorf("%v as %s: %v, want NOPERM", cmd[:2], user, err)
			}
		}
	}
}

// TestLeastPrivilegeCluster: on a Redis Cluster whose every node loads the
// ACL file, a worker process per service, each as its own user, and the
// starter as its own, run orders on both engines to their end, the order
// service's alert threshold is recorded, and no node refused any of them a
// command.
func TestLeastPrivilegeCluster(t *testing.T) {
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, AppPassword: appPassword, AdminPassword: adminPassword})
	tsrv := testenv.StartTemporalBackend(t, testenv.BackendDev)
	workerBin, starterBin := binaries(t)
	startWorkers(t, workerBin, tsrv.Address, func(user string) string { return "REDIS_CLUSTER_URL=" + c.URLAs(user) })
	env := append(appEnv(t, "", tsrv.Address), "REDIS_CLUSTER_URL="+c.URLAs(testenv.RedisStarterUser))
	for _, args := range [][]string{
		{"order", "--id", "acl-c1", "--timeout", "60s"},
		{"order", "--id", "acl-c2", "--fail", "payment", "--timeout", "60s"},
		{"order", "--id", "acl-c3", "--fail", "shipping", "--timeout", "60s"},
		{"history", "acl-c3"},
		{"dlq", "list"},
		{"verify"},
	} {
		if out, code := runStarter(t, starterBin, env, args...); code != 0 {
			t.Errorf("starter %s on the cluster: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	// The order service's worker recorded its alert threshold where the
	// starter's user reads it.
	starter := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), Username: testenv.RedisStarterUser,
		Password: testenv.RedisPassword(appPassword, testenv.RedisStarterUser)})
	defer starter.Close()
	if d, err := starter.Get(context.Background(), activities.AlertAfterKey(activities.ChoreographyPrefix)).Result(); err != nil || d != "1m0s" {
		t.Errorf("the alert threshold recorded on the cluster: %q %v, want the order service's 1m0s", d, err)
	}
	for _, n := range c.Nodes {
		admin := redis.NewClient(&redis.Options{Addr: n.Addr, Password: adminPassword})
		noACLDenials(t, admin)
		_ = admin.Close()
	}
}

// usePage runs the live page (starter serve) as its own Redis user, places
// an order through it, and reads the page and the order's page once the
// order ended: what the page does, under the web user's limits.
func usePage(t *testing.T, bin string, env []string) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	cmd := exec.Command(bin, "serve", "--addr", addr)
	cmd.Env = env
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		noSecret(t, "the page's output", out.String())
	}()
	ctx := context.Background()
	base := "http://" + addr
	var id string
	err := poll.For(ctx, time.Minute, poll.Every(100*time.Millisecond), func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/orders", strings.NewReader("items=book:1"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil // not listening yet
		}
		defer resp.Body.Close()
		var placed struct {
			OrderID string `json:"order_id"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&placed) != nil {
			return false, fmt.Errorf("place through the page: %s", resp.Status)
		}
		id = placed.OrderID
		return true, nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	err = poll.For(ctx, time.Minute, poll.Every(200*time.Millisecond), func(ctx context.Context) (bool, error) {
		page, err := get(ctx, base+"/orders/"+id)
		return err == nil && strings.Contains(page, "COMPLETED"), nil
	})
	if err != nil {
		t.Errorf("order %s placed through the page did not complete: %v\n%s", id, err, out.String())
	}
	if _, err := get(ctx, base+"/"); err != nil {
		t.Errorf("the page as %s: %v\n%s", testenv.RedisWebUser, err, out.String())
	}
}

// get reads a page, failing on any status but 200.
func get(ctx context.Context, url string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}
