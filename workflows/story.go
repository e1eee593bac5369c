package workflows

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"go.temporal.io/sdk/temporal"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// What the Temporal UI shows of an order: two keyword search attributes that
// the workflow list can show as columns and filter on, a static summary and
// details given when the workflow starts, a summary on every activity and
// the step in progress as the workflow's current details.
//
// Both search attributes must be registered in the namespace (the dev
// server: --search-attribute OrderStatus=Keyword --search-attribute
// OrderFailedStep=Keyword; elsewhere `temporal operator search-attribute
// create`); the worker refuses to start without them, see
// CheckSearchAttributes.
const (
	// SearchAttrOrderStatus is the order's shop.Status: PENDING, COMPLETED,
	// COMPENSATED or FAILED (a FAILED order waits for a repair).
	SearchAttrOrderStatus = "OrderStatus"
	// SearchAttrOrderFailedStep is the step whose failure started the
	// compensation (inventory, fraud, payment or shipping), once it is
	// known.
	SearchAttrOrderFailedStep = "OrderFailedStep"
)

// The typed keys of the search attributes.
var (
	OrderStatusKey     = temporal.NewSearchAttributeKeyKeyword(SearchAttrOrderStatus)
	OrderFailedStepKey = temporal.NewSearchAttributeKeyKeyword(SearchAttrOrderFailedStep)
)

// StatusQuery is the visibility query of the orders in a status, e.g.
// OrderStatus="COMPENSATED", as `temporal workflow list --query` and the
// UI's workflow list take it.
func StatusQuery(s shop.Status) string {
	return fmt.Sprintf("%s=%q", SearchAttrOrderStatus, string(s))
}

// ListURL is the Temporal UI's workflow list of namespace filtered by a
// visibility query, e.g. ListURL("http://localhost:8233", "default",
// StatusQuery(shop.StatusCompensated)).
func ListURL(uiBase, namespace, query string) string {
	return strings.TrimRight(uiBase, "/") + "/namespaces/" + url.PathEscape(namespace) +
		"/workflows?query=" + url.QueryEscape(query)
}

// money formats cents as an amount, 4200 as "42.00".
func money(cents int64) string { return shop.Money(cents) }

// itemsText lists items as "book:2 mug:1".
func itemsText(items []shop.Item) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = fmt.Sprintf("%s:%d", it.SKU, it.Quantity)
	}
	return strings.Join(parts, " ")
}

// FaultPlanText lists a fault plan as the starter's --fail flags take it,
// in saga order, notify last ("fraud:decline refund:decline
// notify:transient:2"), or "none".
func FaultPlanText(p shop.FaultPlan) string {
	var parts []string
	for _, op := range append(slices.Clone(shop.Ops), shop.OpNotify) {
		if f, ok := p[op]; ok {
			parts = append(parts, op.Target()+":"+f.String())
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// StaticSummary is the one line the UI shows at the top of an order's
// workflow: the order, its items, its total and its fault plan.
func StaticSummary(o shop.Order, catalog shop.Catalog) string {
	return markdownText(fmt.Sprintf("order %s: %s, total %s, faults: %s", o.ID, itemsText(o.Items), money(o.Total(catalog)), FaultPlanText(o.Faults)))
}

// StaticDetails is the longer description under the summary, in the UI's
// markdown: who ordered what at which price, and which faults are planned.
func StaticDetails(o shop.Order, catalog shop.Catalog) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Order** %s for %s\n\n", markdownText(o.ID), markdownText(o.Customer))
	fmt.Fprintf(&b, "| item | quantity | price | amount |\n| --- | ---: | ---: | ---: |\n")
	for _, it := range o.Items {
		p := catalog[it.SKU]
		fmt.Fprintf(&b, "| %s (%s) | %d | %s | %s |\n", markdownText(it.SKU), markdownText(p.Name), it.Quantity, money(p.PriceCents), money(p.PriceCents*int64(it.Quantity)))
	}
	fmt.Fprintf(&b, "\n**Total**: %s\n\n**Fault plan**: %s\n\n", money(o.Total(catalog)), markdownText(FaultPlanText(o.Faults)))
	repair := "`starter repair ORDER_ID`"
	if shop.ValidOrderID(o.ID) { // no backtick can end the code span early
		repair = "`starter repair " + o.ID + "`"
	}
	b.WriteString("Steps: reserve stock, check for fraud, charge payment, schedule shipment; a failure undoes the steps done, newest first. " +
		"A compensation that is refused leaves the order FAILED until " + repair + ".")
	return b.String()
}

// markdownSpecial are the characters that can start markup in the
// Temporal UI's markdown: links and images, HTML and autolinks, code,
// emphasis, table cells, headings and escapes.
const markdownSpecial = "\\`*_[]<>|#!~"

// markdownText makes s plain text in markdown: each markup character is
// escaped with a backslash and line breaks and other control characters
// become spaces, so `<img src=x onerror=…>` or `[x](javascript:…)` in an
// order shows as written and never becomes an element or a link.
func markdownText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case strings.ContainsRune(markdownSpecial, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// plainText undoes markdownText's escapes, for showing a summary as text.
func plainText(md string) string {
	var b strings.Builder
	for i := 0; i < len(md); i++ {
		if md[i] == '\\' && i+1 < len(md) && strings.IndexByte(markdownSpecial, md[i+1]) >= 0 {
			i++
		}
		b.WriteByte(md[i])
	}
	return b.String()
}

// amountText is the order's amount as priced at placement, or "the
// order's total" for an order placed before amounts travelled with it: the
// workflow never reads a catalog, so what it shows replays unchanged.
func amountText(o shop.Order) string {
	if o.AmountCents > 0 {
		return money(o.AmountCents)
	}
	return "the order's total"
}

// forwardSummary says what a forward operation does: "reserve book:2",
// "check order o1 for fraud: 84.00 by ada", "charge 84.00", "schedule
// shipment of book:2".
func forwardSummary(op shop.Op, o shop.Order) string {
	switch op {
	case shop.OpReserve:
		return "reserve " + itemsText(o.Items)
	case shop.OpCheck:
		return fmt.Sprintf("check order %s for fraud: %s by %s", o.ID, amountText(o), customerText(o.Customer))
	case shop.OpCharge:
		return "charge " + amountText(o)
	case shop.OpSchedule:
		return "schedule shipment of " + itemsText(o.Items)
	}
	return string(op)
}

// customerText names the customer of an order, "a guest" when it has none.
func customerText(customer string) string {
	if customer == "" {
		return "a guest"
	}
	return customer
}

// compensationSummary says what a compensation does and why: "refund 84.00
// after ShipmentFailed"; for a step whose forward operation gave no answer,
// "defensive release: reserve was still in flight" or "defensive refund:
// charge failed (TransientFault)"; for a repair, "repair: refund 84.00
// again after RefundFailed"; after the fraud check refused the order,
// "release book:2 after FraudSuspected: the fraud check refused the
// order". cause is what started the
// compensation (a refusal's type, "the cancel", ...) or, for a repair, what
// the compensation failed with.
func compensationSummary(op shop.Op, o shop.Order, c compensation) string {
	what := string(op)
	switch op {
	case shop.OpRelease:
		what = "release " + itemsText(o.Items)
	case shop.OpRefund:
		what = "refund " + amountText(o)
	case shop.OpCancel:
		what = "cancel the shipment"
	}
	switch {
	case c.repair:
		return "repair: " + what + " again after " + c.cause
	case !c.done && c.cancelled:
		return fmt.Sprintf("defensive %s: %s was still in flight", op, op.Step().Forward())
	case !c.done:
		return fmt.Sprintf("defensive %s: %s", op, c.cause)
	}
	if c.cause == activities.ErrTypeFraudSuspected {
		return what + " after " + c.cause + ": the fraud check refused the order"
	}
	return what + " after " + c.cause
}

// compensation is why one compensation runs, for its summary.
type compensation struct {
	// done: the step's forward operation succeeded.
	done bool
	// cancelled: the order was cancelled while the step ran.
	cancelled bool
	repair    bool
	cause     string
}
