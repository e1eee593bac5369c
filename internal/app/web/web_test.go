package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
)

func do(t *testing.T, c *http.Client, method, u string, form url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	// Redirects are asserted, not followed.
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func wantContains(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("missing %q in:\n%s", w, body)
		}
	}
}

// TestIndexFirstPaint: the page is complete as served, before any script
// runs: both engines' counts, the latest orders with each engine's status,
// the form, stock and money, and the services.
func TestIndexFirstPaint(t *testing.T) {
	f := newFixture(t, Options{})
	now := time.Now()
	f.orch.counts = Counts{Placed: 3, InFlight: 1, Completed: 1, Compensated: 1, Failed: 0}
	f.chor.counts = Counts{Placed: 1234, Compensated: 1234, Note: "Statuses: of the latest 1,000 orders."}
	f.orch.set("o-new", now, shop.StatusPending)
	f.chor.set("o-new", now, shop.StatusCompensated)
	f.orch.set("o-old", now.Add(-time.Minute), shop.StatusCompleted)

	resp, body := f.get(t, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	wantContains(t, body,
		`id="engine-orchestration"`, `id="engine-choreography"`, "Temporal workflow", "Redis Streams",
		`data-count="placed">3<`, `data-count="placed">1,234<`, `data-count="compensated">1,234<`,
		"Statuses: of the latest 1,000 orders.",
		`<tr data-order="o-new">`, `href="/orders/o-new"`, `<tr data-order="o-old">`,
		`<form id="place" method="post" action="/orders">`, `name="decline" value="payment"`, `value="book:1"`,
		"999,999", "84.00", "42.00", // stock, charged, refunded
		`data-service="payment"`, `data-count="dead_letters">2<`,
	)
	// Newest first, each engine's status in its own column; an order one
	// engine does not list shows a dash there.
	row := regexp.MustCompile(`(?s)<tr data-order="o-new">.*?</tr>`).FindString(body)
	if !strings.Contains(row, `data-mode="orchestration"><span class="badge s-pending">PENDING`) ||
		!strings.Contains(row, `data-mode="choreography"><span class="badge s-compensated">COMPENSATED`) {
		t.Errorf("row of o-new: %s", row)
	}
	if strings.Index(body, "o-new") > strings.Index(body, "o-old") {
		t.Error("o-old is listed before the newer o-new")
	}
	old := regexp.MustCompile(`(?s)<tr data-order="o-old">.*?</tr>`).FindString(body)
	if !strings.Contains(old, `data-mode="choreography"><span class="badge s-none"`) {
		t.Errorf("row of o-old: %s", old)
	}
}

// TestNothingFromTheNetwork: every page and asset refers only to this
// server, and the assets are served from the binary.
func TestNothingFromTheNetwork(t *testing.T) {
	f := newFixture(t, Options{WorkflowURL: func(string) string { return "" }})
	_, page := f.get(t, "/")
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//`)
	if m := external.FindString(page); m != "" {
		t.Errorf("the page refers to another host: %q", m)
	}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		if m := external.FindString(string(b)); m != "" {
			t.Errorf("%s refers to another host: %q", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, ctype := range map[string]string{"/assets/app.js": "javascript", "/assets/style.css": "text/css", "/assets/icon.svg": "image/svg"} {
		resp, body := f.get(t, path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("GET %s = %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
}

// TestPlaceRefusesBadInput: a mistake in the form is reported in one line
// and nothing is placed on either engine.
func TestPlaceRefusesBadInput(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"unknown SKU", url.Values{"items": {"sofa:1"}}, `unknown SKU "sofa"`},
		{"zero quantity", url.Values{"items": {"book:0"}}, "quantity 0 of book"},
		{"quantity not a number", url.Values{"items": {"book:x"}}, `quantity "x" is not a whole number`},
		{"SKU twice", url.Values{"items": {"book:1, book:2"}}, "listed twice"},
		{"unknown step", url.Values{"faults": {"teleport"}}, `unknown step "teleport"`},
		{"bad kind", url.Values{"faults": {"payment:explode"}}, `unknown fault kind "explode"`},
		{"transient out of range", url.Values{"faults": {"payment:transient:0"}}, "want transient:N"},
		{"two faults for one step", url.Values{"faults": {"payment:transient:2"}, "decline": {"payment"}}, "more than one fault for charge"},
		{"bad decline target", url.Values{"decline": {"teleport"}}, `unknown step "teleport"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, f.http.Client(), http.MethodPost, f.http.URL+"/orders", tt.form, nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			// The page comes back with the message and the user's input.
			wantContains(t, body, `class="form-msg error"`, escaped(tt.want))
			if v := tt.form.Get("items"); v != "" {
				wantContains(t, body, `value="`+escaped(v)+`"`)
			}
			resp, body = do(t, f.http.Client(), http.MethodPost, f.http.URL+"/orders", tt.form, http.Header{"Accept": {"application/json"}})
			var js map[string]string
			if err := json.Unmarshal([]byte(body), &js); err != nil || resp.StatusCode != http.StatusBadRequest || !strings.Contains(js["error"], tt.want) {
				t.Fatalf("JSON: %d %s (%v)", resp.StatusCode, body, err)
			}
		})
	}
	if n := len(f.orch.placedOrders()) + len(f.chor.placedOrders()); n != 0 {
		t.Fatalf("%d orders placed from bad input", n)
	}
}

// escaped escapes s as html/template does in text.
func escaped(s string) string {
	r := strings.NewReplacer(`"`, "&#34;", "'", "&#39;", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

// TestPlaceWithDecline: the decline button places one order, with the same
// ID, items and fault plan, on both engines.
func TestPlaceWithDecline(t *testing.T) {
	f := newFixture(t, Options{})
	form := url.Values{"items": {"book:2 mug:1"}, "faults": {"shipping:delay:2s"}, "decline": {"payment"}}
	resp, _ := do(t, f.http.Client(), http.MethodPost, f.http.URL+"/orders", form, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	o, c := f.orch.placedOrders(), f.chor.placedOrders()
	if len(o) != 1 || len(c) != 1 {
		t.Fatalf("placed %d and %d orders, want one on each", len(o), len(c))
	}
	if o[0].ID != c[0].ID || !strings.HasPrefix(loc, "/?placed="+o[0].ID) {
		t.Fatalf("IDs %s and %s, redirect to %s", o[0].ID, c[0].ID, loc)
	}
	want := shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDecline}, shop.OpSchedule: {Kind: shop.FaultDelay, Delay: 2 * time.Second}}
	for _, got := range []shop.Order{o[0], c[0]} {
		if len(got.Items) != 2 || got.Items[0] != (shop.Item{SKU: "book", Quantity: 2}) || got.Items[1] != (shop.Item{SKU: "mug", Quantity: 1}) {
			t.Errorf("items %v", got.Items)
		}
		if len(got.Faults) != 2 || got.Faults[shop.OpCharge] != want[shop.OpCharge] || got.Faults[shop.OpSchedule] != want[shop.OpSchedule] {
			t.Errorf("faults %v, want %v", got.Faults, want)
		}
	}
	// The page it leads to names the order.
	_, body := f.get(t, loc)
	wantContains(t, body, "Order <a href=\"/orders/"+o[0].ID+"\">"+o[0].ID+"</a> placed on both engines.")

	// A script gets JSON and stays on the page; no items means one book.
	resp, body = do(t, f.http.Client(), http.MethodPost, f.http.URL+"/orders", url.Values{"items": {""}}, http.Header{"Accept": {"application/json"}})
	var js map[string]string
	if err := json.Unmarshal([]byte(body), &js); err != nil || resp.StatusCode != http.StatusOK || js["url"] != "/orders/"+js["order_id"] {
		t.Fatalf("JSON: %d %s", resp.StatusCode, body)
	}
	if o := f.orch.placedOrders(); len(o) != 2 || o[1].ID != js["order_id"] || len(o[1].Items) != 1 || o[1].Items[0].SKU != shop.DefaultSKU || o[1].Faults != nil {
		t.Fatalf("second order %+v", o)
	}
}

// TestPlaceNothingHalfPlaced: when one engine cannot be reached, the order
// is placed on neither; when the second engine fails after the first took
// the order, the message says exactly where it is.
func TestPlaceNothingHalfPlaced(t *testing.T) {
	f := newFixture(t, Options{})
	f.chor.statusErr = errDown
	resp, body := do(t, f.http.Client(), http.MethodPost, f.http.URL+"/orders", url.Values{"items": {"book:1"}}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	wantContains(t, body, "nothing placed: choreography: temporal at 127.0.0.1:1 is unreachable")
	if n := len(f.orch.placedOrders()); n != 0 {
		t.Fatalf("orchestration got %d orders while choreography was down", n)
	}

	f.chor.statusErr, f.chor.placeErr = nil, errors.New("connection reset")
	resp, body = do(t, f.http.Client(), http.MethodPost, f.http.URL+"/orders", url.Values{"items": {"book:1"}}, http.Header{"Accept": {"application/json"}})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "placed on orchestration only: choreography: connection reset") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// TestPlaceFromAnotherSite: a form on another site cannot place orders.
func TestPlaceFromAnotherSite(t *testing.T) {
	f := newFixture(t, Options{})
	resp, _ := do(t, f.http.Client(), http.MethodPost, f.http.URL+"/orders", url.Values{"items": {"book:1"}},
		http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://elsewhere.example"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
	if n := len(f.orch.placedOrders()); n != 0 {
		t.Fatal("a cross-site post placed an order")
	}
}

// TestOrderPage: both timelines side by side, the Temporal UI link, and a
// clear answer for unknown and malformed IDs.
func TestOrderPage(t *testing.T) {
	f := newFixture(t, Options{})
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f.orch.set("o-1", t0, shop.StatusCompensated,
		shop.Event{Time: t0, Name: "WorkflowExecutionStarted", Source: "workflow"},
		shop.Event{Time: t0.Add(40 * time.Millisecond), Name: "ActivityTaskFailed", Op: shop.OpCharge, Result: "fail", Source: "worker", Detail: "PaymentDeclined: declined by fault plan", Duration: 12 * time.Millisecond})
	f.chor.set("o-1", t0, shop.StatusCompensated,
		shop.Event{Time: t0, Name: "OrderPlaced", Source: "order"},
		shop.Event{Time: t0.Add(2 * time.Second), Name: "PaymentDeclined", Op: shop.OpCharge, Result: "fail", Source: "payment"})

	resp, body := f.get(t, "/orders/o-1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	wantContains(t, body,
		`data-terminal="true"`,
		`<section class="card timeline" data-mode="orchestration"`, `<section class="card timeline" data-mode="choreography"`,
		"WorkflowExecutionStarted", "ActivityTaskFailed", "PaymentDeclined: declined by fault plan", "&#43;40.0ms", "12.0ms",
		"OrderPlaced", "&#43;2.00s",
		`href="http://ui.test/namespaces/default/workflows/order-o-1"`,
	)
	if strings.Count(body, "ui.test") != 1 {
		t.Error("the Temporal UI link should show once, for orchestration")
	}

	// Only on one engine, and still running: the page follows it.
	f.orch.set("o-2", t0, shop.StatusPending)
	_, body = f.get(t, "/orders/o-2")
	wantContains(t, body, `data-terminal="false"`, "Not placed on this engine.")
	_, part := f.get(t, "/orders/o-2?part=body")
	if strings.Contains(part, "<html") || !strings.Contains(part, `id="order"`) {
		t.Errorf("part=body is not the fragment:\n%s", part)
	}

	resp, body = f.get(t, "/orders/o-nope")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "is not known to any engine") {
		t.Errorf("unknown order: %d %s", resp.StatusCode, body)
	}
	resp, _ = f.get(t, "/orders/"+url.PathEscape("bad id!"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed ID: %d", resp.StatusCode)
	}

	// An engine that cannot answer shows its error, the other its timeline.
	f.chor.statusErr = errDown
	resp, body = f.get(t, "/orders/o-1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	wantContains(t, body, "WorkflowExecutionStarted", `<p class="error">temporal at 127.0.0.1:1 is unreachable</p>`, `data-terminal="false"`)
}

// TestOrderPageWithoutWorker: when an engine does not answer the status
// (a running workflow with no worker), the page still comes, with the
// timeline and why the status is missing.
func TestOrderPageWithoutWorker(t *testing.T) {
	f := newFixture(t, Options{})
	t0 := time.Now()
	f.orch.set("o-1", t0, shop.StatusPending, shop.Event{Time: t0, Name: "WorkflowExecutionStarted", Source: "workflow"})
	f.chor.set("o-1", t0, shop.StatusCompleted, shop.Event{Time: t0, Name: "OrderCompleted", Source: "order"})
	f.orch.statusHangs = true
	start := time.Now()
	resp, body := f.get(t, "/orders/o-1")
	if took := time.Since(start); resp.StatusCode != http.StatusOK || took > statusWait+2*time.Second {
		t.Fatalf("status %d after %s", resp.StatusCode, took)
	}
	wantContains(t, body, "no status within 2s: is the orchestration worker running?", "WorkflowExecutionStarted", "OrderCompleted", `data-terminal="false"`)
}

// event reads one server-sent event's data.
func event(t *testing.T, r *bufio.Reader) map[string]string {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var parts map[string]string
			if err := json.Unmarshal([]byte(data), &parts); err != nil {
				t.Fatalf("event data %q: %v", data, err)
			}
			return parts
		}
	}
}

func listen(t *testing.T, f *fixture) (*bufio.Reader, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.http.URL+"/events", nil)
	resp, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return bufio.NewReader(resp.Body), func() { cancel(); resp.Body.Close() }
}

// TestLiveUpdates: listeners get the rendered sections at once and again
// at every refresh, and an order's new status shows up without a reload.
func TestLiveUpdates(t *testing.T) {
	f := newFixture(t, Options{Interval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.srv.Run(ctx)
	f.orch.set("o-live", time.Now(), shop.StatusPending)

	r, stop := listen(t, f)
	defer stop()
	first := event(t, r)
	for _, s := range sections {
		if first[s] == "" {
			t.Errorf("section %s missing from the event", s)
		}
	}
	if !strings.Contains(first["orders"], "PENDING") {
		t.Fatalf("first event: %s", first["orders"])
	}
	f.orch.set("o-live", time.Now(), shop.StatusCompensated)
	// Each read blocks until the next event: the pause is poll's least.
	teststack.Eventually(t, 10*time.Second, 0, func() error {
		if !strings.Contains(event(t, r)["orders"], "COMPENSATED") {
			return errors.New("the new status never came")
		}
		return nil
	})
}

// TestOneRefreshForAllListeners: the engines are read once per refresh,
// however many pages listen; with no listener they are not read at all.
func TestOneRefreshForAllListeners(t *testing.T) {
	const interval = 100 * time.Millisecond
	f := newFixture(t, Options{Interval: interval})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.srv.Run(ctx)

	time.Sleep(5 * interval)
	if n := f.orch.overviews.Load(); n != 0 {
		t.Fatalf("the engines were read %d times with no one listening", n)
	}
	var readers []*bufio.Reader
	for range 8 {
		r, stop := listen(t, f)
		defer stop()
		readers = append(readers, r)
	}
	for _, r := range readers {
		event(t, r)
	}
	before := f.orch.overviews.Load()
	// Every listener sees three more refreshes…
	for range 3 {
		for _, r := range readers {
			event(t, r)
		}
	}
	// …which took about three reads, not eight times as many (24 or more).
	// A listener that falls behind skips frames, so it may see fewer
	// refreshes than happened: allow for the loop running ahead on a busy
	// machine, not for one read per listener.
	if n := f.orch.overviews.Load() - before; n < 3 || n > 15 {
		t.Fatalf("%d reads for 3 refreshes seen by 8 listeners", n)
	}
}

// TestTooManyListeners: live connections are bounded.
func TestTooManyListeners(t *testing.T) {
	f := newFixture(t, Options{MaxListeners: 1})
	_, stop := listen(t, f)
	defer stop()
	resp, body := f.get(t, "/events")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "too many live connections") {
		t.Fatalf("second listener: %d %s", resp.StatusCode, body)
	}
}

// TestEngineDownShowsItsError: an engine that cannot be read shows why; the
// other engine still shows.
func TestEngineDownShowsItsError(t *testing.T) {
	f := newFixture(t, Options{})
	f.orch.overviewErr = errDown
	f.bus.err = errors.New("redis at 127.0.0.1:1 is unreachable")
	f.chor.counts = Counts{Placed: 5, Completed: 5}
	_, body := f.get(t, "/")
	wantContains(t, body, `<p class="error">temporal at 127.0.0.1:1 is unreachable</p>`, `data-count="completed">5<`,
		`<p class="error">redis at 127.0.0.1:1 is unreachable</p>`, `data-count="placed">–<`)

	// An engine that does not answer holds the page up no longer than the
	// refresh's time limit.
	f = newFixture(t, Options{RefreshTimeout: 300 * time.Millisecond})
	f.orch.overviewHangs = true
	f.chor.counts = Counts{Placed: 5, Completed: 5}
	start := time.Now()
	_, body = f.get(t, "/")
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the page took %s", took)
	}
	wantContains(t, body, `<p class="error">no answer within 300ms (is it running?): count order workflows: context deadline exceeded</p>`,
		`data-count="completed">5<`)
}

// TestServeStops: Serve ends live connections and returns when its context
// ends.
func TestServeStops(t *testing.T) {
	f := newFixture(t, Options{Interval: 20 * time.Millisecond})
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, l) }()
	resp, err := http.Get("http://" + l.Addr().String() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	event(t, bufio.NewReader(resp.Body))
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended, with a page listening")
	}
}

// TestRate: the rate is finished orders per second over the last ten
// seconds, and starts afresh when the counts go down (a reset).
func TestRate(t *testing.T) {
	f := newFixture(t, Options{})
	h := f.srv.hub
	t0 := time.Now()
	snap := func(at time.Duration, placed, inFlight int64) EngineView {
		s := &Snapshot{At: t0.Add(at), Engines: []EngineView{{Mode: shop.ModeChoreography, Counts: Counts{Placed: placed, InFlight: inFlight}}}}
		h.rate(s)
		return s.Engines[0]
	}
	if ev := snap(0, 10, 10); ev.HasRate {
		t.Fatal("a rate from one sample")
	}
	if ev := snap(2*time.Second, 30, 10); !ev.HasRate || ev.Rate != 10 {
		t.Fatalf("rate %v %v, want 10/s", ev.Rate, ev.HasRate)
	}
	// Samples older than ten seconds drop out: from the one at 2s, 45
	// more finished in 9s.
	if ev := snap(11*time.Second, 70, 5); ev.Rate != 5 {
		t.Fatalf("rate %v, want 5/s", ev.Rate)
	}
	if ev := snap(12*time.Second, 0, 0); ev.HasRate {
		t.Fatalf("a rate across a reset: %v", ev.Rate)
	}
}

// TestForeignHostRefused: a page on another name that resolves to this
// server (DNS rebinding) sends that name as Host and Origin; the page
// answers nothing to it and places nothing, while its own names and the
// allowed hosts still work.
func TestForeignHostRefused(t *testing.T) {
	f := newFixture(t, Options{AllowedHosts: []string{"Shop.Example"}})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(f.http.URL, "http://"))
	post := func(host string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, f.http.URL+"/orders", strings.NewReader("items=book:1"))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("Origin", "http://"+host)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := f.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, host := range []string{"rebind.attacker.example:" + port, "rebind.attacker.example", "localhost.attacker.example:" + port, "10.1.2.3:" + port, ""} {
		if code := post(host); code != http.StatusForbidden {
			t.Errorf("POST with Host %q = %d, want 403", host, code)
		}
	}
	if n := len(f.orch.placedOrders()) + len(f.chor.placedOrders()); n != 0 {
		t.Fatalf("%d orders placed through a foreign host", n)
	}
	req, _ := http.NewRequest(http.MethodGet, f.http.URL+"/", nil)
	req.Host = "rebind.attacker.example:" + port
	if resp, err := f.http.Client().Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET / with a foreign Host: %v %v", resp, err)
	}
	for _, host := range []string{"localhost:" + port, "app.localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "shop.example:" + port, "SHOP.EXAMPLE."} {
		if code := post(host); code != http.StatusOK {
			t.Errorf("POST with Host %q = %d, want 200", host, code)
		}
	}
}

// TestHostCheckListenAddress: the address the page listens on is one of
// its names; listening on every interface accepts any IP address, never a
// foreign name.
func TestHostCheckListenAddress(t *testing.T) {
	c := newHostCheck(&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 8080}, nil)
	if !c.allows("192.0.2.7:8080") || c.allows("192.0.2.8:8080") || c.allows("evil.example:8080") {
		t.Error("a page on 192.0.2.7 answers to the wrong hosts")
	}
	c = newHostCheck(&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, nil)
	if !c.allows("192.0.2.8:8080") || !c.allows("[2001:db8::1]:8080") || c.allows("evil.example:8080") {
		t.Error("a page on 0.0.0.0 answers to the wrong hosts")
	}
}

// TestPlaceRefusesMalformedBody: a post that is not the order form (a
// JSON body, broken JSON, an empty body) is refused with 400 and places
// nothing: it is not read as a default order.
func TestPlaceRefusesMalformedBody(t *testing.T) {
	f := newFixture(t, Options{})
	for _, tt := range []struct{ name, ctype, body string }{
		{"broken JSON", "application/json", "{bad json"},
		{"JSON", "application/json", `{"items":"book:1"}`},
		{"broken JSON as a form", "application/x-www-form-urlencoded", "{bad json"},
		{"empty form", "application/x-www-form-urlencoded", ""},
		{"empty, no type", "", ""},
		{"text", "text/plain", "items=book:1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, f.http.URL+"/orders", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			req.Header.Set("Accept", "application/json")
			resp, err := f.http.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "unreadable form") {
				t.Fatalf("%d %s, want 400", resp.StatusCode, b)
			}
		})
	}
	if n := len(f.orch.placedOrders()) + len(f.chor.placedOrders()); n != 0 {
		t.Fatalf("%d orders placed from malformed bodies", n)
	}
}

// TestOrderPageSteps: the order page lists the steps an order reached,
// the fraud check among them when the order ran it, with its refusal; an
// order of the plan before the check has no line for it.
func TestOrderPageSteps(t *testing.T) {
	f := newFixture(t, Options{})
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	inv := []shop.Step{shop.StepInventory}
	refused := shop.Outcome{OrderID: "o-1", Status: shop.StatusCompensated, Steps: inv, Compensated: inv,
		FailedStep: shop.StepFraud, Reason: "FraudSuspected: an order of 2016.00 is above the limit of 2000.00"}
	f.orch.setOutcome(t0, refused,
		shop.Event{Time: t0, Name: "ActivityTaskFailed", Op: shop.OpCheck, Result: "fail", Source: "worker", Detail: refused.Reason})
	f.chor.setOutcome(t0, refused,
		shop.Event{Time: t0, Name: "FraudSuspected", Op: shop.OpCheck, Result: "fail", Source: "fraud", Detail: refused.Reason})
	_, body := f.get(t, "/orders/o-1")
	wantContains(t, body,
		`<li class="st-undone" data-step="inventory" data-state="undone"><strong>inventory</strong> reserved, then released</li>`,
		`<li class="st-failed" data-step="fraud" data-state="failed"><strong>fraud</strong> failed: FraudSuspected: an order of 2016.00 is above the limit of 2000.00</li>`,
	)
	if n := strings.Count(body, `data-step="fraud"`); n != 2 {
		t.Errorf("the refusal shows %d times, want once per engine", n)
	}
	if strings.Contains(body, `data-step="payment"`) {
		t.Error("a step the order never reached has a line")
	}

	old := shop.Outcome{OrderID: "o-2", Status: shop.StatusCompleted, Steps: shop.StepsBeforeFraud, Compensated: []shop.Step{}}
	f.orch.setOutcome(t0, old)
	f.chor.setOutcome(t0, old)
	_, body = f.get(t, "/orders/o-2")
	wantContains(t, body, `data-step="inventory" data-state="done"`, `data-step="payment" data-state="done"`, `data-step="shipping" data-state="done"`)
	if strings.Contains(body, `data-step="fraud"`) {
		t.Error("an order of the plan before the fraud check shows a line for it")
	}
}
