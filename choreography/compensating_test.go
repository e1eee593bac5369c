package choreography_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// TestCompensating counts the orders whose compensation waits past the
// threshold where they wait: a refund pending in the payment group (read,
// not acked), a release and a repair's release not read yet by the
// inventory group; a charge pending as long and an event that sets off
// no compensation are not counted. On a
// Redis that loads the project's ACL file the order service's own user
// reads them; on a cluster the reads span the masters.
func TestCompensating(t *testing.T) {
	t.Run("order user", func(t *testing.T) {
		srv := testenv.StartRedisACL(t, "app-compensating-pw", "admin-compensating-pw")
		testCompensating(t, srv.AdminClient(), srv.ClientAs(testenv.RedisOrderUser))
	})
	t.Run("cluster", func(t *testing.T) {
		rdb := clusterClient(t)
		testCompensating(t, rdb, rdb)
	})
}

func testCompensating(t *testing.T, admin, orderUser redis.UniversalClient) {
	ctx := context.Background()
	cat := shop.DefaultCatalog()
	bus := choreography.NewNode(admin, cat, nil).Bus
	if err := bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute)
	ship, pay, inv := choreography.ServiceShipping, choreography.ServicePayment, choreography.ServiceInventory
	for i, f := range []struct {
		t      choreography.EventType
		source string
		id     string
		readBy string // the group that reads it and leaves it pending, if any
		detail string // a repair's compensation
	}{
		{t: choreography.ShipmentFailed, source: ship, id: "c-refund", readBy: pay},
		{t: choreography.PaymentDeclined, source: pay, id: "c-release"},
		{t: choreography.RepairRequested, source: pay, id: "c-repair", detail: string(shop.OpRelease)},
		{t: choreography.InventoryReserved, source: inv, id: "c-charge", readBy: pay},
		{t: choreography.ShipmentScheduled, source: ship, id: "c-shipped"},
	} {
		s := choreography.Saga{Order: order(f.id, nil), Detail: f.detail}
		ev, err := choreography.NewEvent(f.t, f.source, nil, s, at.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := ev.Encode()
		stream := bus.StreamFor(f.id, f.source)
		id := fmt.Sprintf("%d-0", at.UnixMilli()+int64(i))
		if err := admin.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: id, Values: []any{"type", string(f.t), "event", string(b)}}).Err(); err != nil {
			t.Fatal(err)
		}
		if f.readBy != "" {
			err := admin.XReadGroup(ctx, &redis.XReadGroupArgs{Group: f.readBy, Consumer: "gone", Streams: []string{stream, ">"}, Count: 10}).Err()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	node := choreography.NewNode(orderUser, cat, nil)
	for _, c := range []struct {
		after time.Duration
		want  map[shop.Op]int
	}{
		{30 * time.Second, map[shop.Op]int{shop.OpRefund: 1, shop.OpRelease: 2}},
		{2 * time.Minute, map[shop.Op]int{shop.OpRefund: 0, shop.OpRelease: 0}},
	} {
		got, err := node.Compensating(ctx, c.after)
		if err != nil || !maps.Equal(got, c.want) {
			t.Errorf("orders compensating for %v: %v %v, want %v", c.after, got, err, c.want)
		}
	}
}

// TestAlertAfterRecorded: the alert threshold the order service's user
// records is the one the starter's and the page's users read, the default
// minute while none is recorded; a threshold that is not one is refused,
// and no other service's user may record one. On a cluster too.
func TestAlertAfterRecorded(t *testing.T) {
	t.Run("users", func(t *testing.T) {
		srv := testenv.StartRedisACL(t, "app-alert-pw", "admin-alert-pw")
		testAlertAfter(t, srv.AdminClient(), srv.ClientAs(testenv.RedisOrderUser),
			srv.ClientAs(testenv.RedisStarterUser), srv.ClientAs(testenv.RedisWebUser))
		for _, user := range []string{testenv.RedisInventoryUser, testenv.RedisPaymentUser, testenv.RedisShippingUser,
			testenv.RedisWorkerUser, testenv.RedisWebUser} {
			bus := choreography.NewNode(srv.ClientAs(user), shop.DefaultCatalog(), nil).Bus
			if err := bus.RecordAlertAfter(context.Background(), time.Hour); err == nil || !strings.Contains(err.Error(), "NOPERM") {
				t.Errorf("%s records the alert threshold: %v, want NOPERM", user, err)
			}
		}
	})
	t.Run("cluster", func(t *testing.T) {
		rdb := clusterClient(t)
		testAlertAfter(t, rdb, rdb, rdb)
	})
}

func testAlertAfter(t *testing.T, admin, orderUser redis.UniversalClient, readers ...redis.UniversalClient) {
	ctx := context.Background()
	cat := shop.DefaultCatalog()
	read := func(want time.Duration, what string) {
		t.Helper()
		for _, r := range readers {
			if got, err := choreography.NewNode(r, cat, nil).Bus.AlertAfter(ctx); err != nil || got != want {
				t.Errorf("%s: alert threshold %v %v, want %v", what, got, err, want)
			}
		}
	}
	read(shop.DefaultCompensationAlertAfter, "none recorded")
	order := choreography.NewNode(orderUser, cat, nil).Bus
	if err := order.RecordAlertAfter(ctx, 2500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	read(2500*time.Millisecond, "recorded by the order service")
	if err := order.RecordAlertAfter(ctx, 0); err == nil {
		t.Error("a threshold of 0 recorded")
	}
	read(2500*time.Millisecond, "after a threshold of 0 refused")
	if err := admin.Set(ctx, activities.AlertAfterKey(activities.ChoreographyPrefix), "soon", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := choreography.NewNode(readers[0], cat, nil).Bus.AlertAfter(ctx); err == nil || !strings.Contains(err.Error(), "compensation-alert-after") {
		t.Errorf("a threshold that is not one: %v %v, want an error naming the key", got, err)
	}
}
