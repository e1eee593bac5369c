package telemetry

import (
	"time"

	"go.temporal.io/sdk/client"

	"github.com/ordersaga/ordersaga/shop"
)

// Engine label values.
const (
	EngineOrchestration = string(shop.ModeOrchestration)
	EngineChoreography  = string(shop.ModeChoreography)
)

// RecordSaga records a saga that reached a terminal state on h, which is
// the Temporal SDK's metrics handler (Metrics.Temporal, or inside a
// workflow workflow.GetMetricsHandler, which records nothing on replay):
// MetricSagas, MetricSagaDuration from placement to the end, and one
// MetricCompensations per compensated step. Both engines record through
// it, so their series are one metric each. A nil h records nothing.
func RecordSaga(h client.MetricsHandler, engine string, out shop.Outcome, took time.Duration) {
	if h == nil {
		return
	}
	tagged := h.WithTags(map[string]string{"engine": engine, "outcome": string(out.Status)})
	tagged.Counter("ordersaga_sagas").Inc(1)
	tagged.Timer("ordersaga_saga_duration").Record(took)
	for _, st := range out.Compensated {
		h.WithTags(map[string]string{"engine": engine, "step": string(st)}).Counter("ordersaga_compensations").Inc(1)
	}
}
