package shop

import (
	"context"
	"errors"
	"time"
)

// Mode names an engine.
type Mode string

// The two coordination styles.
const (
	ModeOrchestration Mode = "orchestration"
	ModeChoreography  Mode = "choreography"
)

// Modes lists both engines in the order they are shown.
var Modes = []Mode{ModeOrchestration, ModeChoreography}

// Engine runs order sagas. Both coordination styles implement it, so the
// starter and the shared scenario tests drive them the same way.
type Engine interface {
	Mode() Mode
	// Place starts the saga of a valid order. Placing an order ID twice
	// fails with ErrDuplicateOrder and changes nothing, even when the first
	// saga has ended and the order is the same. Each placement carries a
	// token: when the reply to it is lost and the placement is sent again
	// (the client's retry within one Place), finding its own token counts as
	// success. When Place fails otherwise the order may or may not have been
	// placed: Status tells, and a new Place of it is a second placement.
	Place(ctx context.Context, o Order) error
	// Wait blocks until the order is terminal and returns its outcome.
	Wait(ctx context.Context, orderID string) (Outcome, error)
	// Status returns the order's progress now, terminal or not.
	Status(ctx context.Context, orderID string) (Progress, error)
	// History returns the order's timeline, oldest first.
	History(ctx context.Context, orderID string) ([]Event, error)
	// Repair runs again the compensations of a FAILED order, once the cause
	// of their failure is fixed (an injected fault is cleared by the repair
	// itself); the order then ends COMPENSATED (see Wait). Repairing an
	// order that is not FAILED fails with ErrNotRepairable, while another
	// repair runs with ErrRepairRunning, after a repair ended it with
	// ErrRepaired: of concurrent repairs, exactly one does the work.
	Repair(ctx context.Context, orderID string) error
}

// Errors every engine returns for the same situations.
var (
	ErrDuplicateOrder = errors.New("order already placed")
	ErrUnknownOrder   = errors.New("unknown order")
	// ErrSettled comes with ErrUnknownOrder for an order that ended and
	// was settled after the retention window: its records are gone.
	ErrSettled       = errors.New("settled after its retention window: its outcome is only in the settled totals")
	ErrNotRepairable = errors.New("order is not FAILED: nothing to repair")
	// ErrRepairRunning: another repair of the order has started and not
	// ended; Wait returns its outcome.
	ErrRepairRunning = errors.New("a repair of the order is already running")
	// ErrRepaired: the order was FAILED and a repair has ended it already.
	ErrRepaired = errors.New("the order was repaired already")
)

// Progress is an order's state at one moment.
type Progress struct {
	Outcome
	// Current is the operation running now, if any.
	Current Op `json:"current,omitempty"`
	// RetryingSince, while Status is COMPENSATING, is when the
	// compensation Current started to run.
	RetryingSince *time.Time `json:"retrying_since,omitempty"`
}

// Event is one entry of an order's timeline, in a form both engines share.
type Event struct {
	Time time.Time `json:"time"`
	// Name is what happened: an event type (OrderPlaced, PaymentDeclined, …)
	// or a workflow history event (ActivityTaskCompleted, …).
	Name string `json:"name"`
	// Op is the participant operation the entry is about, if any.
	Op Op `json:"op,omitempty"`
	// Result is "ok", "fail", "retry", "repair" (a repair of the order
	// begins: compensations run again) or empty for entries without one.
	Result string `json:"result,omitempty"`
	// Source is who produced it: a choreography service, or the workflow/worker.
	Source string `json:"source"`
	Detail string `json:"detail,omitempty"`
	// Duration is how long the operation took, when the entry ends one.
	Duration time.Duration `json:"duration_ns,omitempty"`
}
