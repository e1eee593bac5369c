package web

import (
	"context"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// View is what the page needs of one engine: the saga operations every
// engine has (place, status, history) and two cheap reads for the live view.
type View interface {
	Mode() shop.Mode
	Place(ctx context.Context, o shop.Order) error
	Status(ctx context.Context, orderID string) (shop.Progress, error)
	History(ctx context.Context, orderID string) ([]shop.Event, error)
	// Overview returns the engine's order counts and its latest n orders,
	// newest first. It must not read every order ever placed.
	Overview(ctx context.Context, n int) (Overview, error)
	// Books returns the available stock per SKU and the payment ledger.
	Books(ctx context.Context) (Books, error)
}

// Notices is what the page reads of an engine that tells customers how
// their orders ended: its latest n notifications, newest first.
type Notices interface {
	Notifications(ctx context.Context, n int) ([]activities.Notification, error)
}

// Bus is what the page shows of the choreography's plumbing.
type Bus interface {
	Health(ctx context.Context) (BusHealth, error)
}

// Counts are an engine's order counts.
type Counts struct {
	Placed      int64 `json:"placed"`
	InFlight    int64 `json:"in_flight"`
	Completed   int64 `json:"completed"`
	Compensated int64 `json:"compensated"`
	Failed      int64 `json:"failed"`
	// Other counts orders that ended without an outcome of their own (a
	// terminated or timed-out workflow).
	Other int64 `json:"other,omitempty"`
	// Note says which counts are estimated and from what, when some are.
	Note string `json:"note,omitempty"`
}

// Finished is how many orders have stopped, whatever their outcome.
func (c Counts) Finished() int64 { return c.Placed - c.InFlight }

// Order is one order as an engine lists it.
type Order struct {
	ID     string      `json:"id"`
	Placed time.Time   `json:"placed"`
	Status shop.Status `json:"status"`
}

// Overview is an engine's counts and latest orders.
type Overview struct {
	Counts Counts  `json:"counts"`
	Recent []Order `json:"recent"`
}

// Money is an engine's payment ledger.
type Money struct {
	ChargedCents  int64 `json:"charged_cents"`
	RefundedCents int64 `json:"refunded_cents"`
	Charges       int64 `json:"charges"`
	Refunds       int64 `json:"refunds"`
}

// NetCents is what the engine kept: charged minus refunded.
func (m Money) NetCents() int64 { return m.ChargedCents - m.RefundedCents }

// Books are an engine's stock and money.
type Books struct {
	Stock map[string]int64 `json:"stock"`
	Money Money            `json:"money"`
}

// ServiceHealth is one choreography service's consumer group.
type ServiceHealth struct {
	Service string `json:"service"`
	// Lag is how many entries of its streams the group has not read yet;
	// LagKnown is false when Redis cannot tell (after deletions).
	Lag      int64 `json:"lag"`
	LagKnown bool  `json:"lag_known"`
	// Pending is how many entries were read but not acked yet.
	Pending int64 `json:"pending"`
	// Consumers is how many consumers the group knows; Live how many of
	// them run: their process holds their presence record (not XINFO's
	// idle time, which on Redis 7.0 grows while a consumer waits on a
	// quiet stream).
	Consumers int `json:"consumers"`
	Live      int `json:"live"`
	// Grouped is false when the group does not exist on any stream.
	Grouped bool `json:"grouped"`
}

// Consuming reports whether some consumer of the group reads now.
func (s ServiceHealth) Consuming() bool { return s.Live > 0 }

// BusHealth is the choreography's plumbing at one moment.
type BusHealth struct {
	Services    []ServiceHealth `json:"services"`
	DeadLetters int64           `json:"dead_letters"`
}
