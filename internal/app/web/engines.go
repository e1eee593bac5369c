package web

// The adapters from the page's small interfaces (View, Bus) to the real
// engines. This is the one file that knows the engines' packages.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"golang.org/x/sync/errgroup"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// Bounds on what one refresh reads.
const (
	// chorWindow is how many of the latest choreography orders have their
	// status read to count statuses; older ones are counted only once
	// settled (from the settled totals).
	chorWindow = 1000
	// orchWindow is how many of the latest workflows have their outcome
	// read to tell COMPLETED from COMPENSATED when the workflows carry no
	// OrderStatus search attribute. Outcomes are cached: a closed workflow
	// is read once. Listing costs the dev server about a quarter of a
	// millisecond per workflow, so the window stays small.
	orchWindow = 100
)

// Connect returns the page's view of both engines and of the
// choreography's streams over one Redis and one Temporal client. Like every
// command, it lays out the engines' state (see admin.Setup) where that was
// not done yet, so the first order from the page finds it.
func Connect(ctx context.Context, rdb redis.UniversalClient, tc client.Client, catalog shop.Catalog, log *slog.Logger) ([]View, Bus, error) {
	setup := admin.Setup{Catalog: catalog, Log: log}
	if _, err := setup.Prepare(ctx, rdb, shop.ModeOrchestration); err != nil {
		return nil, nil, err
	}
	node, err := setup.Prepare(ctx, rdb, shop.ModeChoreography)
	if err != nil {
		return nil, nil, err
	}
	engines, bus := views(rdb, tc, catalog, workflows.NewEngine(tc, catalog), choreography.NewEngine(node, catalog))
	return engines, bus, nil
}

// views returns the page's view of both engines and of the choreography's
// streams, over engines already laid out.
func views(rdb redis.UniversalClient, tc client.Client, catalog shop.Catalog, orch *workflows.Engine, chor *choreography.Engine) ([]View, Bus) {
	return []View{
		newOrchestrationView(orch.WithRedis(rdb), tc, rdb, catalog),
		&choreographyView{Engine: chor, rdb: rdb, catalog: catalog, window: chorWindow},
	}, &busView{bus: chor.Bus()}
}

// books reads an engine's stock and ledger.
func books(ctx context.Context, rdb redis.UniversalClient, prefix string, catalog shop.Catalog) (Books, error) {
	stock, err := activities.Stock(ctx, rdb, prefix, catalog)
	if err != nil {
		return Books{}, err
	}
	l, err := activities.ReadLedger(ctx, rdb, prefix)
	if err != nil {
		return Books{}, err
	}
	return Books{Stock: stock, Money: Money{ChargedCents: l.ChargedCents, RefundedCents: l.RefundedCents, Charges: l.Charges, Refunds: l.Refunds}}, nil
}

// temporalAPI is what the orchestration view asks the Temporal frontend.
type temporalAPI interface {
	CountWorkflow(ctx context.Context, req *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error)
	ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
}

// orchestrationView counts orders with Temporal's visibility: one count
// grouped by execution status gives placed, in flight and failed; a
// compensated order is a completed workflow, so COMPLETED and COMPENSATED
// come from the OrderStatus search attribute where every workflow has it,
// and otherwise from the outcomes of the latest orchWindow workflows.
type orchestrationView struct {
	shop.Engine
	api     temporalAPI
	rdb     redis.UniversalClient
	catalog shop.Catalog
	window  int

	mu sync.Mutex
	// outcomes caches the status of closed workflows by workflow ID; it
	// keeps only the workflows of the last listing.
	outcomes map[string]shop.Status
}

func newOrchestrationView(e shop.Engine, api temporalAPI, rdb redis.UniversalClient, catalog shop.Catalog) *orchestrationView {
	return &orchestrationView{Engine: e, api: api, rdb: rdb, catalog: catalog, window: orchWindow, outcomes: map[string]shop.Status{}}
}

// Books reads the orchestration participants' stock and ledger.
func (o *orchestrationView) Books(ctx context.Context) (Books, error) {
	return books(ctx, o.rdb, activities.OrchestrationPrefix, o.catalog)
}

// Notifications lists the latest n notifications of the orchestration.
func (o *orchestrationView) Notifications(ctx context.Context, n int) ([]activities.Notification, error) {
	return activities.Notifications(ctx, o.rdb, activities.OrchestrationPrefix, int64(n))
}

// Overview counts the workflows started since the engine was last reset
// and lists the latest n.
func (o *orchestrationView) Overview(ctx context.Context, n int) (Overview, error) {
	query := "WorkflowType = 'OrderSaga'"
	epoch, err := activities.Epoch(ctx, o.rdb, activities.OrchestrationPrefix)
	if err != nil {
		return Overview{}, err
	}
	if !epoch.IsZero() {
		query += fmt.Sprintf(" AND StartTime >= '%s'", epoch.UTC().Format(time.RFC3339Nano))
	}
	counts, closedOK, err := o.count(ctx, query)
	if err != nil {
		return Overview{}, err
	}
	exact := o.splitByAttribute(ctx, query, &counts, closedOK)
	size := n
	if !exact {
		size = max(n, o.window)
	}
	listed, err := o.list(ctx, query, size)
	if err != nil {
		return Overview{}, err
	}
	if !exact {
		splitByWindow(&counts, listed, closedOK)
	}
	return Overview{Counts: counts, Recent: listed[:min(n, len(listed))]}, nil
}

// count counts the workflows by execution status. closedOK is how many
// completed (as COMPLETED or COMPENSATED, not yet told apart).
func (o *orchestrationView) count(ctx context.Context, query string) (Counts, int64, error) {
	resp, err := o.api.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query + " GROUP BY ExecutionStatus"})
	if err != nil {
		return Counts{}, 0, fmt.Errorf("count order workflows: %w", err)
	}
	c := Counts{Placed: resp.GetCount()}
	var closedOK int64
	dc := converter.GetDefaultDataConverter()
	for _, g := range resp.GetGroups() {
		var status string
		if vals := g.GetGroupValues(); len(vals) == 1 {
			if err := dc.FromPayload(vals[0], &status); err != nil {
				return Counts{}, 0, fmt.Errorf("count order workflows: read group: %w", err)
			}
		}
		switch status {
		case "Running":
			c.InFlight += g.GetCount()
		case "Completed":
			closedOK += g.GetCount()
		case "Failed":
			c.Failed += g.GetCount()
		default:
			c.Other += g.GetCount()
		}
	}
	return c, closedOK, nil
}

// splitByAttribute counts COMPLETED and COMPENSATED by the OrderStatus
// search attribute. It reports false, changing nothing, when the attribute
// is not registered or some completed workflow does not carry it.
func (o *orchestrationView) splitByAttribute(ctx context.Context, query string, c *Counts, closedOK int64) bool {
	n := map[shop.Status]int64{}
	for _, st := range []shop.Status{shop.StatusCompleted, shop.StatusCompensated} {
		q := fmt.Sprintf("%s AND ExecutionStatus = 'Completed' AND %s = '%s'", query, workflows.SearchAttrOrderStatus, st)
		resp, err := o.api.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q})
		if err != nil {
			return false
		}
		n[st] = resp.GetCount()
	}
	if n[shop.StatusCompleted]+n[shop.StatusCompensated] != closedOK {
		return false
	}
	c.Completed, c.Compensated = n[shop.StatusCompleted], n[shop.StatusCompensated]
	return true
}

// splitByWindow tells COMPLETED from COMPENSATED among the listed
// workflows; when they are not all the completed ones, it says so.
func splitByWindow(c *Counts, listed []Order, closedOK int64) {
	var seen int64
	for _, o := range listed {
		switch o.Status {
		case shop.StatusCompleted:
			c.Completed++
			seen++
		case shop.StatusCompensated:
			c.Compensated++
			seen++
		}
	}
	if seen < closedOK {
		c.Note = fmt.Sprintf("Completed and compensated: of the latest %s orders; %s completed one way or the other in all.",
			num(int64(len(listed))), num(closedOK))
	}
}

// list returns the latest n workflows (Temporal lists running ones first,
// then the most recently closed), newest first, with each order's status.
func (o *orchestrationView) list(ctx context.Context, query string, n int) ([]Order, error) {
	resp, err := o.api.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: int32(n)})
	if err != nil {
		return nil, fmt.Errorf("list order workflows: %w", err)
	}
	execs := resp.GetExecutions()
	if len(execs) > n {
		execs = execs[:n]
	}
	out := make([]Order, len(execs))
	var unresolved []int
	o.mu.Lock()
	cache := make(map[string]shop.Status, len(execs))
	for i, ex := range execs {
		wid := ex.GetExecution().GetWorkflowId()
		out[i] = Order{ID: strings.TrimPrefix(wid, shop.WorkflowID("")), Placed: ex.GetStartTime().AsTime()}
		switch st := ex.GetStatus(); st {
		case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
			out[i].Status = shop.StatusPending
			if s := attrStatus(ex.GetSearchAttributes().GetIndexedFields()[workflows.SearchAttrOrderStatus]); s == shop.StatusCompensating {
				out[i].Status = s // a compensation retrying past the alert threshold
			}
		case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, enums.WORKFLOW_EXECUTION_STATUS_FAILED:
			if s := attrStatus(ex.GetSearchAttributes().GetIndexedFields()[workflows.SearchAttrOrderStatus]); s.Terminal() {
				out[i].Status = s
			} else if s, ok := o.outcomes[wid]; ok {
				out[i].Status = s
			} else {
				unresolved = append(unresolved, i)
			}
		default:
			out[i].Status = shop.Status("ENDED_" + strings.ToUpper(st.String()))
		}
		if out[i].Status.Terminal() {
			cache[wid] = out[i].Status
		}
	}
	o.mu.Unlock()
	// A workflow whose outcome cannot be read shows as ended without one,
	// and is asked again at the next refresh.
	_ = doEach(len(unresolved), 8, func(j int) error {
		i := unresolved[j]
		out[i].Status = shop.Status("ENDED_" + strings.ToUpper(execs[i].GetStatus().String()))
		if res, err := o.Wait(ctx, out[i].ID); err == nil {
			out[i].Status = res.Status
		}
		return nil
	})
	o.mu.Lock()
	for _, i := range unresolved {
		if out[i].Status.Terminal() {
			cache[shop.WorkflowID(out[i].ID)] = out[i].Status
		}
	}
	o.outcomes = cache
	o.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Order) int { return b.Placed.Compare(a.Placed) })
	return out, nil
}

// attrStatus reads the OrderStatus search attribute ("" when absent).
func attrStatus(p *commonpb.Payload) shop.Status {
	if p == nil || len(p.GetData()) == 0 {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return shop.Status(s)
}

// choreographyView counts orders with the orders index (a sorted set by
// placement time) and the settled totals; statuses are read for the latest
// chorWindow orders only.
type choreographyView struct {
	*choreography.Engine
	rdb     redis.UniversalClient
	catalog shop.Catalog
	window  int
}

// Books reads the choreography participants' stock and ledger.
func (c *choreographyView) Books(ctx context.Context) (Books, error) {
	return books(ctx, c.rdb, c.Prefix(), c.catalog)
}

// Notifications lists the latest n notifications of the choreography.
func (c *choreographyView) Notifications(ctx context.Context, n int) ([]activities.Notification, error) {
	return activities.Notifications(ctx, c.rdb, c.Prefix(), int64(n))
}

// Overview counts the orders and lists the latest n.
func (c *choreographyView) Overview(ctx context.Context, n int) (Overview, error) {
	recent, live, err := c.Recent(ctx, int64(max(n, c.window)))
	if err != nil {
		return Overview{}, err
	}
	settled, err := c.Settled(ctx)
	if err != nil {
		return Overview{}, err
	}
	counts := Counts{Placed: live + int64(settled.Count())}
	tally := func(st shop.Status, k int64) {
		switch st {
		case shop.StatusCompleted:
			counts.Completed += k
		case shop.StatusCompensated:
			counts.Compensated += k
		case shop.StatusFailed:
			counts.Failed += k
		case shop.StatusPending, shop.StatusCompensating:
			counts.InFlight += k
		default:
			counts.Other += k
		}
	}
	for st, k := range settled.Statuses {
		tally(st, int64(k))
	}
	rows := make([]Order, len(recent))
	for i, o := range recent {
		tally(o.Status, 1)
		rows[i] = Order{ID: o.ID, Placed: o.Placed, Status: o.Status}
	}
	if int64(len(recent)) < live {
		counts.Note = fmt.Sprintf("Statuses: of the latest %s of the %s orders still recorded", num(int64(len(recent))), num(live))
		if k := settled.Count(); k > 0 {
			counts.Note += fmt.Sprintf(", plus %s settled", num(int64(k)))
		}
		counts.Note += "."
	}
	return Overview{Counts: counts, Recent: rows[:min(n, len(rows))]}, nil
}

// busView reads the choreography's consumer groups and dead letters.
type busView struct{ bus *choreography.Bus }

// consumersRead is one group's consumers on one stream.
type consumersRead struct {
	stream string
	group  redis.XInfoGroup
	cmd    *redis.XInfoConsumersCmd
}

// Health reads every stream's groups, their consumers and whether each
// consumer's process runs (its presence record, see stream.Live), over
// every partition: four round trips.
func (b *busView) Health(ctx context.Context) (BusHealth, error) {
	rdb := b.bus.Redis
	dl, err := b.bus.DeadLetterCount(ctx)
	if err != nil {
		return BusHealth{}, err
	}
	var svcs, streams []string
	for _, svc := range choreography.Services {
		for _, s := range b.bus.StreamsOf(svc) {
			svcs, streams = append(svcs, svc), append(streams, s)
		}
	}
	pipe := rdb.Pipeline()
	groups := make([]*redis.XInfoGroupsCmd, len(streams))
	for i, s := range streams {
		groups[i] = pipe.XInfoGroups(ctx, s)
	}
	_, _ = pipe.Exec(ctx)
	var reads []consumersRead
	pipe = rdb.Pipeline()
	for i, svc := range svcs {
		gs, err := groups[i].Result()
		if err != nil {
			if isNoSuchKey(err) {
				continue
			}
			return BusHealth{}, fmt.Errorf("groups of the %s stream: %w", svc, err)
		}
		for _, g := range gs {
			reads = append(reads, consumersRead{streams[i], g, pipe.XInfoConsumers(ctx, streams[i], g.Name)})
		}
	}
	if len(reads) > 0 {
		_, _ = pipe.Exec(ctx)
	}
	live, err := presence(ctx, rdb, reads)
	if err != nil {
		return BusHealth{}, err
	}
	return healthOf(reads, dl, func(r consumersRead) (string, redis.XInfoGroup, []redis.XInfoConsumer, error) {
		cs, err := r.cmd.Result()
		return r.stream, r.group, cs, err
	}, live)
}

// presence reads whether each consumer read holds its presence record, by
// stream, group and consumer name.
func presence(ctx context.Context, rdb redis.UniversalClient, reads []consumersRead) (map[stream.Ref]bool, error) {
	var refs []stream.Ref
	for _, r := range reads {
		for _, c := range r.cmd.Val() {
			refs = append(refs, stream.Ref{Stream: r.stream, Group: r.group.Name, Name: c.Name})
		}
	}
	live, err := stream.Live(ctx, rdb, refs)
	if err != nil {
		return nil, err
	}
	out := make(map[stream.Ref]bool, len(refs))
	for i, r := range refs {
		out[r] = live[i]
	}
	return out, nil
}

// healthOf sums each service's group over the streams it reads: lag and
// pending add up; a consumer reading several streams counts once, as live
// when its process holds its presence record on any of them (live, by
// stream, group and consumer name).
func healthOf[R any](reads []R, deadLetters int64, get func(R) (string, redis.XInfoGroup, []redis.XInfoConsumer, error), live map[stream.Ref]bool) (BusHealth, error) {
	h := BusHealth{DeadLetters: deadLetters}
	byName := map[string]*ServiceHealth{}
	running := map[string]map[string]bool{} // service -> consumer -> live
	for _, svc := range choreography.Services {
		h.Services = append(h.Services, ServiceHealth{Service: svc, LagKnown: true})
	}
	for i := range h.Services {
		byName[h.Services[i].Service] = &h.Services[i]
		running[h.Services[i].Service] = map[string]bool{}
	}
	for _, r := range reads {
		st, g, cs, err := get(r)
		if err != nil && !isNoSuchKey(err) {
			return BusHealth{}, fmt.Errorf("consumers of group %s: %w", g.Name, err)
		}
		s, ok := byName[g.Name]
		if !ok {
			continue // a group of no service of ours
		}
		s.Grouped = true
		s.Pending += g.Pending
		if g.Lag < 0 {
			s.LagKnown = false
		} else {
			s.Lag += g.Lag
		}
		for _, c := range cs {
			running[g.Name][c.Name] = running[g.Name][c.Name] || live[stream.Ref{Stream: st, Group: g.Name, Name: c.Name}]
		}
	}
	for i := range h.Services {
		s := &h.Services[i]
		s.Consumers = len(running[s.Service])
		for _, up := range running[s.Service] {
			if up {
				s.Live++
			}
		}
	}
	return h, nil
}

func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

// doEach runs f for 0..n-1 with at most limit at once, and returns the first error.
func doEach(n, limit int, f func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(limit)
	for i := range n {
		g.Go(func() error { return f(i) })
	}
	return g.Wait()
}
