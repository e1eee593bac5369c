package choreography

import (
	_ "embed"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
)

// The choreography's own Lua scripts; every key they touch is in KEYS.
var (
	//go:embed lua/outbox.lua
	outboxLua string
	//go:embed lua/place.lua
	placeLua string
	//go:embed lua/finish.lua
	finishLua string
	//go:embed lua/settle.lua
	settleLua string
	//go:embed lua/redrive.lua
	redriveLua string
	//go:embed lua/repair.lua
	repairLua string

	// outboxHook commits a participant's next event and ack with its state change.
	outboxHook = activities.OutboxHook(outboxLua)

	placeScript   = redis.NewScript(placeLua)
	finishScript  = redis.NewScript(finishLua)
	settleScript  = redis.NewScript(settleLua)
	redriveScript = redis.NewScript(redriveLua)
	repairScript  = redis.NewScript(repairLua)
)

// DetailPlaceholder, inside a JSON string of an event the outbox publishes,
// is replaced by the operation's detail (a failure's reason, an amount, a
// tracking ID).
const DetailPlaceholder = "@DETAIL@"
