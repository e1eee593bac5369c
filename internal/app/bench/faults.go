package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ordersaga/ordersaga/shop"
)

// ErrBadFaultSpec is wrapped by every error of ParseFaults.
var ErrBadFaultSpec = errors.New("bad fault spec")

// FaultRule injects one fault into a share of the orders: each order gets
// Fault on Op with probability Prob, drawn from the workload's seed.
type FaultRule struct {
	Op    shop.Op
	Fault shop.Fault
	Prob  float64
}

// String returns the rule in the form ParseFaults reads, with the operation
// written as its step for forward operations.
func (r FaultRule) String() string {
	return r.Op.Target() + "=" + r.Fault.String() + ":" + strconv.FormatFloat(r.Prob, 'g', -1, 64)
}

// FormatFaults writes rules as one --faults value ("none" when empty).
func FormatFaults(rules []FaultRule) string {
	if len(rules) == 0 {
		return "none"
	}
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// ParseFaults reads a comma-separated list of TARGET=KIND:PROB, for example
// "payment=decline:0.1,shipping=transient:0.05,payment=delay:20ms:0.1".
// TARGET is what shop.ParseTarget reads (a step or an operation), KIND what
// shop.ParseFault reads, except that a bare "transient" means "transient:1",
// and PROB is a probability from 0 to 1. One operation takes one rule.
// An empty string is no rules.
func ParseFaults(s string) ([]FaultRule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var rules []FaultRule
	seen := map[shop.Op]bool{}
	for _, part := range strings.Split(s, ",") {
		r, err := parseRule(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		if seen[r.Op] {
			return nil, fmt.Errorf("%w: more than one rule for %s", ErrBadFaultSpec, r.Op)
		}
		seen[r.Op] = true
		rules = append(rules, r)
	}
	return rules, nil
}

func parseRule(s string) (FaultRule, error) {
	const want = "want TARGET=KIND:PROB, e.g. payment=decline:0.1"
	target, rest, ok := strings.Cut(s, "=")
	if !ok || target == "" || rest == "" {
		return FaultRule{}, fmt.Errorf("%w: %q: %s", ErrBadFaultSpec, s, want)
	}
	op, err := shop.ParseTarget(target)
	if err != nil {
		return FaultRule{}, fmt.Errorf("%w: %q: %v", ErrBadFaultSpec, s, err)
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return FaultRule{}, fmt.Errorf("%w: %q: missing probability (%s)", ErrBadFaultSpec, s, want)
	}
	kind, probText := rest[:i], rest[i+1:]
	p, err := strconv.ParseFloat(probText, 64)
	if err != nil || p != p || p < 0 || p > 1 {
		return FaultRule{}, fmt.Errorf("%w: %q: probability %q must be a number from 0 to 1", ErrBadFaultSpec, s, probText)
	}
	if kind == string(shop.FaultTransient) {
		kind += ":1"
	}
	f, err := shop.ParseFault(kind)
	if err != nil {
		return FaultRule{}, fmt.Errorf("%w: %q: %v", ErrBadFaultSpec, s, err)
	}
	return FaultRule{Op: op, Fault: f, Prob: p}, nil
}
