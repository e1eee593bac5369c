package telemetry

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// GroupStat is what Redis says of one consumer group on one stream.
type GroupStat struct {
	Group, Stream string
	// Pending counts entries read and not acked yet.
	Pending int64
	// Lag counts entries not read yet; negative when Redis cannot tell.
	Lag int64
}

// GroupReader lists the groups to report, read at each scrape.
type GroupReader func(ctx context.Context) ([]GroupStat, error)

// groupReadTimeout bounds one read of the groups during a scrape.
const groupReadTimeout = 2 * time.Second

// ObserveGroups reports the pending entries and the lag of the groups read
// reads, at every scrape (MetricGroupPending, MetricGroupLag). A read that
// fails reports nothing for that scrape.
func (m *Metrics) ObserveGroups(read GroupReader) error {
	if m == nil {
		return nil
	}
	pending, err := m.meter.Int64ObservableGauge("ordersaga_stream_group_pending",
		metric.WithDescription("Entries a consumer group has read and not acked yet."))
	if err != nil {
		return fmt.Errorf("pending gauge: %w", err)
	}
	lag, err := m.meter.Int64ObservableGauge("ordersaga_stream_group_lag",
		metric.WithDescription("Entries of a stream its consumer group has not read yet."))
	if err != nil {
		return fmt.Errorf("lag gauge: %w", err)
	}
	_, err = m.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, groupReadTimeout)
		defer cancel()
		stats, err := read(ctx)
		if err != nil {
			return nil // nothing to report this time; /readyz says why
		}
		for _, s := range stats {
			attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("group", s.Group), attribute.String("stream", s.Stream)))
			o.ObserveInt64(pending, s.Pending, attrs)
			if s.Lag >= 0 {
				o.ObserveInt64(lag, s.Lag, attrs)
			}
		}
		return nil
	}, pending, lag)
	if err != nil {
		return fmt.Errorf("group gauges: %w", err)
	}
	return nil
}
