-- Without an outbox the operation only changes its own state.
local function guard() return nil end
local function outbox(status, detail, dup) return '' end
