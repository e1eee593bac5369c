package activities

import (
	"embed"

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

//go:embed lua/*.lua
var luaFiles embed.FS

func luaFile(name string) string {
	b, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("activities: missing embedded script " + name) // a build without its files
	}
	return string(b)
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

// scripts holds the six operations' scripts built with one outbox hook.
type scripts map[shop.Op]*redis.Script

func newScripts(hook OutboxHook) scripts {
	set := make(scripts, len(shop.Ops))
	for _, op := range shop.Ops {
		set[op] = redis.NewScript(luaFile("layout") + string(hook) + luaFile("step") + luaFile(string(op)))
	}
	return set
}

// plainScripts run operations with no outbox.
var plainScripts = newScripts(OutboxHook(luaFile("nooutbox")))

// skuScript is one SKU's part of a reservation or release (see stock.go).
var skuScript = redis.NewScript(luaFile("sku"))
