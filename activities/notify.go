package activities

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/shop"
)

// The notification of an order's end: once an order is COMPLETED,
// COMPENSATED or FAILED, the customer is told, once. Like every operation
// it is one script in the order's partition, idempotent by order and
// operation, and honours the order's fault plan (--fail notify). It is no
// step of the saga: whoever runs it does so after the order ended, and a
// failure to notify changes neither the outcome nor the compensations.
//
// Its records are bounded like the orders': the order's notification
// record (K[1], which makes it idempotent) expires after the retention,
// and the partition's stream of notifications is trimmed of entries older
// than that on every write.

//go:embed lua/notify.lua
var notifyLua string

var notifyScript = redis.NewScript(layoutLua + noOutboxLua + stepLua + notifyLua)

// DefaultNotificationRetention is how long notifications are kept when no
// order retention is configured.
const DefaultNotificationRetention = 7 * 24 * time.Hour

// NotifyKey holds an order's notification record: under "notify",
// "ok|<status>" once it was sent or "fail|<reason>" when it was refused.
func (l Layout) NotifyKey(orderID string) string { return l.OrderPrefix(orderID) + "notify:" + orderID }

// NotificationsKey is partition p's stream of notifications sent.
func (l Layout) NotificationsKey(p int) string { return l.PartitionPrefix(p) + "notifications" }

// Notifier tells customers how their orders ended.
type Notifier struct {
	Store
	// Retention is how long a notification is kept
	// (DefaultNotificationRetention when zero).
	Retention time.Duration
}

// NewNotifier returns the notifier over one Redis and prefix, with the
// number of partitions recorded for the prefix.
func NewNotifier(rdb redis.UniversalClient, prefix string, retention time.Duration) *Notifier {
	return &Notifier{Store: Store{Redis: rdb, Prefix: prefix, layout: &layoutRef{}}, Retention: retention}
}

// Notifier returns the notifier over the participants' store.
func (p Participants) Notifier(retention time.Duration) *Notifier {
	return &Notifier{Store: p.Inventory.Store, Retention: retention}
}

// NotifyInput is what a notification says: the order's outcome, and the
// order's fault plan.
type NotifyInput struct {
	Outcome shop.Outcome   `json:"outcome"`
	Faults  shop.FaultPlan `json:"faults,omitempty"`
}

// Notify records the notification of a finished order once. A refusal
// (--fail notify) is a *RefusalError, an injected transient fault a
// *TransientError; the order's outcome stays what it is either way.
func (n *Notifier) Notify(ctx context.Context, in NotifyInput) (Result, error) {
	out := in.Outcome
	if !out.Status.Terminal() {
		return Result{}, fmt.Errorf("notify %s: the order is %s, not finished", out.OrderID, out.Status)
	}
	f, planned := in.Faults.For(shop.OpNotify)
	if err := delayed(ctx, shop.OpNotify, out.OrderID, f, planned); err != nil {
		return Result{}, err
	}
	l, err := n.keys(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("notify %s: %w", out.OrderID, err)
	}
	var pf fault
	if planned && f.Kind != shop.FaultDelay {
		pf = fault{kind: string(f.Kind), attempts: f.Attempts}
	}
	keep := n.Retention
	if keep <= 0 {
		keep = DefaultNotificationRetention
	}
	minID := strconv.FormatInt(time.Now().Add(-keep).UnixMilli(), 10)
	own := []any{out.OrderID, string(out.Status), string(out.FailedStep), out.Reason, keep.Milliseconds(), minID}
	argv := append([]any{2, len(own), pf.kind, pf.attempts, 0}, own...)
	keys := []string{l.NotifyKey(out.OrderID), l.NotificationsKey(l.Partition(out.OrderID))}
	v, err := notifyScript.Run(ctx, n.Redis, keys, argv...).Slice()
	if err != nil {
		return Result{}, fmt.Errorf("notify %s: %w", out.OrderID, err)
	}
	return reply(shop.OpNotify, out.OrderID, v)
}

// Notification is one notification sent to a customer.
type Notification struct {
	OrderID    string      `json:"order_id"`
	Status     shop.Status `json:"status"`
	FailedStep shop.Step   `json:"failed_step,omitempty"`
	Reason     string      `json:"reason,omitempty"`
	Time       time.Time   `json:"time"`
}

// Notifications returns the notifications of an engine still kept, newest
// first, at most limit of them (0: all), partition by partition.
func Notifications(ctx context.Context, rdb redis.UniversalClient, prefix string, limit int64) ([]Notification, error) {
	l, err := LayoutOf(ctx, rdb, prefix)
	if err != nil {
		return nil, err
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, l.Partitions)
	for p := range cmds {
		if limit > 0 {
			cmds[p] = pipe.XRevRangeN(ctx, l.NotificationsKey(p), "+", "-", limit)
		} else {
			cmds[p] = pipe.XRevRange(ctx, l.NotificationsKey(p), "+", "-")
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read notifications: %w", err)
	}
	var out []Notification
	for _, c := range cmds {
		for _, m := range c.Val() {
			out = append(out, notificationOf(m))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if limit > 0 && int64(len(out)) > limit {
		out = out[:limit]
	}
	return out, nil
}

// notificationOf reads one entry of a notifications stream.
func notificationOf(m redis.XMessage) Notification {
	s := func(k string) string { v, _ := m.Values[k].(string); return v }
	ms, _, _ := strings.Cut(m.ID, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return Notification{OrderID: s("order_id"), Status: shop.Status(s("status")), FailedStep: shop.Step(s("failed_step")),
		Reason: s("reason"), Time: time.UnixMilli(n).UTC()}
}

// NotifyStates returns, per order ID, the recorded result of its notify
// operation (Status "" when it did not run or its record expired).
func NotifyStates(ctx context.Context, rdb redis.UniversalClient, prefix string, orderIDs []string) ([]OpState, error) {
	l, err := LayoutOf(ctx, rdb, prefix)
	if err != nil {
		return nil, err
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(orderIDs))
	for i, id := range orderIDs {
		cmds[i] = pipe.HGetAll(ctx, l.NotifyKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read notification records: %w", err)
	}
	out := make([]OpState, len(orderIDs))
	for i, c := range cmds {
		out[i] = orderStateOf(c.Val()).Ops[shop.OpNotify]
	}
	return out, nil
}
