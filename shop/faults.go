package shop

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
)

// FaultKind is the kind of an injected fault.
type FaultKind string

// Fault kinds.
const (
	// FaultDecline makes the operation fail with a business (non-retryable) error.
	FaultDecline FaultKind = "decline"
	// FaultTransient makes the first N attempts fail with a retryable error.
	FaultTransient FaultKind = "transient"
	// FaultDelay makes the operation take at least the given duration.
	FaultDelay FaultKind = "delay"
)

// Limits on injected faults, so that a typo cannot stall a saga for hours.
const (
	MaxTransientAttempts = 20
	MaxDelay             = 5 * time.Minute
)

// Fault is one injected fault. It is written as "decline", "transient:N" or
// "delay:DURATION" and travels as that text in JSON.
type Fault struct {
	Kind     FaultKind
	Attempts int           // transient: how many attempts fail
	Delay    time.Duration // delay: how long the operation waits
}

// ErrBadFault is wrapped by every fault parsing error.
var ErrBadFault = errors.New("bad fault")

// ParseFault parses "decline", "transient:N" or "delay:DURATION".
func ParseFault(s string) (Fault, error) {
	kind, arg, hasArg := strings.Cut(s, ":")
	switch FaultKind(kind) {
	case FaultDecline:
		if hasArg {
			return Fault{}, fmt.Errorf("%w: %q: decline takes no argument", ErrBadFault, s)
		}
		return Fault{Kind: FaultDecline}, nil
	case FaultTransient:
		n, err := strconv.Atoi(arg)
		if !hasArg || err != nil || n < 1 || n > MaxTransientAttempts {
			return Fault{}, fmt.Errorf("%w: %q: want transient:N with N from 1 to %d", ErrBadFault, s, MaxTransientAttempts)
		}
		return Fault{Kind: FaultTransient, Attempts: n}, nil
	case FaultDelay:
		d, err := time.ParseDuration(arg)
		if !hasArg || err != nil || d <= 0 || d > MaxDelay {
			return Fault{}, fmt.Errorf("%w: %q: want delay:DURATION like delay:500ms, at most %s", ErrBadFault, s, MaxDelay)
		}
		return Fault{Kind: FaultDelay, Delay: d}, nil
	}
	return Fault{}, fmt.Errorf("%w: unknown fault kind %q (want decline, transient:N or delay:DURATION)", ErrBadFault, kind)
}

// String returns the fault in the form ParseFault reads.
func (f Fault) String() string {
	switch f.Kind {
	case FaultTransient:
		return fmt.Sprintf("transient:%d", f.Attempts)
	case FaultDelay:
		return "delay:" + f.Delay.String()
	}
	return string(f.Kind)
}

// MarshalText writes the fault as text.
func (f Fault) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads the fault from text.
func (f *Fault) UnmarshalText(b []byte) error {
	p, err := ParseFault(string(b))
	if err != nil {
		return err
	}
	*f = p
	return nil
}

// FaultPlan says which operations of an order misbehave and how. It is keyed
// by operation, so compensations (release, refund, cancel) can be made to fail
// too; a step name stands for its forward operation when parsing.
type FaultPlan map[Op]Fault

// For returns the fault planned for an operation, if any.
func (p FaultPlan) For(op Op) (Fault, bool) {
	f, ok := p[op]
	return f, ok
}

// WithoutCompensations returns a copy of the plan without the faults of
// compensations: the plan a repair reruns them with.
func (p FaultPlan) WithoutCompensations() FaultPlan {
	out := maps.Clone(p)
	for op := range out {
		if op.IsCompensation() {
			delete(out, op)
		}
	}
	return out
}

// Validate checks every entry of the plan.
func (p FaultPlan) Validate() error {
	for op, f := range p {
		if op.Step() == "" && op != OpNotify {
			return fmt.Errorf("%w: unknown operation %q", ErrBadFault, op)
		}
		if _, err := ParseFault(f.String()); err != nil {
			return err
		}
	}
	return nil
}

// ParseTarget reads the target of a fault: a step (inventory, fraud,
// payment, shipping), standing for its forward operation, or an operation name
// (notify included).
func ParseTarget(s string) (Op, error) {
	if st, err := ParseStep(s); err == nil {
		return st.Forward(), nil
	}
	for _, op := range Ops {
		if string(op) == s {
			return op, nil
		}
	}
	if s == string(OpNotify) {
		return OpNotify, nil
	}
	return "", fmt.Errorf("%w: unknown step %q (want inventory, fraud, payment, shipping, or an operation: reserve, check, charge, schedule, release, refund, cancel, notify)", ErrBadFault, s)
}

// Target is the name ParseTarget reads for op, as faults are written: its
// step for a forward operation (fraud for check), the operation's own
// name for a compensation or notify.
func (o Op) Target() string {
	if s := o.Step(); s != "" && !o.IsCompensation() {
		return string(s)
	}
	return string(o)
}

// ParseFaultSpec parses "TARGET[:KIND]" as given to --fail, e.g. "payment",
// "payment:transient:2", "shipping:delay:1s" or "refund:decline". The kind
// defaults to decline.
func ParseFaultSpec(s string) (Op, Fault, error) {
	target, kind, hasKind := strings.Cut(s, ":")
	op, err := ParseTarget(target)
	if err != nil {
		return "", Fault{}, err
	}
	if !hasKind {
		return op, Fault{Kind: FaultDecline}, nil
	}
	f, err := ParseFault(kind)
	if err != nil {
		return "", Fault{}, err
	}
	return op, f, nil
}

// ParseFaultPlan parses several fault specs into one plan. One operation may
// have only one fault.
func ParseFaultPlan(specs []string) (FaultPlan, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	plan := make(FaultPlan, len(specs))
	for _, s := range specs {
		op, f, err := ParseFaultSpec(s)
		if err != nil {
			return nil, err
		}
		if _, dup := plan[op]; dup {
			return nil, fmt.Errorf("%w: more than one fault for %s", ErrBadFault, op)
		}
		plan[op] = f
	}
	return plan, nil
}

// ParseItem parses "SKU:QTY" (or "SKU", meaning one).
func ParseItem(s string) (Item, error) {
	sku, qty, hasQty := strings.Cut(s, ":")
	if sku == "" {
		return Item{}, fmt.Errorf("%w: item %q: missing SKU (want SKU:QTY)", ErrInvalidOrder, s)
	}
	if !hasQty {
		return Item{SKU: sku, Quantity: 1}, nil
	}
	n, err := strconv.Atoi(qty)
	if err != nil {
		return Item{}, fmt.Errorf("%w: item %q: quantity %q is not a whole number", ErrInvalidOrder, s, qty)
	}
	return Item{SKU: sku, Quantity: n}, nil
}
