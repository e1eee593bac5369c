package choreography

import (
	_ "embed"

	"github.com/ordersaga/ordersaga/activities"
)

// The choreography's own Lua scripts sit next to the code that runs them
// (lua/<name>.lua embedded as <name>Lua, run as <name>Script); every key
// they touch is in KEYS.

//go:embed lua/outbox.lua
var outboxLua string

// outboxHook commits a participant's next event and ack with its state change.
var outboxHook = activities.OutboxHook(outboxLua)

// DetailPlaceholder, inside a JSON string of an event the outbox publishes,
// is replaced by the operation's detail (a failure's reason, an amount, a
// tracking ID).
const DetailPlaceholder = "@DETAIL@"
