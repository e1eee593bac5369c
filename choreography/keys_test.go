package choreography_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/scenarios"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
)

// scriptCount is how many scripts the project runs: six participant
// operations without the outbox (orchestration) and five with it (the
// choreography never cancels a shipment), the per-SKU step, place, finish,
// settle, redrive, repair, and the stream layer's dead-letter, trim and
// idle-consumer scripts.
const scriptCount = 6 + 5 + 1 + 5 + 3

// exerciseEveryScript runs every script of the project at least once, on
// the paths that touch the most keys: the scenario table (every fault at
// every step), a shortage rolled back over two SKUs, poison, a redrive, a
// repair, settling, late duplicates of settled orders (dropped, their
// per-SKU work undone), a trim, and the orchestration's participants.
func exerciseEveryScript(t *testing.T, h *harness) {
	t.Helper()
	ctx := context.Background()
	cat := shop.DefaultCatalog()
	h.startAll()
	scenarios.Run(t, h.engine, h.rdb, activities.ChoreographyPrefix)
	short := shop.Order{ID: "short", Customer: "k", Items: []shop.Item{{SKU: "book", Quantity: 1}, {SKU: "poster", Quantity: 11}}}
	if out := h.run(short); out.Status != shop.StatusCompensated {
		t.Fatalf("short order: %s", out.Status)
	}
	poison := map[string]any{"type": "OrderPlaced", "event": "{not json"}
	if err := h.rdb.XAdd(ctx, &redis.XAddArgs{Stream: h.node.Bus.StreamOf(0, choreography.ServiceOrder), Values: poison}).Err(); err != nil {
		t.Fatal(err)
	}
	late := h.eventsOf("short")
	if err := h.node.Bus.AddDeadLetter(ctx, late[0].stream, choreography.ServiceInventory, late[0].values); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two dead letters", func() bool { n, _ := h.node.Bus.DeadLetterCount(ctx); return n == 2 })
	if _, err := h.node.Bus.Redrive(ctx); err != nil {
		t.Fatalf("redrive: %v", err) // the poison goes back, and is dead-lettered again
	}
	for _, o := range mustOrders(t, h) {
		if o.Status == shop.StatusFailed {
			if err := h.engine.Repair(ctx, o.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "every order terminal", func() bool {
		return !slices.ContainsFunc(mustOrders(t, h), func(o shop.Record) bool { return !o.Status.Terminal() })
	})
	waitDrained(t, h)
	if _, err := h.node.Settle(ctx, 0, 1000); err != nil {
		t.Fatal(err)
	}
	for _, c := range late {
		if err := h.rdb.XAdd(ctx, &redis.XAddArgs{Stream: c.stream, Values: c.values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "late events dropped", func() bool { n, _ := h.engine.Dropped(ctx); return n > 0 })
	waitDrained(t, h)
	if _, err := h.node.Bus.Trim(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := activities.Seed(ctx, h.rdb, activities.OrchestrationPrefix, cat); err != nil {
		t.Fatal(err)
	}
	orch := activities.New(h.rdb, activities.OrchestrationPrefix, cat)
	in := activities.OrderInput{OrderID: "orch-1", Items: []shop.Item{{SKU: "book", Quantity: 1}, {SKU: "mug", Quantity: 1}}}
	for _, op := range shop.Ops {
		if _, err := orch.Do(ctx, op, in); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	teststack.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		if !cond() {
			return fmt.Errorf("not within 20s: %s", what)
		}
		return nil
	})
}

// Every script names in KEYS every key it touches. MONITOR shows each
// script's call with the keys it declares, followed by the commands the
// script ran; COMMAND GETKEYS says which arguments of those are keys.
func TestEveryScriptDeclaresItsKeys(t *testing.T) {
	srv := testenv.StartRedis(t)
	h := newHarnessWith(t, srv.Client())
	mon := startMonitor(t, srv.Addr)
	exerciseEveryScript(t, h)
	lines := mon.stop()
	calls := scriptCalls(t, lines)
	seen := map[string]bool{}
	var undeclared []string
	for _, c := range calls {
		seen[c.sha] = true
		for _, cmd := range c.cmds {
			for _, k := range commandKeys(t, srv.Client(), cmd) {
				if !slices.Contains(c.declared, k) {
					undeclared = append(undeclared, fmt.Sprintf("script %s ran %s on %q, declared %q", c.sha[:8], cmd[0], k, c.declared))
				}
			}
		}
	}
	for _, u := range undeclared[:min(len(undeclared), 10)] {
		t.Error(u)
	}
	if len(seen) < scriptCount {
		t.Errorf("%d scripts ran, want all %d", len(seen), scriptCount)
	}
	t.Logf("%d calls of %d scripts checked, %d monitor lines", len(calls), len(seen), len(lines))
}

// On a Redis Cluster, a script whose keys are not all in one slot, or
// that touches a key of another node, fails: every script runs there, as
// the application's limited ACL user, so a command the ACL file does not
// allow fails too.
func TestEveryScriptRunsOnACluster(t *testing.T) {
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, AppPassword: "app-secret", AdminPassword: "admin-secret"})
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), Username: testenv.RedisAppUser, Password: c.AppPassword})
	t.Cleanup(func() { _ = rdb.Close() })
	exerciseEveryScript(t, newHarnessWith(t, rdb))
}

// monitor collects what MONITOR reports, through redis-cli.
type monitor struct {
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	done chan struct{}
}

func startMonitor(t *testing.T, addr string) *monitor {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		testenv.Missing(t, "redis-cli (apt-get install -y redis-tools)")
	}
	host, port, _ := net.SplitHostPort(addr)
	m := &monitor{cmd: exec.Command(cli, "-h", host, "-p", port, "monitor"), out: &testenv.SyncBuffer{}, done: make(chan struct{})}
	m.cmd.Stdout = m.out
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() { _ = m.cmd.Process.Kill(); <-m.done })
	// MONITOR is on once it reports another client's command.
	other := redis.NewClient(&redis.Options{Addr: addr})
	defer other.Close()
	waitFor(t, "monitor on", func() bool {
		_ = other.Echo(context.Background(), "monitor-on").Err()
		return strings.Contains(m.out.String(), "monitor-on")
	})
	return m
}

func (m *monitor) stop() []string {
	time.Sleep(200 * time.Millisecond) // the last lines
	_ = m.cmd.Process.Kill()
	<-m.done
	return strings.Split(m.out.String(), "\n")
}

// scriptCall is one script run: its SHA, the keys it declared and the
// commands it ran.
type scriptCall struct {
	sha      string
	declared []string
	cmds     [][]string
}

// scriptCalls groups MONITOR lines into script runs: a script's own
// commands (from client "lua") follow the EVAL or EVALSHA that ran it.
func scriptCalls(t *testing.T, lines []string) []scriptCall {
	t.Helper()
	var calls []scriptCall
	var cur *scriptCall
	for _, l := range lines {
		client, args, ok := parseMonitorLine(l)
		if !ok || len(args) == 0 {
			continue
		}
		if client == "lua" {
			if cur == nil {
				t.Fatalf("a script's command with no script before it: %s", l)
			}
			cur.cmds = append(cur.cmds, args)
			continue
		}
		if cur != nil {
			calls = append(calls, *cur)
			cur = nil
		}
		name := strings.ToLower(args[0])
		if (name != "eval" && name != "evalsha") || len(args) < 3 {
			continue
		}
		n, err := strconv.Atoi(args[2])
		if err != nil || len(args) < 3+n {
			t.Fatalf("malformed script call: %s", l)
		}
		sha := args[1]
		if name == "eval" {
			sum := sha1.Sum([]byte(args[1]))
			sha = hex.EncodeToString(sum[:])
		}
		cur = &scriptCall{sha: sha, declared: args[3 : 3+n]}
	}
	if cur != nil {
		calls = append(calls, *cur)
	}
	return calls
}

// parseMonitorLine reads `<time> [<db> <client>] "arg" "arg" ...`.
func parseMonitorLine(l string) (client string, args []string, ok bool) {
	open := strings.IndexByte(l, '[')
	end := strings.IndexByte(l, ']')
	if open < 0 || end < open {
		return "", nil, false
	}
	fields := strings.Fields(l[open+1 : end])
	if len(fields) != 2 {
		return "", nil, false
	}
	rest := l[end+1:]
	for {
		i := strings.IndexByte(rest, '"')
		if i < 0 {
			return fields[1], args, true
		}
		arg, n, ok := unquote(rest[i+1:])
		if !ok {
			return "", nil, false
		}
		args = append(args, arg)
		rest = rest[i+1+n:]
	}
}

// unquote reads a MONITOR argument up to its closing quote and returns it
// with how many bytes it took (the quote included).
func unquote(s string) (string, int, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), i + 1, true
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'x':
				if i+2 >= len(s) {
					return "", 0, false
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return "", 0, false
				}
				b.WriteByte(byte(v))
				i += 2
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// commandKeys asks the server which arguments of a command are keys.
func commandKeys(t *testing.T, rdb *redis.Client, cmd []string) []string {
	t.Helper()
	args := make([]any, len(cmd))
	for i, a := range cmd {
		args[i] = a
	}
	keys, err := rdb.CommandGetKeys(context.Background(), args...).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no key arguments") || strings.Contains(err.Error(), "Invalid arguments") {
			return nil
		}
		t.Fatalf("COMMAND GETKEYS %q: %v", cmd, err)
	}
	return keys
}
