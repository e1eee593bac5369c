package activities_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// reservedInRedis sums the quantities an order holds now: reserved and not released.
func reservedInRedis(e *env, orderID string) int64 {
	e.t.Helper()
	st, err := activities.ReadOrderState(e.t.Context(), e.rdb, e.prefix, orderID)
	if err != nil {
		e.t.Fatal(err)
	}
	if !st.Done(shop.OpReserve) || st.Done(shop.OpRelease) {
		return 0
	}
	var sum int64
	for _, n := range st.Reserved {
		sum += n
	}
	return sum
}

func TestConcurrentReservationsNeverOversell(t *testing.T) {
	t.Parallel()
	const (
		initial = 150
		workers = 200
	)
	cat := shop.Catalog{"poster": {Name: "poster", PriceCents: 2500, InitialStock: initial}}
	e := newEnv(t, cat)

	type outcome struct {
		id   string
		qty  int
		errs [2]error
		dups [2]bool
	}
	results := make([]outcome, workers)
	var wg sync.WaitGroup
	for i := range workers {
		r := &results[i]
		r.id, r.qty = "c"+strconv.Itoa(i), i%3+1
		// Every order is reserved twice at once: idempotency must hold under races too.
		for j := range 2 {
			wg.Go(func() {
				res, err := e.p.Inventory.Reserve(t.Context(), input(r.id, item("poster", r.qty)))
				r.errs[j], r.dups[j] = err, res.Duplicate
			})
		}
	}
	wg.Wait()

	ok := make([]bool, workers)
	var reserved int64
	successes := 0
	minRejected := 1 << 30
	for i, r := range results {
		for _, err := range r.errs {
			if err != nil {
				wantBusiness(t, err, activities.ErrTypeInventoryRejected)
			}
		}
		if r.dups[0] == r.dups[1] {
			t.Fatalf("order %s: duplicate flags %v, want exactly one first run", r.id, r.dups)
		}
		if (r.errs[0] == nil) != (r.errs[1] == nil) {
			t.Fatalf("order %s: concurrent reserves disagree: %v", r.id, r.errs)
		}
		if r.errs[0] == nil {
			ok[i] = true
			successes++
			reserved += int64(r.qty)
			continue
		}
		minRejected = min(minRejected, r.qty)
	}
	available := e.stockOf("poster")
	if available < 0 {
		t.Fatalf("stock went negative: %d", available)
	}
	if available+reserved != initial {
		t.Fatalf("available %d + reserved %d = %d, want %d", available, reserved, available+reserved, initial)
	}
	if successes == 0 || successes == workers {
		t.Fatalf("%d of %d reservations succeeded; the test wants contention", successes, workers)
	}
	// A rejection saw less stock than it wanted, and stock only went down after.
	if int64(minRejected) <= available {
		t.Fatalf("an order of %d was rejected but %d are still available", minRejected, available)
	}
	var inRedis int64
	redisSuccesses := 0
	for i, r := range results {
		n := reservedInRedis(e, r.id)
		if (n > 0) != ok[i] || (ok[i] && n != int64(r.qty)) {
			t.Fatalf("order %s: redis holds %d, result ok=%v qty=%d", r.id, n, ok[i], r.qty)
		}
		if n > 0 {
			redisSuccesses++
		}
		inRedis += n
	}
	if inRedis != reserved || redisSuccesses != successes {
		t.Fatalf("redis holds %d reserved over %d orders, results say %d over %d", inRedis, redisSuccesses, reserved, successes)
	}

	// Release every even order (reserved or not) concurrently, each twice.
	var still int64
	for i, r := range results {
		if i%2 == 1 && ok[i] {
			still += int64(r.qty)
		}
	}
	for i, r := range results {
		if i%2 == 1 {
			continue
		}
		for range 2 {
			wg.Go(func() {
				if _, err := e.p.Inventory.Release(t.Context(), input(r.id, item("poster", r.qty))); err != nil {
					t.Errorf("release %s: %v", r.id, err)
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	available = e.stockOf("poster")
	if available < 0 || available+still != initial {
		t.Fatalf("after releases: available %d + still reserved %d = %d, want %d", available, still, available+still, initial)
	}
	for i, r := range results {
		n := reservedInRedis(e, r.id)
		if i%2 == 0 && n != 0 {
			t.Fatalf("released order %s still holds %d", r.id, n)
		}
	}
}

func TestConcurrentChargesChargeOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const orders, callers = 20, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := map[string]int{}
	for o := range orders {
		id := "p" + strconv.Itoa(o)
		for range callers {
			wg.Go(func() {
				res, err := e.p.Payment.Charge(t.Context(), input(id, item("mug", 2)))
				if err != nil {
					t.Errorf("charge %s: %v", id, err)
					return
				}
				if !res.Duplicate {
					mu.Lock()
					firsts[id]++
					mu.Unlock()
				}
			})
			wg.Go(func() {
				if _, err := e.p.Payment.Refund(t.Context(), input(id+"-r", item("mug", 2))); err != nil {
					t.Errorf("refund %s: %v", id, err)
				}
			})
		}
	}
	wg.Wait()
	for o := range orders {
		if id := "p" + strconv.Itoa(o); firsts[id] != 1 {
			t.Errorf("order %s was charged as a first run %d times", id, firsts[id])
		}
	}
	want := activities.Ledger{ChargedCents: orders * 2500, Charges: orders}
	if l := e.ledger(); l != want {
		t.Fatalf("ledger = %+v, want %+v", l, want)
	}
}
