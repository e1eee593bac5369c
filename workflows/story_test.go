package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

func TestListURL(t *testing.T) {
	got := workflows.ListURL("http://localhost:8233/", "my ns", workflows.StatusQuery(shop.StatusCompensated))
	want := "http://localhost:8233/namespaces/my%20ns/workflows?query=OrderStatus%3D%22COMPENSATED%22"
	if got != want {
		t.Errorf("ListURL = %s\nwant      %s", got, want)
	}
}

func TestFaultPlanText(t *testing.T) {
	plan, err := shop.ParseFaultPlan([]string{"notify:transient:2", "refund:decline", "shipping", "fraud", "payment:transient:2"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := workflows.FaultPlanText(plan), "fraud:decline payment:transient:2 shipping:decline refund:decline notify:transient:2"; got != want {
		t.Errorf("FaultPlanText = %q, want %q", got, want)
	}
	if got := workflows.FaultPlanText(nil); got != "none" {
		t.Errorf("FaultPlanText(nil) = %q, want none", got)
	}
}

// TestStory checks, on a real dev server, what the Temporal UI shows of an
// order: its search attributes (and a list filtered on them, from the SDK
// and from the CLI), the static summary and details, each activity's
// summary, and the step in progress as the current details.
func TestStory(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	o := s.order(t, "story-declined", "payment")
	if out := s.run(t, o); out.Status != shop.StatusCompensated {
		t.Fatalf("outcome = %+v, want COMPENSATED", out)
	}

	d := s.describe(t, o.ID)
	if d.orderStatus != "COMPENSATED" || d.failedStep != "payment" {
		t.Errorf("search attributes OrderStatus %q, OrderFailedStep %q; want COMPENSATED, payment", d.orderStatus, d.failedStep)
	}
	if want := "order story-declined: mug:3, total 37.50, faults: payment:decline"; d.summary != want {
		t.Errorf("static summary = %q, want %q", d.summary, want)
	}
	for _, want := range []string{"**Order** story-declined for grace", "| mug (Saga mug) | 3 | 12.50 | 37.50 |", "**Total**: 37.50", "**Fault plan**: payment:decline"} {
		if !strings.Contains(d.details, want) {
			t.Errorf("static details lack %q:\n%s", want, d.details)
		}
	}

	var scheduled []string
	for _, e := range s.history(t, o.ID) {
		if e.Name == "ActivityTaskScheduled" {
			scheduled = append(scheduled, e.Detail)
		}
	}
	if want := []string{"Reserve: reserve mug:3", "Check: check order story-declined for fraud: 37.50 by grace", "Charge: charge 37.50",
		"Release: release mug:3 after PaymentDeclined", "Notify: tell the customer: COMPENSATED"}; !slices.Equal(scheduled, want) {
		t.Errorf("activity summaries = %q, want %q", scheduled, want)
	}

	query := workflows.StatusQuery(shop.StatusCompensated) + ` AND OrderFailedStep="payment"`
	waitListed(t, s.client, query, shop.WorkflowID(o.ID))
	bin, err := testenv.TemporalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, bin, "workflow", "list", "--address", s.server.Address,
		"--namespace", s.server.Namespace, "--query", workflows.StatusQuery(shop.StatusCompensated)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), shop.WorkflowID(o.ID)) {
		t.Errorf("temporal workflow list --query %s: %v, want %s listed:\n%s", workflows.StatusQuery(shop.StatusCompensated), err, shop.WorkflowID(o.ID), out)
	}

	slow := s.order(t, "story-slow", "payment:delay:2s")
	if err := s.engine.Place(ctx, slow); err != nil {
		t.Fatal(err)
	}
	teststack.WaitRunning(t, s.engine, slow.ID, shop.OpCharge)
	v, err := s.client.QueryWorkflow(ctx, shop.WorkflowID(slow.ID), "", "__temporal_workflow_metadata")
	if err != nil {
		t.Fatalf("query the workflow's metadata: %v", err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatal(err)
	}
	if cur := md.GetCurrentDetails(); !strings.Contains(cur, "step 3 of 4") || !strings.Contains(cur, "charge 37.50") {
		t.Errorf("current details while charging = %q, want the step and what it does", cur)
	}
	if d := s.describe(t, slow.ID); d.orderStatus != "PENDING" {
		t.Errorf("OrderStatus while charging = %q, want PENDING", d.orderStatus)
	}
	s.wait(t, slow.ID)
}

// waitListed waits until a visibility query lists the workflow.
func waitListed(t *testing.T, c client.Client, query, workflowID string) {
	t.Helper()
	teststack.Eventually(t, 15*time.Second, 100*time.Millisecond, func() error {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("list %s: %v", query, err)
		}
		for _, ex := range resp.GetExecutions() {
			if ex.GetExecution().GetWorkflowId() == workflowID {
				return nil
			}
		}
		return fmt.Errorf("%s is not listed by %s", workflowID, query)
	})
}

// TestPlaceSurvivesLostReply: the server starts the workflow but its reply
// is lost and the client's own retries do not cover it (the call ends
// DeadlineExceeded). Place tries again and recognises its own placement by
// its token; a second Place of the same order, or another client's, is
// refused with ErrDuplicateOrder.
func TestPlaceSurvivesLostReply(t *testing.T) {
	s := startStack(t)
	var starts atomic.Int32
	loseFirstReply := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if strings.HasSuffix(method, "/StartWorkflowExecution") && starts.Add(1) == 1 && err == nil {
			return status.Error(codes.DeadlineExceeded, "reply lost")
		}
		return err
	}
	c, err := client.Dial(client.Options{HostPort: s.server.Address, Namespace: s.server.Namespace, Logger: quietLogger(),
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(loseFirstReply)}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := workflows.NewEngine(c, s.catalog)
	ctx := context.Background()
	o := s.order(t, "lost-reply")

	if err := e.Place(ctx, o); err != nil {
		t.Fatalf("place, its first reply lost: %v", err)
	}
	if starts.Load() != 2 {
		t.Fatalf("the start was sent %d times, want once more after the lost reply", starts.Load())
	}
	if out := s.wait(t, o.ID); out.Status != shop.StatusCompleted {
		t.Errorf("outcome = %+v, want COMPLETED", out)
	}
	if err := e.Place(ctx, o); !errors.Is(err, shop.ErrDuplicateOrder) {
		t.Errorf("placing it again: err = %v, want %v", err, shop.ErrDuplicateOrder)
	}
	if err := s.engine.Place(ctx, o); !errors.Is(err, shop.ErrDuplicateOrder) {
		t.Errorf("placing it from another client: err = %v, want %v", err, shop.ErrDuplicateOrder)
	}
}
