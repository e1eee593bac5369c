package shop_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ordersaga/ordersaga/shop"
)

func TestNewOrderID(t *testing.T) {
	a, b := shop.NewOrderID(), shop.NewOrderID()
	if a == b || len(a) != 14 || !strings.HasPrefix(a, "o-") || !shop.ValidOrderID(a) {
		t.Errorf("NewOrderID: %q, %q; want two different valid IDs o-<12 hex>", a, b)
	}
}

func TestParseOrder(t *testing.T) {
	c := shop.DefaultCatalog()
	o, err := shop.ParseOrder("", "ada", nil, nil, c)
	if err != nil || !shop.ValidOrderID(o.ID) || o.Customer != "ada" || len(o.Items) != 1 ||
		o.Items[0] != (shop.Item{SKU: shop.DefaultSKU, Quantity: 1}) || len(o.Faults) != 0 {
		t.Fatalf("ParseOrder with defaults = %+v, %v", o, err)
	}
	o, err = shop.ParseOrder("o-7", "bo", []string{shop.DefaultSKU + ":2"}, []string{"payment", "refund:decline"}, c)
	if err != nil || o.ID != "o-7" || o.Items[0].Quantity != 2 || len(o.Faults) != 2 {
		t.Fatalf("ParseOrder = %+v, %v", o, err)
	}
	for _, bad := range []struct {
		id            string
		items, faults []string
		want          string
	}{
		{"o-1", []string{"nope:x"}, nil, "nope:x"},
		{"o-1", nil, []string{"teleport"}, "teleport"},
		{"o-1", []string{"unknown-sku:1"}, nil, "unknown SKU"},
		{"bad id!", nil, nil, "order ID"},
	} {
		_, err := shop.ParseOrder(bad.id, "ada", bad.items, bad.faults, c)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseOrder(%q, %q, %q) = %v, want an error about %q", bad.id, bad.items, bad.faults, err, bad.want)
		}
	}
	if _, err := shop.ParseOrder("o-1", "ada", []string{"unknown-sku:1"}, nil, c); !errors.Is(err, shop.ErrInvalidOrder) {
		t.Errorf("a validation error %v does not wrap ErrInvalidOrder", err)
	}
}
