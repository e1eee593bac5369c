package shop

import "fmt"

// The fraud check's rule, on the order's amount and its customer: an order
// above FraudLimitCents is refused, and so is an order of a guest (an
// order with no customer name) above GuestFraudLimitCents. --fail fraud
// refuses any order.
const (
	FraudLimitCents      int64 = 200_000 // $2,000.00
	GuestFraudLimitCents int64 = 50_000  // $500.00
)

// FraudRefusal returns why the fraud check refuses an order of amountCents
// placed by customer, or "" when it lets the order through.
func FraudRefusal(customer string, amountCents int64) string {
	if customer == "" && amountCents > GuestFraudLimitCents {
		return fmt.Sprintf("a guest order of %s is above the guest limit of %s", Money(amountCents), Money(GuestFraudLimitCents))
	}
	if amountCents > FraudLimitCents {
		return fmt.Sprintf("an order of %s is above the limit of %s", Money(amountCents), Money(FraudLimitCents))
	}
	return ""
}

// Money formats cents as an amount, 4200 as "42.00".
func Money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}
