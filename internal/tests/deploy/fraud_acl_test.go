package deploy_test

import (
	"context"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// TestLeastPrivilegeFraudCheck: logged in as the orchestration worker's
// own user, the fraud check records its refusal, the reservation is
// released, and settling the order (whose script names the fraud record)
// deletes the record; Redis refuses nothing.
func TestLeastPrivilegeFraudCheck(t *testing.T) {
	srv := testenv.StartRedisACL(t, appPassword, adminPassword)
	rdb, admin := srv.ClientAs(testenv.RedisWorkerUser), srv.AdminClient()
	ctx := context.Background()
	prefix, catalog := activities.OrchestrationPrefix, shop.DefaultCatalog()
	if err := activities.Seed(ctx, rdb, prefix, catalog); err != nil {
		t.Fatal(err)
	}
	p := activities.New(rdb, prefix, catalog)
	in := activities.OrderInput{OrderID: "acl-fraud", Customer: "ada", Items: []shop.Item{{SKU: "book", Quantity: 1}},
		Faults: shop.FaultPlan{shop.OpCheck: {Kind: shop.FaultDecline}}}
	if _, err := p.Inventory.Reserve(ctx, in); err != nil {
		t.Fatalf("reserve: %v", err)
	}
	if _, err := p.Fraud.Check(ctx, in); err == nil {
		t.Fatal("check with --fail fraud: no refusal")
	} else if r, ok := activities.IsRefusal(err); !ok || r.Type() != activities.ErrTypeFraudSuspected {
		t.Fatalf("check: %v, want a %s refusal", err, activities.ErrTypeFraudSuspected)
	}
	if _, err := p.Inventory.Release(ctx, in); err != nil {
		t.Fatalf("release: %v", err)
	}
	l, err := activities.LayoutOf(ctx, rdb, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := admin.Exists(ctx, l.FraudKey(in.OrderID)).Result(); err != nil || n != 1 {
		t.Fatalf("the fraud record before settling: %d %v, want it there", n, err)
	}
	o := activities.FinishedOrder{ID: in.OrderID, Status: shop.StatusCompensated, Started: time.Now().Add(-time.Hour), SKUs: []string{"book"}}
	if settled, err := activities.SettleOrder(ctx, rdb, l, o, time.Now()); err != nil || !settled {
		t.Fatalf("settle: %v %v, want it settled", settled, err)
	}
	if n, err := admin.Exists(ctx, l.FraudKey(in.OrderID)).Result(); err != nil || n != 0 {
		t.Errorf("the fraud record after settling: %d %v, want it deleted", n, err)
	}
	noACLDenials(t, admin)
}
