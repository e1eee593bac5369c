package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
)

// quietFor is longer than any window a consumer's liveness was ever read
// over (the page's 5 s, the diagnosis's 3 s, the presence TTL's 5 s).
const quietFor = 20 * time.Second

// serviceChildEnv, when set ("redis ADDR" or "cluster ADDR,ADDR,..."), makes
// the test binary run the shipping service until it is killed.
const serviceChildEnv = "ORDERSAGA_WEB_SERVICE_CHILD"

// TestQuietServicesStayLive: after an order and quietFor without any, the
// page's live update (JSON) shows every service consuming, with its one
// consumer live; a service stopped cleanly shows not live at the next
// refresh, one whose process was killed within the presence TTL (5 s). On
// one Redis and on a Redis Cluster.
func TestQuietServicesStayLive(t *testing.T) {
	if spec := os.Getenv(serviceChildEnv); spec != "" {
		serviceChild(spec)
		return
	}
	if testing.Short() {
		t.Skip("waits 20s for the stack to be quiet")
	}
	t.Run("one Redis", func(t *testing.T) {
		t.Parallel()
		srv := testenv.StartRedis(t)
		quietStack(t, srv.Client(), "redis "+srv.Addr)
	})
	t.Run("Redis Cluster", func(t *testing.T) {
		t.Parallel()
		c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3})
		quietStack(t, c.Client(), "cluster "+strings.Join(c.Addrs(), ","))
	})
}

func quietStack(t *testing.T, rdb redis.UniversalClient, spec string) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	catalog := shop.DefaultCatalog()
	node := choreography.NewNode(rdb, catalog, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := node.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := activities.Seed(ctx, rdb, activities.ChoreographyPrefix, catalog); err != nil {
		t.Fatal(err)
	}
	stops, child := startQuietServices(t, ctx, node, spec)
	eng := choreography.NewEngine(node, catalog)
	o := shop.Order{ID: "quiet-1", Customer: "t", Items: []shop.Item{{SKU: "book", Quantity: 1}}}
	if err := eng.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if out, err := eng.Wait(wctx, o.ID); err != nil || out.Status != shop.StatusCompleted {
		t.Fatalf("order: %+v, %v", out, err)
	}
	t.Logf("order completed; quiet for %s", quietFor)
	time.Sleep(quietFor)

	r := listenToPage(t, ctx, Options{Engines: []View{&choreographyView{Engine: eng, rdb: rdb, catalog: catalog, window: 100}},
		Bus: &busView{bus: node.Bus}, Catalog: catalog, Interval: 250 * time.Millisecond})
	rows := serviceRows(t, r)
	for _, svc := range choreography.Services {
		if rows[svc] != "yes 1 of 1" {
			t.Errorf("after %s quiet, %s shows %q, want consuming with 1 of 1 live", quietFor, svc, rows[svc])
		}
	}

	stops[choreography.ServicePayment]()
	stopped := time.Now()
	waitRow(t, r, choreography.ServicePayment, "no 0 of 1", time.Second)
	t.Logf("payment stopped: not live on the page %s later", time.Since(stopped).Round(time.Millisecond))

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitRow(t, r, choreography.ServiceShipping, "no 0 of 1", choreography.ConsumerConfig{}.WithDefaults().PresenceTTL+time.Second)
	t.Logf("shipping killed: not live on the page %s later", time.Since(killed).Round(time.Millisecond))
}

// startQuietServices runs the order, inventory, fraud, payment and notify
// services in this process (stops[svc] stops one and waits for it) and the shipping
// service in a child process.
func startQuietServices(t *testing.T, ctx context.Context, node *choreography.Node, spec string) (map[string]func(), *exec.Cmd) {
	var wg sync.WaitGroup
	stops := map[string]func(){}
	for _, svc := range []string{choreography.ServiceOrder, choreography.ServiceInventory, choreography.ServiceFraud,
		choreography.ServicePayment, choreography.ServiceNotify} {
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		stops[svc] = func() { stop(); <-done }
		wg.Go(func() {
			defer close(done)
			if err := node.RunService(sctx, svc, choreography.ConsumerConfig{Name: svc + "-1"}); err != nil {
				t.Errorf("%s: %v", svc, err)
			}
		})
	}
	t.Cleanup(func() {
		for _, stop := range stops {
			stop()
		}
		wg.Wait()
	})
	child := exec.Command(os.Args[0], "-test.run=^TestQuietServicesStayLive$")
	child.Env = append(child.Environ(), serviceChildEnv+"="+spec)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	return stops, child
}

// listenToPage serves a page with opts and listens to its live updates.
func listenToPage(t *testing.T, ctx context.Context, opts Options) *bufio.Reader {
	page, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	go page.Run(ctx)
	hs := httptest.NewServer(page.Handler())
	t.Cleanup(hs.Close)
	r, stop := listen(t, &fixture{http: hs})
	t.Cleanup(stop)
	return r
}

// serviceRow reads one service row of the services section: its
// "consuming" badge, then "L of N" live consumers.
var serviceRow = regexp.MustCompile(`<tr data-service="(\w+)"><td>\w+</td>\s*<td><span class="badge [\w-]+">([\w ]+)</span></td>\s*<td class="n">(\d+ of \d+)</td>`)

// serviceRows reads the next live update's services section, by service.
func serviceRows(t *testing.T, r *bufio.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range serviceRow.FindAllStringSubmatch(event(t, r)["services"], -1) {
		out[m[1]] = m[2] + " " + m[3]
	}
	return out
}

// waitRow waits until a live update shows want for svc, for at most within.
func waitRow(t *testing.T, r *bufio.Reader, svc, want string, within time.Duration) {
	t.Helper()
	// Each read blocks until the next live update: the pause is poll's least.
	teststack.Eventually(t, within, 0, func() error {
		if got := serviceRows(t, r)[svc]; got != want {
			return fmt.Errorf("%s still shows %q %s later, want %q", svc, got, within, want)
		}
		return nil
	})
}

// serviceChild runs the shipping service against the Redis spec names
// until the process is killed.
func serviceChild(spec string) {
	kind, addrs, _ := strings.Cut(spec, " ")
	var rdb redis.UniversalClient = redis.NewClient(&redis.Options{Addr: addrs})
	if kind == "cluster" {
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	}
	node := choreography.NewNode(rdb, shop.DefaultCatalog(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = node.RunService(ctx, choreography.ServiceShipping, choreography.ConsumerConfig{Name: "shipping-1"})
	os.Exit(0)
}
