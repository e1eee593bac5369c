//go:build compose

// The Compose stacks for real (make compose-test): built from the
// repository, on local stand-ins of every third-party image
// (deploy/standins), used the way a user does.
package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// TestComposeDefault: the default stack (dev server, one Redis, the five
// workers, the page), then a participant and the orchestration worker
// stopped and started with orders waiting, Prometheus of the observability
// profile, and down / up / down -v.
func TestComposeDefault(t *testing.T) {
	s := newStack(t, "default", "docker-compose.yml")
	dangling := danglingVolumes(t)
	s.up()
	id := s.orders()
	httpOK(t, "http://127.0.0.1:"+s.env["WEB_PORT"]+"/", time.Minute)
	compensatedInUI(t, s, id+"-fail")

	t.Run("payment stopped, then started", func(t *testing.T) { s.in(t).outage("payment", "choreography") })
	t.Run("worker stopped, then started", func(t *testing.T) { s.in(t).outage("worker", "orchestration") })
	t.Run("payment cut off from Redis", func(t *testing.T) { s.in(t).partition("payment", "choreography") })
	t.Run("worker cut off from Temporal", func(t *testing.T) { s.in(t).partition("worker", "orchestration") })
	t.Run("prometheus", func(t *testing.T) {
		s.in(t).prometheusTargets(map[string]int{"redis_up": 1}, "redis_stream_length")
	})

	if out, err := s.down(); err != nil {
		t.Fatalf("docker compose down: %v\n%s", err, out)
	}
	s.up()
	wantStatus(t, "status after down and up", s.results("status", id), bothModes, "COMPLETED")
	s.verify()
	if out, err := s.down("-v"); err != nil {
		t.Fatalf("docker compose down -v: %v\n%s", err, out)
	}
	nothingLeft(t, s.project)
	for _, v := range danglingVolumes(t) {
		if !slices.Contains(dangling, v) {
			t.Errorf("the stack left the anonymous volume %s behind", v)
		}
	}
}

// danglingVolumes are the volumes no container uses (anonymous ones carry
// no project label, so nothingLeft does not see them).
func danglingVolumes(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "dangling=true").Output()
	if err != nil {
		t.Fatalf("docker volume ls: %v", err)
	}
	return strings.Fields(string(out))
}

// TestComposePostgresCluster: Temporal on PostgreSQL with its schema and
// namespace jobs and the Web UI, and the application on the Redis Cluster
// profile (three masters, a replica each), one master of which is cut off
// the network under load until its replica takes over, then connected again.
func TestComposePostgresCluster(t *testing.T) {
	s := newStack(t, "postgres", "docker-compose.yml", "docker-compose.postgres.yml")
	s.profiles = []string{"cluster"}
	s.env["REDIS_CLUSTER"] = "3"
	s.up()
	s.orders()
	httpOK(t, "http://127.0.0.1:"+s.env["TEMPORAL_UI_PORT"]+"/", time.Minute)
	t.Run("a master cut off, failover, rejoin", func(t *testing.T) { s.in(t).clusterPartition() })
	// The one Redis and the six cluster nodes, and PostgreSQL.
	t.Run("prometheus", func(t *testing.T) {
		s.in(t).prometheusTargets(map[string]int{"redis_up": 1 + len(clusterNodes), "pg_up": 1}, "pg_stat_database_xact_commit")
	})
	if out, err := s.down("-v"); err != nil {
		t.Fatalf("docker compose down -v: %v\n%s", err, out)
	}
	nothingLeft(t, s.project)
}

// outage stops service, places orders on mode that must wait for it, starts
// it again and checks they drain to COMPLETED.
func (s *stack) outage(service, mode string) {
	t := s.t
	s.must(3*time.Minute, "stop", service)
	ids := make([]string, 3)
	for i := range ids {
		ids[i] = fmt.Sprintf("o-%s-%d-%d", service, time.Now().UnixNano(), i)
		if out, err := s.starter("order", "--id", ids[i], "--mode", mode, "--no-wait"); err != nil {
			t.Fatalf("order with %s stopped: %v\n%s", service, err, out)
		}
	}
	time.Sleep(5 * time.Second)
	if got := s.results("status", ids[0], "--mode", mode)[mode].Status; got != "PENDING" {
		t.Errorf("with %s stopped, order is %q, want PENDING", service, got)
	}
	s.must(5*time.Minute, "start", service)
	for _, id := range ids {
		if r := s.waitTerminal(id, mode, 3*time.Minute); r.Status != "COMPLETED" {
			t.Errorf("order %s after %s came back: %s (%s), want COMPLETED", id, service, r.Status, r.Reason)
		}
	}
	s.verify()
}

// partition cuts service's container off the project's network (docker
// network disconnect) for longer than the clients' timeouts while orders
// on mode wait for it, then connects it again under its service name: the
// orders end COMPLETED, each charged once (verify).
func (s *stack) partition(service, mode string) {
	t := s.t
	network := s.project + "_default"
	container := strings.TrimSpace(s.must(time.Minute, "ps", "-q", service))
	if out, err := exec.Command("docker", "network", "disconnect", network, container).CombinedOutput(); err != nil {
		t.Fatalf("docker network disconnect %s: %v\n%s", service, err, out)
	}
	reconnect := func() ([]byte, error) {
		return exec.Command("docker", "network", "connect", "--alias", service, network, container).CombinedOutput()
	}
	connected := false
	defer func() {
		if !connected {
			_, _ = reconnect()
		}
	}()
	ids := make([]string, 3)
	for i := range ids {
		ids[i] = fmt.Sprintf("p-%s-%d-%d", service, time.Now().UnixNano(), i)
		if out, err := s.starter("order", "--id", ids[i], "--mode", mode, "--no-wait"); err != nil {
			t.Fatalf("order with %s cut off: %v\n%s", service, err, out)
		}
	}
	time.Sleep(20 * time.Second) // past the Redis and Temporal clients' timeouts
	if got := s.results("status", ids[0], "--mode", mode)[mode].Status; got != "PENDING" {
		t.Errorf("with %s cut off, order is %q, want PENDING", service, got)
	}
	if out, err := reconnect(); err != nil {
		t.Fatalf("docker network connect %s: %v\n%s", service, err, out)
	}
	connected = true
	for _, id := range ids {
		if r := s.waitTerminal(id, mode, 3*time.Minute); r.Status != "COMPLETED" {
			t.Errorf("order %s after %s was reconnected: %s (%s), want COMPLETED", id, service, r.Status, r.Reason)
		}
	}
	s.verify()
}

// prometheusTargets starts Prometheus of the observability profile on the
// running stack and waits until every target it scrapes is up, until the
// exporters' up gauges (up: how many series each must have) all read 1,
// the exporters logged in, and until each series of present has a value.
func (s *stack) prometheusTargets(up map[string]int, present ...string) {
	t := s.t
	profiles := s.profiles
	s.profiles = append(slices.Clone(profiles), "observability")
	defer func() { s.profiles = profiles }()
	s.must(10*time.Minute, "up", "-d", "--wait", "--no-recreate", "prometheus")
	api := "http://127.0.0.1:" + s.env["PROMETHEUS_PORT"] + "/api/v1/"
	var down []string
	err := poll.For(context.Background(), 2*time.Minute, poll.Every(2*time.Second), func(context.Context) (bool, error) {
		down = targetsDown(api + "targets")
		for metric, n := range up {
			if v := promValues(api, metric); len(v) != n || slices.ContainsFunc(v, func(x string) bool { return x != "1" }) {
				down = append(down, fmt.Sprintf("%s = %v, want %d series of 1", metric, v, n))
			}
		}
		for _, metric := range present {
			if len(promValues(api, metric)) == 0 {
				down = append(down, metric+": no series")
			}
		}
		return len(down) == 0, nil
	})
	if err != nil {
		t.Errorf("Prometheus: %v", down)
	}
}

// promValues asks Prometheus's API for the current values of query.
func promValues(api, query string) []string {
	resp, err := http.Get(api + "query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var doc struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&doc) != nil {
		return nil
	}
	var out []string
	for _, r := range doc.Data.Result {
		if len(r.Value) == 2 {
			out = append(out, fmt.Sprint(r.Value[1]))
		}
	}
	return out
}

// targetsDown asks Prometheus for its active targets and lists those not up
// (all of them while it has none).
func targetsDown(url string) []string {
	resp, err := http.Get(url)
	if err != nil {
		return []string{err.Error()}
	}
	defer resp.Body.Close()
	var doc struct {
		Data struct {
			ActiveTargets []struct {
				ScrapeURL string `json:"scrapeUrl"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return []string{err.Error()}
	}
	if len(doc.Data.ActiveTargets) == 0 {
		return []string{"no targets"}
	}
	var down []string
	for _, tg := range doc.Data.ActiveTargets {
		if tg.Health != "up" {
			down = append(down, tg.ScrapeURL+": "+tg.Health+" "+tg.LastError)
		}
	}
	return down
}

// compensatedInUI opens the compensated order's workflow in the Temporal
// UI with headless Chromium, waits for its history to show the
// compensation (Release), and keeps a screenshot for a person to look at.
func compensatedInUI(t *testing.T, s *stack, id string) {
	t.Helper()
	ui := "http://localhost:" + s.env["TEMPORAL_UI_PORT"]
	httpOK(t, ui+"/", time.Minute)
	ctx, cancel := context.WithTimeout(testenv.Chromium(t, 1400, 1000), 90*time.Second)
	defer cancel()
	shows := `document.body.innerText.includes('order-` + id + `') && document.body.innerText.includes('Release')`
	err := chromedp.Do(ctx,
		chromedp.Navigate(ui+"/namespaces/default/workflows/order-"+id),
		chromedp.Poll[chromedp.Void](shows, chromedp.WithPollingTimeout(80*time.Second)),
	)
	if err != nil {
		t.Fatalf("the Temporal UI does not show order-%s compensated: %v", id, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join(testenv.RepoRoot(), ".state", "compose-test")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, s.project+"-temporal-ui.png"), png, 0o644)
	}
}

// nothingLeft fails the test when a container, network or volume of the
// project is still there.
func nothingLeft(t *testing.T, project string) {
	t.Helper()
	label := "label=com.docker.compose.project=" + project
	for _, kind := range [][]string{{"ps", "-aq"}, {"network", "ls", "-q"}, {"volume", "ls", "-q"}} {
		args := append(append([]string{}, kind...), "--filter", label)
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
		}
		if strings.TrimSpace(string(out)) != "" {
			t.Errorf("after down -v, docker %s still lists %s", strings.Join(kind, " "), strings.Fields(string(out)))
		}
	}
}
