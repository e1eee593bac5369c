-- Moves an entry that is still pending to the dead-letter stream and acks
-- it. Checking that it is pending makes it safe to run twice: a client that
-- retries after a lost reply must not dead-letter the entry again.
-- KEYS[1] the entry's stream, KEYS[2] the dead-letter stream.
-- ARGV[1] group, ARGV[2] entry ID, ARGV[3] how many dead letters to keep,
-- ARGV[4..] the dead letter's fields.
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
