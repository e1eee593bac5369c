package main

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHelp(t *testing.T) {
	globals := []string{"--redis-url", "--address", "-n, --namespace", "--profile", "--config-file", "--api-key", "--tls ", "--tls-cert-path", "--tls-key-path", "--tls-ca-path", "--tls-server-name", "--client-connect-timeout"}
	type helpCase struct{ args, want []string }
	tests := []helpCase{
		{[]string{"--help"}, append([]string{"Usage: starter [global flags] COMMAND", "order", "status", "history", "verify", "stock"}, globals...)},
		{[]string{"-h"}, []string{"Usage: starter [global flags] COMMAND"}},
		{[]string{"help"}, []string{"Usage: starter [global flags] COMMAND"}},
		{[]string{"order", "--help"}, append([]string{"Usage: starter order", "-mode", "-item", "-fail", "-no-wait", "-json", "-o, --output", "-id", "decline", "transient:N", "delay:DURATION", "fraud", "--fail fraud"}, globals...)},
		{[]string{"status", "--help"}, append([]string{"Usage: starter status ORDER_ID", "-mode", "-json", "-o, --output"}, globals...)},
		{[]string{"history", "--help"}, append([]string{"Usage: starter history ORDER_ID", "-mode", "-json"}, globals...)},
		{[]string{"verify", "--help"}, append([]string{"Usage: starter verify", "-mode", "-json"}, globals...)},
		{[]string{"stock", "--help"}, append([]string{"Usage: starter stock", "-reset", "-mode"}, globals...)},
		{[]string{"--redis-url", "redis://127.0.0.1:1/0", "order", "-h"}, []string{"Usage: starter order"}},
	}
	// Every command, whatever else it lists, has a help of its own, named
	// in the top-level usage.
	tests[0].want = append(tests[0].want, "Exit status:", "  3  order, status, repair")
	tests[3].want = append(tests[3].want, "  3  the order ended FAILED")
	tests[4].want = append(tests[4].want, "  3  the order ended FAILED")
	for _, c := range commands {
		tests = append(tests, helpCase{[]string{c.name, "-help"}, append([]string{"Usage: starter " + c.name, "Exit status:\n  0  "}, globals...)})
		tests[0].want = append(tests[0].want, "  "+c.name+" ")
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := starter(t, tt.args...)
			wantCode(t, r, 0)
			if r.stderr != "" {
				t.Fatalf("help wrote to stderr:\n%s", r)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Fatalf("help does not mention %q:\n%s", w, r)
				}
			}
		})
	}
}

func TestNoCommand(t *testing.T) {
	r := starter(t)
	wantCode(t, r, 2)
	if !strings.Contains(r.stderr, "Usage: starter") {
		t.Fatalf("want the usage:\n%s", r)
	}
}

// TestUsageErrors: every mistake on the command line exits 2 with one line
// on stderr, before anything is placed or changed.
func TestUsageErrors(t *testing.T) {
	s := servers(t)
	before := s.levels(t)
	chorBefore := s.choreographyOrders(t)

	tests := []struct {
		name string
		args []string
		// withID: the case is an order that gets a fresh --id, checked
		// afterwards to exist on no engine.
		withID bool
		want   []string
	}{
		{"unknown command", []string{"teleport"}, false, []string{`unknown command "teleport"`, "order"}},
		{"unknown command with flags", []string{"orders", "--mode", "both"}, false, []string{`unknown command "orders"`}},
		{"unknown global flag", []string{"--colour", "stock"}, false, []string{"-colour"}},
		{"unknown mode", []string{"order", "--mode", "bogus"}, true, []string{`unknown mode "bogus"`}},
		{"unknown SKU", []string{"order", "--item", "sofa:1"}, true, []string{`unknown SKU "sofa"`}},
		{"zero quantity", []string{"order", "--item", "book:0"}, true, []string{"quantity 0"}},
		{"negative quantity", []string{"order", "--item", "book:-3"}, true, []string{"quantity -3"}},
		{"quantity not a number", []string{"order", "--item", "book:x"}, true, []string{`"x" is not a whole number`}},
		{"missing SKU", []string{"order", "--item", ":3"}, true, []string{"missing SKU"}},
		{"SKU twice", []string{"order", "--item", "book:1", "--item", "book:2"}, true, []string{"listed twice"}},
		{"unknown step", []string{"order", "--fail", "teleport"}, true, []string{`unknown step "teleport"`}},
		{"customer too long", []string{"order", "--customer", strings.Repeat("a", 120_000)}, true, []string{"customer is 120000 characters long, at most 64"}},
		{"customer with markup", []string{"order", "--customer", "<img src=x onerror=alert(1)>"}, true, []string{`customer "<img src=x onerror=alert(1)>" holds '<'`}},
		{"unknown kind", []string{"order", "--fail", "payment:explode"}, true, []string{`unknown fault kind "explode"`}},
		{"malformed duration", []string{"order", "--fail", "payment:delay:soon"}, true, []string{"delay:DURATION"}},
		{"malformed transient", []string{"order", "--fail", "payment:transient:0"}, true, []string{"transient:N"}},
		{"two faults on one step", []string{"order", "--fail", "payment", "--fail", "payment:transient:2"}, true, []string{"more than one fault"}},
		{"malformed timeout", []string{"order", "--timeout", "soon"}, true, []string{"-timeout"}},
		{"stray argument", []string{"order", "book:1"}, true, []string{"takes no arguments", `"book:1"`}},
		{"unknown order flag", []string{"order", "--sku", "book"}, true, []string{"-sku", "see 'starter order --help'"}},
		{"bad order ID", []string{"order", "--id", "no spaces please"}, false, []string{"order ID"}},
		{"status without ID", []string{"status"}, false, []string{"status needs an ORDER_ID"}},
		{"status with two IDs", []string{"status", "a", "b"}, false, []string{"one ORDER_ID", "2"}},
		{"status with a bad ID", []string{"status", "a b"}, false, []string{"not an order ID"}},
		{"status unknown mode", []string{"status", "a", "--mode", "sideways"}, false, []string{`unknown mode "sideways"`}},
		{"history without ID", []string{"history"}, false, []string{"history needs an ORDER_ID"}},
		{"history with two IDs", []string{"history", "a", "b"}, false, []string{"one ORDER_ID"}},
		{"verify stray argument", []string{"verify", "now"}, false, []string{"verify takes no arguments"}},
		{"verify malformed duration", []string{"verify", "--stuck-after", "later"}, false, []string{"-stuck-after"}},
		{"verify unknown mode", []string{"verify", "--mode", "all"}, false, []string{`unknown mode "all"`}},
		{"stock stray argument", []string{"stock", "book"}, false, []string{"stock takes no arguments"}},
		{"stock force without reset", []string{"stock", "--force"}, false, []string{"--force goes with --reset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			var id string
			if tt.withID {
				id = newID("usage")
				args = append(slices.Clone(args), "--id", id)
			}
			r := s.run(t, args...)
			wantCode(t, r, 2)
			wantOneLine(t, r, tt.want...)
			if r.stdout != "" {
				t.Fatalf("a usage error wrote to stdout:\n%s", r)
			}
			if id != "" {
				s.wantUnknown(t, id)
			}
		})
	}

	if after := s.levels(t); !maps.EqualFunc(before, after, maps.Equal) {
		t.Errorf("usage errors changed the stock: before %v, after %v", before, after)
	}
	if after := s.choreographyOrders(t); after != chorBefore {
		t.Errorf("usage errors placed choreography orders: %d before, %d after", chorBefore, after)
	}
}

// TestUnreachable: a server that does not answer stops the command within
// seconds, naming the address and how to start the servers, and nothing is
// placed on the engine that was reachable.
func TestUnreachable(t *testing.T) {
	s := servers(t)
	const dead = "127.0.0.1:1"
	noRedis := []string{"--redis-url", "redis://" + dead + "/0", "--temporal-address", s.temporal.Address}
	noTemporal := []string{"--redis-url", s.redis.URL(), "--temporal-address", dead}
	redisID, temporalID := newID("noredis"), newID("notemporal")

	tests := []struct {
		name    string
		globals []string
		args    []string
	}{
		{"redis/order", noRedis, []string{"order", "--id", redisID}},
		{"redis/order choreography", noRedis, []string{"order", "--mode", "choreography", "--id", redisID}},
		{"redis/status", noRedis, []string{"status", redisID}},
		{"redis/history", noRedis, []string{"history", redisID}},
		{"redis/verify", noRedis, []string{"verify", "--json"}},
		{"redis/stock", noRedis, []string{"stock", "--reset"}},
		{"temporal/order", noTemporal, []string{"order", "--id", temporalID}},
		{"temporal/order orchestration", noTemporal, []string{"order", "--mode", "orchestration", "--id", temporalID, "--json"}},
		{"temporal/status", noTemporal, []string{"status", temporalID, "--mode", "orchestration"}},
		{"temporal/history", noTemporal, []string{"history", temporalID}},
		{"temporal/verify", noTemporal, []string{"verify", "--mode", "orchestration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := starter(t, append(slices.Clone(tt.globals), tt.args...)...)
			wantCode(t, r, 1)
			if r.took > 10*time.Second {
				t.Fatalf("took %s to give up, want under 10s:\n%s", r.took, r)
			}
			wantOneLine(t, r, dead, "unreachable")
			if !strings.Contains(r.stderr, "docker compose up") && !strings.Contains(r.stderr, "make up") {
				t.Fatalf("stderr does not say how to start the servers:\n%s", r)
			}
			if r.stdout != "" {
				t.Fatalf("wrote to stdout:\n%s", r)
			}
		})
	}
	s.wantUnknown(t, redisID)
	s.wantUnknown(t, temporalID)

	// Choreography needs no Temporal.
	id := newID("chor-no-temporal")
	r := starter(t, append(noTemporal, "order", "--mode", "choreography", "--id", id, "--json")...)
	wantCode(t, r, 0)
	out := decodeOrder(t, r, id, []string{"choreography"}, true)
	if out.Results[0].Status != "COMPLETED" {
		t.Fatalf("want COMPLETED:\n%s", r)
	}
}

// TestGlobalFlags: the global flags work before and after the command, fall
// back to the environment, and beat it.
func TestGlobalFlags(t *testing.T) {
	s := servers(t)
	t.Run("after the command", func(t *testing.T) {
		r := starter(t, append([]string{"stock"}, s.globals()...)...)
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "book") {
			t.Fatalf("want the stock:\n%s", r)
		}
	})
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("REDIS_URL", s.redis.URL())
		t.Setenv("TEMPORAL_ADDRESS", s.temporal.Address)
		t.Setenv("TEMPORAL_NAMESPACE", "default")
		id := newID("env")
		r := starter(t, "order", "--mode", "orchestration", "--id", id, "--json")
		wantCode(t, r, 0)
		decodeOrder(t, r, id, []string{"orchestration"}, true)
	})
	t.Run("flags beat the environment", func(t *testing.T) {
		t.Setenv("REDIS_URL", "redis://127.0.0.1:1/0")
		t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
		r := s.run(t, "stock")
		wantCode(t, r, 0)
	})
	t.Run("an unreachable address from the environment", func(t *testing.T) {
		t.Setenv("REDIS_URL", "redis://127.0.0.1:1/0")
		r := starter(t, "stock")
		wantCode(t, r, 1)
		wantOneLine(t, r, "127.0.0.1:1")
	})
}
