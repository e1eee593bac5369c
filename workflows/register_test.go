package workflows_test

import (
	"reflect"
	"slices"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// registry records what a worker registers.
type registry struct {
	worker.Registry
	workflows  []string
	activities []string
}

func (r *registry) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r.workflows = append(r.workflows, o.Name)
}

func (r *registry) RegisterActivity(a any) {
	r.activities = append(r.activities, reflect.TypeOf(a).Elem().Name())
}

// The production worker runs OrderSaga, the four participants and the
// notifier, and nothing else: the bench's bare workload has a worker of its
// own.
func TestWorkerRegistersOnlyTheSaga(t *testing.T) {
	var r registry
	workflows.Register(&r, activities.New(nil, activities.OrchestrationPrefix, shop.DefaultCatalog()), workflows.Config{})
	if !slices.Equal(r.workflows, []string{workflows.WorkflowType}) {
		t.Errorf("workflows registered: %v, want only %s", r.workflows, workflows.WorkflowType)
	}
	if !slices.Equal(r.activities, []string{"Inventory", "Fraud", "Payment", "Shipping", "Notifier"}) {
		t.Errorf("activities registered: %v, want the four participants and the notifier", r.activities)
	}
}
