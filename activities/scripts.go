package activities

import (
	_ "embed"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/shop"
)

// Every participant operation commits in one Lua script in the order's
// partition, so its idempotency check, injected fault, state change and the
// caller's outbox run atomically (reserve and release first change stock
// per SKU, see stock.go). A script is assembled from embedded files: the
// argument layout, an outbox hook, the skeleton every operation shares
// (step.lua), and the operation's own body (<op>.lua). Every key a script
// touches is passed in KEYS.

//go:embed lua/layout.lua
var layoutLua string

//go:embed lua/step.lua
var stepLua string

//go:embed lua/nooutbox.lua
var noOutboxLua string

//go:embed lua/reserve.lua
var reserveLua string

//go:embed lua/release.lua
var releaseLua string

//go:embed lua/check.lua
var checkLua string

//go:embed lua/charge.lua
var chargeLua string

//go:embed lua/refund.lua
var refundLua string

//go:embed lua/schedule.lua
var scheduleLua string

//go:embed lua/cancel.lua
var cancelLua string

// opLua is each operation's own body.
var opLua = map[shop.Op]string{
	shop.OpReserve: reserveLua, shop.OpRelease: releaseLua,
	shop.OpCheck:  checkLua,
	shop.OpCharge: chargeLua, shop.OpRefund: refundLua,
	shop.OpSchedule: scheduleLua, shop.OpCancel: cancelLua,
}

// OutboxHook is Lua a caller adds to every operation's script to commit its
// own writes in the same atomic step, without this package knowing what
// they are. It defines two local functions, which see the outbox's keys as
// OK and its arguments as OA (Lua tables):
//
//	guard()                    runs first; a non-nil return value is the script's reply
//	outbox(status, detail, dup) runs once the operation's result is final:
//	                           'ok' or 'fail' with its detail, dup true when it was
//	                           recorded by an earlier run; not after a transient failure.
//	                           Its return value (a string) is Result.Outbox.
//
// A guard's reply is {'dropped', detail, outbox result, 0}: the operation
// did not happen (Result.Dropped), and reserve and release undo what they
// did per SKU before their script ran.
type OutboxHook string

// scripts holds the seven operations' scripts built with one outbox hook.
type scripts map[shop.Op]*redis.Script

func newScripts(hook OutboxHook) scripts {
	set := make(scripts, len(shop.Ops))
	for _, op := range shop.Ops {
		set[op] = redis.NewScript(layoutLua + string(hook) + stepLua + opLua[op])
	}
	return set
}

// plainScripts run operations with no outbox.
var plainScripts = newScripts(OutboxHook(noOutboxLua))

//go:embed lua/sku.lua
var skuLua string

// skuScript is one SKU's part of a reservation or release (see stock.go).
var skuScript = redis.NewScript(skuLua)
