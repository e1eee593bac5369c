-- The layout every participant script shares. KEYS: the operation's own
-- keys, then the outbox's. ARGV: how many of each there are, the planned
-- fault, the operation's arguments, then the outbox's.
--
--   ARGV[1]  number of the operation's keys (the rest are the outbox's)
--   ARGV[2]  number of the operation's arguments (the rest are the outbox's)
--   ARGV[3]  planned fault kind for this operation ('' = none)
--   ARGV[4]  transient: how many attempts fail
--   ARGV[5]  1 to run a refused compensation again (a repair), else 0
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local FAULT, FAILING, REPAIR = ARGV[3], tonumber(ARGV[4]), ARGV[5] == '1'
local K, A, OK, OA = {}, {}, {}, {}
for i = 1, #KEYS do
  if i <= nk then K[#K + 1] = KEYS[i] else OK[#OK + 1] = KEYS[i] end
end
for i = 6, #ARGV do
  if i - 5 <= na then A[#A + 1] = ARGV[i] else OA[#OA + 1] = ARGV[i] end
end
