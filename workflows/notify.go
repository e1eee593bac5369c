package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// notify tells the customer how the order ended, once, from versionNotify
// on: the notification is the workflow's last activity, not a step. It
// runs on a disconnected context (a cancelled order is told too) with a
// bounded retry policy (NotifyRetryPolicy). Whatever it returns, the
// outcome and the compensations stay as they are: a failure is logged and
// its activity's failure stays in the history; a refusal is recorded by
// the notifier too.
func (s *saga) notify(ctx workflow.Context) {
	if s.version < versionNotify || s.notified {
		return
	}
	s.notified = true
	var n *activities.Notifier
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	in := activities.NotifyInput{Outcome: s.progress.Outcome, Faults: s.in.Faults}
	summary := markdownText("tell the customer: " + string(s.progress.Status))
	if err := s.execute(dctx, shop.OpNotify, n.Notify, in, summary); err != nil {
		workflow.GetLogger(ctx).Warn("notification not sent; the order's outcome stands",
			"order", s.o.ID, "status", s.progress.Status, "error", err)
	}
}
