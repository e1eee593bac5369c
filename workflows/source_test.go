package workflows_test

import (
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/ordersaga/ordersaga/workflows"
)

// TestNotifiesFromChangeVersion: verify expects a notification only of the
// workflows whose TemporalChangeVersion says they run version 4 or later.
func TestNotifiesFromChangeVersion(t *testing.T) {
	payload := func(v any) *commonpb.Payload {
		p, err := converter.GetDefaultDataConverter().ToPayload(v)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		p    *commonpb.Payload
		want bool
	}{
		{nil, false}, // version 0 records no version
		{payload([]string{"order-saga-3"}), false},
		{payload([]string{"order-saga-4"}), true},
		{payload([]string{"other-9", "order-saga-5"}), true},
		{payload([]string{"order-saga-x"}), false},
		{payload("order-saga-4"), false}, // not a keyword list
	} {
		if got := workflows.Notifies(c.p); got != c.want {
			t.Errorf("notifies(%v) = %v, want %v", c.p, got, c.want)
		}
	}
}
