package activities

import (
	"errors"

	"github.com/ordersaga/ordersaga/shop"
)

// Error type names. They are stable: both engines report them in an order's
// reason, and the Temporal worker uses them as the types of its
// non-retryable errors, so workflows, tests and users can match on them.
const (
	ErrTypeInventoryRejected = "InventoryRejected"
	ErrTypeFraudSuspected    = "FraudSuspected"
	ErrTypePaymentDeclined   = "PaymentDeclined"
	ErrTypeShipmentFailed    = "ShipmentFailed"
	ErrTypeReleaseFailed     = "ReleaseFailed"
	ErrTypeRefundFailed      = "RefundFailed"
	ErrTypeCancelFailed      = "CancelFailed"
	ErrTypeNotifyFailed      = "NotificationFailed"
	ErrTypeTransient         = "TransientFault"
)

// FailureType returns the error type name of a refusal of op.
func FailureType(op shop.Op) string {
	switch op {
	case shop.OpReserve:
		return ErrTypeInventoryRejected
	case shop.OpCheck:
		return ErrTypeFraudSuspected
	case shop.OpCharge:
		return ErrTypePaymentDeclined
	case shop.OpSchedule:
		return ErrTypeShipmentFailed
	case shop.OpRelease:
		return ErrTypeReleaseFailed
	case shop.OpRefund:
		return ErrTypeRefundFailed
	case shop.OpCancel:
		return ErrTypeCancelFailed
	case shop.OpNotify:
		return ErrTypeNotifyFailed
	}
	return "UnknownFailure"
}

// RefusalTypes lists the error types of refusals: retrying cannot change them.
var RefusalTypes = []string{
	ErrTypeInventoryRejected, ErrTypeFraudSuspected, ErrTypePaymentDeclined, ErrTypeShipmentFailed,
	ErrTypeReleaseFailed, ErrTypeRefundFailed, ErrTypeCancelFailed,
}

// RefusalError is a business failure of an operation (out of stock, payment
// declined, ...): the participant recorded it, and retrying returns it again.
type RefusalError struct {
	Op     shop.Op
	Reason string
}

// Type is the refusal's stable type name, e.g. PaymentDeclined.
func (e *RefusalError) Type() string { return FailureType(e.Op) }

func (e *RefusalError) Error() string { return e.Type() + ": " + e.Reason }

// TransientError is a failure the next attempt may not have (an injected
// transient fault); nothing was recorded.
type TransientError struct {
	Op     shop.Op
	Detail string
}

func (e *TransientError) Error() string { return ErrTypeTransient + ": " + e.Detail }

// IsRefusal reports whether err is a refusal, and returns it.
func IsRefusal(err error) (*RefusalError, bool) {
	var r *RefusalError
	ok := errors.As(err, &r)
	return r, ok
}

// IsTransient reports whether err is a transient failure.
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}

// Temporary reports that a later attempt may succeed.
func (e *TransientError) Temporary() bool { return true }
