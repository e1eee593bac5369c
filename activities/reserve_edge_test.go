package activities_test

import (
	"reflect"
	"testing"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// Reserve checks items itself instead of trusting its caller: a SKU listed
// twice is one line, so it can neither slip past the stock check nor leave
// part of the reservation behind on release.
func TestReserveDuplicateSKUNeverOversells(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("dup", item("poster", 6), item("poster", 6))
	res, err := e.do(shop.OpReserve, in)
	wantBusiness(t, err, activities.ErrTypeInventoryRejected)
	if want := "out of stock: poster has 10, wanted 12"; res.Detail != want {
		t.Fatalf("detail = %q, want %q", res.Detail, want)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster stock = %d after a refused 6+6 of 10, want 10", got)
	}
}

func TestReserveDuplicateSKUIsOneLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("dup", item("poster", 3), item("book", 1), item("poster", 4))
	e.mustDo(shop.OpReserve, in)
	if got := e.stockOf("poster"); got != 3 {
		t.Fatalf("poster = %d after reserving 3+4 of 10, want 3", got)
	}
	st, err := activities.ReadOrderState(t.Context(), e.rdb, e.prefix, "dup")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"poster": 7, "book": 1}; !reflect.DeepEqual(st.Reserved, want) {
		t.Fatalf("reserved = %v, want %v", st.Reserved, want)
	}
	e.mustDo(shop.OpRelease, in)
	if got := e.stock(); got["poster"] != 10 || got["book"] != 1_000_000 {
		t.Fatalf("stock after release = %v, want all back", got)
	}
}
