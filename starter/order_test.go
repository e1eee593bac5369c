package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var bothModes = []string{"orchestration", "choreography"}

// TestOrderEachMode places a clean order on each --mode, in text, and
// checks what it prints and what it takes from the stock.
func TestOrderEachMode(t *testing.T) {
	s := servers(t)
	elapsed := regexp.MustCompile(`\d+(\.\d+)?(ms|s)\b`)
	tests := []struct {
		flags []string
		modes []string
	}{
		{[]string{"--mode", "orchestration"}, []string{"orchestration"}},
		{[]string{"--mode", "choreography"}, []string{"choreography"}},
		{[]string{"--mode", "both"}, bothModes},
		{nil, bothModes}, // --mode both is the default
	}
	for _, tt := range tests {
		name := strings.Join(tt.flags, " ")
		if name == "" {
			name = "default mode"
		}
		t.Run(name, func(t *testing.T) {
			id := newID("mode")
			before := s.levels(t)
			r := s.must(t, append([]string{"order", "--id", id, "--item", "mug:2", "--item", "pen:1"}, tt.flags...)...)

			if !strings.Contains(r.stdout, "order "+id) || !strings.Contains(r.stdout, "items: mug:2 pen:1") {
				t.Fatalf("want the order ID and its items:\n%s", r)
			}
			if !strings.Contains(r.stdout, "faults: none") {
				t.Fatalf("want no faults listed:\n%s", r)
			}
			header := regexp.MustCompile(`(?m)^MODE\s+STATUS\s+STEPS DONE\s+COMPENSATED\s+ELAPSED`)
			if !header.MatchString(r.stdout) {
				t.Fatalf("want a results table:\n%s", r)
			}
			for _, m := range bothModes {
				row := regexp.MustCompile(`(?m)^` + m + `\s+COMPLETED\s+inventory,fraud,payment,shipping\s+-\s+(\S+)`)
				match := row.FindStringSubmatch(r.stdout)
				if !slices.Contains(tt.modes, m) {
					if strings.Contains(r.stdout, m+" ") {
						t.Fatalf("%s is listed though not asked for:\n%s", m, r)
					}
					continue
				}
				if match == nil || !elapsed.MatchString(match[1]) {
					t.Fatalf("want a COMPLETED row with steps and elapsed time for %s:\n%s", m, r)
				}
			}
			link := "Temporal UI: http://localhost:8233/namespaces/default/workflows/order-" + id
			if got := strings.Contains(r.stdout, link); got != slices.Contains(tt.modes, "orchestration") {
				t.Fatalf("Temporal UI link shown: %v, want it exactly when orchestration runs:\n%s", got, r)
			}

			after := s.levels(t)
			for _, m := range bothModes {
				want := int64(0)
				if slices.Contains(tt.modes, m) {
					want = 2
				}
				if d := before[m]["mug"] - after[m]["mug"]; d != want {
					t.Errorf("%s: mug stock went down by %d, want %d", m, d, want)
				}
			}
		})
	}
}

// TestOrderFaults runs the fault plans of the contract through both engines
// and checks the parsed JSON of each.
func TestOrderFaults(t *testing.T) {
	s := servers(t)
	tests := []struct {
		name              string
		items             []string
		fails             []string
		status            string
		steps, compensate []string
		failedStep        string
		reason            string
	}{
		{
			name: "clean", status: "COMPLETED",
			steps: []string{"inventory", "fraud", "payment", "shipping"}, compensate: []string{},
		},
		{
			name: "payment declined", fails: []string{"payment"}, status: "COMPENSATED",
			steps: []string{"inventory", "fraud"}, compensate: []string{"inventory"}, failedStep: "payment", reason: "PaymentDeclined",
		},
		{
			name: "payment transient", fails: []string{"payment:transient:2"}, status: "COMPLETED",
			steps: []string{"inventory", "fraud", "payment", "shipping"}, compensate: []string{},
		},
		{
			name: "shipping delayed", fails: []string{"shipping:delay:50ms"}, status: "COMPLETED",
			steps: []string{"inventory", "fraud", "payment", "shipping"}, compensate: []string{},
		},
		{
			name: "inventory declined", fails: []string{"inventory:decline"}, status: "COMPENSATED",
			steps: []string{}, compensate: []string{}, failedStep: "inventory", reason: "InventoryRejected",
		},
		{
			name: "out of stock", items: []string{"poster:11"}, status: "COMPENSATED",
			steps: []string{}, compensate: []string{}, failedStep: "inventory", reason: "out of stock",
		},
		{
			name: "refund declined", fails: []string{"shipping", "refund:decline"}, status: "FAILED",
			steps: []string{"inventory", "fraud", "payment"}, compensate: []string{"inventory"}, failedStep: "shipping", reason: "ShipmentFailed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := newID("fault")
			args := []string{"order", "--json", "--id", id}
			for _, it := range tt.items {
				args = append(args, "--item", it)
			}
			for _, f := range tt.fails {
				args = append(args, "--fail", f)
			}
			// COMPLETED and COMPENSATED exit 0; FAILED (needs a repair)
			// exits 3 with one line naming both engines.
			r := s.run(t, args...)
			if tt.status == "FAILED" {
				wantCode(t, r, 3)
				wantOneLine(t, r, "order "+id+" ended FAILED on orchestration and choreography", "needs repair")
			} else {
				wantOK(t, r)
			}
			out := decodeOrder(t, r, id, bothModes, true)
			for _, res := range out.Results {
				if res.Status != tt.status || !slices.Equal(res.Steps, tt.steps) || !slices.Equal(res.Compensated, tt.compensate) {
					t.Errorf("%s: %s steps %v compensated %v, want %s steps %v compensated %v",
						res.Mode, res.Status, res.Steps, res.Compensated, tt.status, tt.steps, tt.compensate)
				}
				if res.FailedStep != tt.failedStep || !strings.Contains(res.Reason, tt.reason) {
					t.Errorf("%s: failed step %q reason %q, want %q and a reason with %q", res.Mode, res.FailedStep, res.Reason, tt.failedStep, tt.reason)
				}
			}
		})
	}
}

// TestOrderFaultsText: the text output names the faults, the outcome and
// why a step failed.
func TestOrderFaultsText(t *testing.T) {
	s := servers(t)
	id := newID("text")
	r := s.must(t, "order", "--id", id, "--fail", "payment")
	for _, want := range []string{
		"faults: payment:decline",
		"orchestration: payment failed: PaymentDeclined",
		"choreography: payment failed: PaymentDeclined",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("want %q:\n%s", want, r)
		}
	}
	for _, m := range bothModes {
		if !regexp.MustCompile(`(?m)^` + m + `\s+COMPENSATED\s+inventory,fraud\s+inventory\s`).MatchString(r.stdout) {
			t.Fatalf("want %s COMPENSATED with inventory done and compensated:\n%s", m, r)
		}
	}

	id = newID("text-failed")
	r = s.run(t, "order", "--id", id, "--fail", "shipping", "--fail", "refund:decline")
	wantCode(t, r, 3)
	if !strings.Contains(r.stdout, "faults: shipping:decline refund:decline") {
		t.Fatalf("want both faults listed:\n%s", r)
	}
	for _, m := range bothModes {
		if !regexp.MustCompile(`(?m)^` + m + `\s+FAILED\s+inventory,fraud,payment\s+inventory\s`).MatchString(r.stdout) {
			t.Fatalf("want %s FAILED:\n%s", m, r)
		}
	}
}

// TestOrderNoWait places without waiting, then follows the order with status.
func TestOrderNoWait(t *testing.T) {
	s := servers(t)

	t.Run("text", func(t *testing.T) {
		id := newID("nowait")
		r := s.must(t, "order", "--no-wait", "--id", id, "--fail", "shipping:delay:500ms")
		for _, m := range bothModes {
			if !regexp.MustCompile(`(?m)^` + m + `\s+placed, not waiting`).MatchString(r.stdout) {
				t.Fatalf("want %s placed, not waiting:\n%s", m, r)
			}
		}
		if !strings.Contains(r.stdout, "/namespaces/default/workflows/order-"+id) {
			t.Fatalf("want the Temporal UI link:\n%s", r)
		}
		followToEnd(t, s, id, bothModes)
	})

	t.Run("json", func(t *testing.T) {
		id := newID("nowait-json")
		r := s.must(t, "order", "--no-wait", "--json", "--mode", "choreography", "--id", id, "--fail", "payment:transient:1")
		out := decodeOrder(t, r, id, []string{"choreography"}, false)
		if out.Results[0].Status != "PENDING" {
			t.Fatalf("want PENDING right after placing without waiting:\n%s", r)
		}
		followToEnd(t, s, id, []string{"choreography"})
	})
}

// statusJSON is `status --json`.
type statusJSON struct {
	Results []struct {
		Mode        string   `json:"mode"`
		OrderID     string   `json:"order_id"`
		Found       bool     `json:"found"`
		Status      string   `json:"status"`
		Current     string   `json:"current"`
		Steps       []string `json:"steps"`
		Compensated []string `json:"compensated"`
		FailedStep  string   `json:"failed_step"`
		Reason      string   `json:"reason"`
		UIURL       string   `json:"ui_url"`
	} `json:"results"`
}

// followToEnd polls `status ID --json` until the order is COMPLETED on
// every mode; each answer on the way must be PENDING or COMPLETED, with
// the steps done so far in saga order.
func followToEnd(t *testing.T, s *stack, id string, modes []string) {
	t.Helper()
	all := []string{"inventory", "fraud", "payment", "shipping"}
	next := []string{"reserve", "check", "charge", "schedule"}
	sawRunning := map[string]bool{}
	defer func() { t.Logf("order %s seen while scheduling its shipment on: %v", id, sawRunning) }()
	eventually(t, 30*time.Second, func() (bool, string) {
		r := s.must(t, "status", id, "--json")
		var st statusJSON
		decodeOne(t, r, &st)
		done := 0
		for _, res := range st.Results {
			if !slices.Contains(modes, res.Mode) {
				if res.Found {
					t.Fatalf("order %s exists on %s, where it was not placed:\n%s", id, res.Mode, r)
				}
				continue
			}
			if !res.Found || res.OrderID != id {
				t.Fatalf("order %s not found on %s:\n%s", id, res.Mode, r)
			}
			switch res.Status {
			case "COMPLETED":
				if !slices.Equal(res.Steps, all) {
					t.Fatalf("COMPLETED with steps %v:\n%s", res.Steps, r)
				}
				done++
			case "PENDING":
				if len(res.Steps) > len(all) || !slices.Equal(res.Steps, all[:len(res.Steps)]) {
					t.Fatalf("PENDING with steps %v:\n%s", res.Steps, r)
				}
				// Live: what runs now is the step after those done.
				if n := len(res.Steps); n < len(all) && res.Current != next[n] {
					t.Fatalf("PENDING after %v is running %q, want %q:\n%s", res.Steps, res.Current, next[n], r)
				}
				if res.Current == "schedule" {
					sawRunning[res.Mode] = true
				}
			default:
				t.Fatalf("unexpected status %s:\n%s", res.Status, r)
			}
		}
		return done == len(modes), fmt.Sprintf("order %s not completed everywhere:\n%s", id, r.stdout)
	})
}

// TestOrderDuplicateID: an ID already placed on one engine is refused with
// exit 1 before anything is placed on the other.
func TestOrderDuplicateID(t *testing.T) {
	s := servers(t)
	for _, first := range bothModes {
		t.Run("placed on "+first, func(t *testing.T) {
			other := bothModes[0]
			if other == first {
				other = bothModes[1]
			}
			id := newID("dup")
			s.must(t, "order", "--mode", first, "--id", id)
			before := s.levels(t)
			chorBefore := s.choreographyOrders(t)

			for _, mode := range []string{"both", first} {
				r := s.run(t, "order", "--mode", mode, "--id", id, "--item", "lamp:1")
				wantCode(t, r, 1)
				wantOneLine(t, r, id, "already")
				if r.stdout != "" {
					t.Fatalf("wrote to stdout:\n%s", r)
				}
			}
			r := s.run(t, "status", id, "--mode", other)
			if r.code != 1 || !strings.Contains(r.stderr, "unknown order") {
				t.Fatalf("the duplicate was placed on %s:\n%s", other, r)
			}
			if after := s.levels(t); after[first]["lamp"] != before[first]["lamp"] || after[other]["lamp"] != before[other]["lamp"] {
				t.Fatalf("a refused duplicate changed the stock: %v -> %v", before, after)
			}
			if got := s.choreographyOrders(t); got != chorBefore {
				t.Fatalf("choreography orders %d -> %d", chorBefore, got)
			}
		})
	}
}
