package shop

import (
	"strings"

	"github.com/google/uuid"
)

// NewOrderID returns a short, readable, unique order ID.
func NewOrderID() string {
	return "o-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
}

// ParseOrder builds an order from its parts as text, the way the starter's
// flags and the live page's form give them: items as SKU:QTY (one of
// DefaultSKU when there are none) and faults as STEP[:KIND]. An empty id
// gets a new one. The order is validated against c.
func ParseOrder(id, customer string, items, faults []string, c Catalog) (Order, error) {
	o := Order{ID: id, Customer: customer}
	if o.ID == "" {
		o.ID = NewOrderID()
	}
	if len(items) == 0 {
		items = []string{DefaultSKU + ":1"}
	}
	for _, s := range items {
		it, err := ParseItem(s)
		if err != nil {
			return o, err
		}
		o.Items = append(o.Items, it)
	}
	var err error
	if o.Faults, err = ParseFaultPlan(faults); err != nil {
		return o, err
	}
	return o, o.Validate(c)
}
