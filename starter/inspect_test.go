package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// historyJSON is `history --json`.
type historyJSON struct {
	Results []struct {
		Mode    string `json:"mode"`
		OrderID string `json:"order_id"`
		Found   bool   `json:"found"`
		Events  []struct {
			Time     time.Time `json:"time"`
			Name     string    `json:"name"`
			Op       string    `json:"op"`
			Result   string    `json:"result"`
			Source   string    `json:"source"`
			Detail   string    `json:"detail"`
			Duration int64     `json:"duration_ns"`
		} `json:"events"`
	} `json:"results"`
}

func TestStatus(t *testing.T) {
	s := servers(t)
	id := newID("status")
	s.must(t, "order", "--id", id, "--fail", "payment")

	t.Run("text", func(t *testing.T) {
		r := s.must(t, "status", id)
		for _, m := range bothModes {
			if !regexp.MustCompile(`(?m)^` + m + `\s+COMPENSATED\s+-\s+inventory,fraud\s+inventory\s`).MatchString(r.stdout) {
				t.Fatalf("want %s COMPENSATED, nothing running:\n%s", m, r)
			}
			if !strings.Contains(r.stdout, m+": payment failed: PaymentDeclined") {
				t.Fatalf("want why %s failed:\n%s", m, r)
			}
		}
		if !strings.Contains(r.stdout, "Temporal UI: http://localhost:8233/namespaces/default/workflows/order-"+id) {
			t.Fatalf("want the Temporal UI link:\n%s", r)
		}
	})

	t.Run("json", func(t *testing.T) {
		var st statusJSON
		decodeOne(t, s.must(t, "status", id, "--json"), &st)
		var modes []string
		for _, res := range st.Results {
			modes = append(modes, res.Mode)
			if !res.Found || res.OrderID != id || res.Status != "COMPENSATED" || res.FailedStep != "payment" ||
				!slices.Equal(res.Steps, []string{"inventory", "fraud"}) || !slices.Equal(res.Compensated, []string{"inventory"}) {
				t.Errorf("%s: %+v", res.Mode, res)
			}
			if (res.Mode == "orchestration") != strings.HasSuffix(res.UIURL, "/namespaces/default/workflows/order-"+id) {
				t.Errorf("%s ui_url %q", res.Mode, res.UIURL)
			}
		}
		if !slices.Equal(modes, bothModes) {
			t.Fatalf("modes %v, want %v", modes, bothModes)
		}
	})

	t.Run("one mode", func(t *testing.T) {
		var st statusJSON
		decodeOne(t, s.must(t, "status", "--mode", "choreography", "--json", id), &st)
		if len(st.Results) != 1 || st.Results[0].Mode != "choreography" || st.Results[0].Status != "COMPENSATED" {
			t.Fatalf("want one choreography result: %+v", st)
		}
	})

	t.Run("placed on one engine only", func(t *testing.T) {
		only := newID("status-one")
		s.must(t, "order", "--mode", "orchestration", "--id", only)
		r := s.must(t, "status", only)
		if !regexp.MustCompile(`(?m)^choreography\s+not found`).MatchString(r.stdout) ||
			!regexp.MustCompile(`(?m)^orchestration\s+COMPLETED`).MatchString(r.stdout) {
			t.Fatalf("want orchestration COMPLETED and choreography not found:\n%s", r)
		}
		var st statusJSON
		decodeOne(t, s.must(t, "status", only, "--json"), &st)
		if len(st.Results) != 2 || !st.Results[0].Found || st.Results[1].Found {
			t.Fatalf("want found on orchestration only: %+v", st)
		}
	})

	t.Run("unknown order", func(t *testing.T) {
		unknown := newID("nobody")
		for _, mode := range []string{"both", "orchestration", "choreography"} {
			r := s.run(t, "status", unknown, "--mode", mode)
			wantCode(t, r, 1)
			wantOneLine(t, r, "unknown order", unknown)
			if r.stdout != "" {
				t.Fatalf("wrote to stdout:\n%s", r)
			}
		}
	})
}

func TestHistory(t *testing.T) {
	s := servers(t)
	id := newID("history")
	s.must(t, "order", "--id", id, "--fail", "payment")

	t.Run("text", func(t *testing.T) {
		r := s.must(t, "history", id)
		orch, chor, ok := strings.Cut(r.stdout, "choreography — order "+id)
		if !ok || !strings.HasPrefix(orch, "orchestration — order "+id) {
			t.Fatalf("want the orchestration timeline, then the choreography one:\n%s", r)
		}
		for _, re := range []string{
			`(?m)^\s+AT\s+TIME\s+EVENT\s+STEP\s+RESULT\s+TOOK\s+BY\s+DETAIL`,
			`(?m)^\s+\+\S+\s+\S+\s+ActivityTaskScheduled\s+release\s+-\s+-\s+workflow\s+Release`,
			`(?m)^\s+\+\S+\s+\S+\s+ActivityTaskCompleted\s+release\s+ok\s`,
			`(?m)^\s+\+\S+\s+\S+\s+ActivityTaskFailed\s+charge\s+fail\s.*PaymentDeclined`,
		} {
			if !regexp.MustCompile(re).MatchString(orch) {
				t.Fatalf("orchestration timeline does not match %s:\n%s", re, orch)
			}
		}
		for _, re := range []string{
			`(?m)^\s+AT\s+TIME\s+EVENT\s+STEP\s+RESULT\s+TOOK\s+BY\s+DETAIL`,
			`(?m)^\s+\+\S+\s+\S+\s+OrderPlaced\s`,
			`(?m)^\s+\+\S+\s+\S+\s+InventoryReserved\s+reserve\s+ok\s`,
			`(?m)^\s+\+\S+\s+\S+\s+PaymentDeclined\s+charge\s+fail\s`,
			`(?m)^\s+\+\S+\s+\S+\s+InventoryReleased\s+release\s+ok\s`,
		} {
			if !regexp.MustCompile(re).MatchString(chor) {
				t.Fatalf("choreography timeline does not match %s:\n%s", re, chor)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		var h historyJSON
		decodeOne(t, s.must(t, "history", id, "--json"), &h)
		var modes []string
		for _, res := range h.Results {
			modes = append(modes, res.Mode)
			if !res.Found || res.OrderID != id || len(res.Events) == 0 {
				t.Fatalf("%s: want the order's events: %+v", res.Mode, res)
			}
			var seen []string
			for _, e := range res.Events {
				if e.Time.IsZero() || e.Name == "" || e.Source == "" {
					t.Errorf("%s: event without time, name or source: %+v", res.Mode, e)
				}
				if e.Result != "" {
					seen = append(seen, e.Op+":"+e.Result)
				}
			}
			// Reserve done, charge declined, release done: in that order.
			want := []string{"reserve:ok", "charge:fail", "release:ok"}
			if !isSubsequence(want, seen) {
				t.Errorf("%s: results %v, want %v in that order", res.Mode, seen, want)
			}
		}
		if !slices.Equal(modes, bothModes) {
			t.Fatalf("modes %v, want %v", modes, bothModes)
		}
	})

	t.Run("one mode", func(t *testing.T) {
		var h historyJSON
		decodeOne(t, s.must(t, "history", id, "--json", "--mode", "orchestration"), &h)
		if len(h.Results) != 1 || h.Results[0].Mode != "orchestration" {
			t.Fatalf("want one orchestration result: %+v", h)
		}
		names := map[string]bool{}
		for _, e := range h.Results[0].Events {
			names[e.Name] = true
		}
		for _, n := range []string{"WorkflowExecutionStarted", "ActivityTaskScheduled", "ActivityTaskCompleted", "WorkflowExecutionCompleted"} {
			if !names[n] {
				t.Errorf("no %s event in %v", n, names)
			}
		}
	})

	t.Run("unknown order", func(t *testing.T) {
		unknown := newID("nobody")
		for _, mode := range []string{"both", "orchestration", "choreography"} {
			r := s.run(t, "history", unknown, "--mode", mode)
			wantCode(t, r, 1)
			wantOneLine(t, r, "unknown order", unknown)
			if r.stdout != "" {
				t.Fatalf("wrote to stdout:\n%s", r)
			}
		}
	})
}

// isSubsequence reports whether want appears in got in order.
func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// verifyJSON is `verify --json`.
type verifyJSON struct {
	OK         *bool `json:"ok"`
	Violations []struct {
		Kind    string `json:"kind"`
		Engine  string `json:"engine"`
		OrderID string `json:"order_id"`
		Message string `json:"message"`
	} `json:"violations"`
	Results []struct {
		Mode   string `json:"mode"`
		Orders int    `json:"orders"`
	} `json:"results"`
}

func TestVerify(t *testing.T) {
	s := servers(t)
	// Orders of earlier tests, FAILED ones among them, no longer count.
	r := s.must(t, "stock", "--reset")
	for _, m := range bothModes {
		if !strings.Contains(r.stdout, m+": reset") {
			t.Fatalf("want %s reset:\n%s", m, r)
		}
	}
	t.Cleanup(func() { s.run(t, "stock", "--reset") })

	s.must(t, "order", "--id", newID("verify-ok"), "--item", "book:2", "--item", "poster:1")
	s.must(t, "order", "--id", newID("verify-comp"), "--fail", "shipping")

	var v verifyJSON
	eventually(t, 20*time.Second, func() (bool, string) {
		r := s.run(t, "verify", "--json")
		v = verifyJSON{}
		decodeOne(t, r, &v)
		return r.code == 0 && v.OK != nil && *v.OK, r.String()
	})
	if len(v.Violations) != 0 || v.Violations == nil {
		t.Fatalf("want an empty violations list: %+v", v)
	}
	r = s.must(t, "verify")
	for _, m := range bothModes {
		if !regexp.MustCompile(`(?m)^` + m + `: 2 orders \(1 COMPLETED, 1 COMPENSATED\), 1 histories checked: OK$`).MatchString(r.stdout) {
			t.Fatalf("want %s OK with 2 orders:\n%s", m, r)
		}
	}

	failed := newID("verify-failed")
	wantCode(t, s.run(t, "order", "--id", failed, "--fail", "shipping", "--fail", "refund:decline"), 3)
	want := fmt.Sprintf("order %s FAILED", failed)
	for _, m := range bothModes {
		eventually(t, 20*time.Second, func() (bool, string) {
			r := s.run(t, "verify", "--json", "--mode", m)
			v = verifyJSON{}
			decodeOne(t, r, &v)
			found := false
			for _, vl := range v.Violations {
				found = found || vl.Kind == "failed-needs-repair" && vl.Engine == m && vl.OrderID == failed && strings.Contains(vl.Message, want)
			}
			return r.code == 1 && r.stderr == "" && v.OK != nil && !*v.OK && found, r.String()
		})
	}
	r = s.run(t, "verify")
	wantCode(t, r, 1)
	for _, m := range bothModes {
		if !regexp.MustCompile(`(?m)^`+m+`: 3 orders .*violation`).MatchString(r.stdout) ||
			!regexp.MustCompile(`(?m)^  - `+regexp.QuoteMeta(want)).MatchString(r.stdout) {
			t.Fatalf("want each violation listed for %s:\n%s", m, r)
		}
	}
	if strings.Count(r.stdout, "  - "+want) != 2 {
		t.Fatalf("want the FAILED order listed once per engine:\n%s", r)
	}
}

func TestStock(t *testing.T) {
	s := servers(t)
	skus := []string{"book", "lamp", "mug", "pen", "poster"}

	t.Run("text", func(t *testing.T) {
		r := s.must(t, "stock")
		if !regexp.MustCompile(`(?m)^\s*SKU\s+PRICE\s+INITIAL\s+ORCHESTRATION\s+CHOREOGRAPHY\s*$`).MatchString(r.stdout) {
			t.Fatalf("want a header with both engines:\n%s", r)
		}
		for _, sku := range skus {
			if !regexp.MustCompile(`(?m)^\s*` + sku + `\s+\d+\.\d\d\s+\d+\s+\d+\s+\d+\s*$`).MatchString(r.stdout) {
				t.Fatalf("want a row for %s:\n%s", sku, r)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		var st stockJSON
		decodeOne(t, s.must(t, "stock", "--json", "--mode", "orchestration"), &st)
		var got []string
		for _, row := range st.Stock {
			got = append(got, row.SKU)
			if len(row.Available) != 1 || row.Initial <= 0 || row.Price <= 0 || row.Name == "" {
				t.Errorf("row %+v: want orchestration's stock only, a name, a price and an initial stock", row)
			}
		}
		if !slices.Equal(got, skus) {
			t.Fatalf("SKUs %v, want %v", got, skus)
		}
	})

	t.Run("reset", func(t *testing.T) {
		s.must(t, "order", "--id", newID("stock"), "--item", "lamp:3", "--item", "poster:2")
		before := s.levels(t)
		initial := map[string]int64{}
		var st stockJSON
		decodeOne(t, s.must(t, "stock", "--json"), &st)
		for _, row := range st.Stock {
			initial[row.SKU] = row.Initial
		}
		for _, m := range bothModes {
			if before[m]["lamp"] > initial["lamp"]-3 || before[m]["poster"] > initial["poster"]-2 {
				t.Fatalf("%s: the order did not take its stock: %v", m, before[m])
			}
		}

		// Reset one engine: the other keeps its stock.
		r := s.must(t, "stock", "--reset", "--mode", "choreography")
		if !strings.Contains(r.stdout, "choreography: reset") || strings.Contains(r.stdout, "orchestration: reset") {
			t.Fatalf("want choreography reset only:\n%s", r)
		}
		after := s.levels(t)
		for _, sku := range skus {
			if after["choreography"][sku] != initial[sku] {
				t.Errorf("choreography %s: %d after reset, want %d", sku, after["choreography"][sku], initial[sku])
			}
			if after["orchestration"][sku] != before["orchestration"][sku] {
				t.Errorf("orchestration %s changed by a choreography reset: %d -> %d", sku, before["orchestration"][sku], after["orchestration"][sku])
			}
		}

		r = s.must(t, "stock", "--reset")
		for _, sku := range skus {
			if !regexp.MustCompile(fmt.Sprintf(`(?m)^\s*%s\s+\S+\s+%d\s+%d\s+%d\s*$`, sku, initial[sku], initial[sku], initial[sku])).MatchString(r.stdout) {
				t.Fatalf("want %s back at %d on both engines:\n%s", sku, initial[sku], r)
			}
		}
		if s.choreographyOrders(t) != 0 {
			t.Fatalf("choreography orders left after a reset")
		}

		// The engines work after a reset.
		id := newID("after-reset")
		out := decodeOrder(t, s.must(t, "order", "--json", "--id", id), id, bothModes, true)
		for _, res := range out.Results {
			if res.Status != "COMPLETED" {
				t.Fatalf("%s: %s after a reset", res.Mode, res.Status)
			}
		}
	})
}
