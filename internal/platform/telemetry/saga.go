package telemetry

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ordersaga/ordersaga/shop"
)

// Engine label values.
const (
	EngineOrchestration = string(shop.ModeOrchestration)
	EngineChoreography  = string(shop.ModeChoreography)
)

// The names under which a saga's end is recorded, before the exporter's
// suffixes (MetricSagas, MetricSagaDuration, MetricCompensations). The
// orchestration records them through the Temporal SDK's metrics handler on
// the same meter (a counter and a histogram in seconds of the same names),
// so both engines' sagas are one series each.
const (
	SagasName         = "ordersaga_sagas"
	SagaDurationName  = "ordersaga_saga_duration"
	CompensationsName = "ordersaga_compensations"
	// CompensationsRetryingName counts the compensations that kept
	// retrying past the alert threshold (tagged engine and op).
	CompensationsRetryingName = "ordersaga_compensations_retrying"
)

// RecordSaga records a saga that reached a terminal state: one SagasName,
// its SagaDurationName from placement to the end, and one CompensationsName
// per compensated step.
func (m *Metrics) RecordSaga(engine string, out shop.Outcome, took time.Duration) {
	if m == nil {
		return
	}
	ctx := context.Background()
	sagas, err1 := m.meter.Int64Counter(SagasName)
	duration, err2 := m.meter.Float64Histogram(SagaDurationName, metric.WithUnit("s"))
	comps, err3 := m.meter.Int64Counter(CompensationsName)
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	tags := metric.WithAttributes(attribute.String("engine", engine), attribute.String("outcome", string(out.Status)))
	sagas.Add(ctx, 1, tags)
	duration.Record(ctx, took.Seconds(), tags)
	for _, st := range out.Compensated {
		comps.Add(ctx, 1, metric.WithAttributes(attribute.String("engine", engine), attribute.String("step", string(st))))
	}
}

// CompensatingReader counts, per compensation, the orders COMPENSATING
// now, read at each scrape.
type CompensatingReader func(ctx context.Context) (map[shop.Op]int, error)

// ObserveCompensating reports the counts read returns at every scrape as
// MetricOrdersCompensating of engine, one series per op. A read that
// fails reports nothing for that scrape.
func (m *Metrics) ObserveCompensating(engine string, read CompensatingReader) error {
	if m == nil {
		return nil
	}
	gauge, err := m.meter.Int64ObservableGauge("ordersaga_orders_compensating",
		metric.WithDescription("Orders COMPENSATING now: their compensation has been retrying past the alert threshold."))
	if err != nil {
		return fmt.Errorf("compensating gauge: %w", err)
	}
	_, err = m.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, groupReadTimeout)
		defer cancel()
		counts, err := read(ctx)
		if err != nil {
			return nil // nothing to report this time
		}
		for op, n := range counts {
			o.ObserveInt64(gauge, int64(n), metric.WithAttributeSet(attribute.NewSet(
				attribute.String("engine", engine), attribute.String("op", string(op)))))
		}
		return nil
	}, gauge)
	if err != nil {
		return fmt.Errorf("compensating gauge: %w", err)
	}
	return nil
}
