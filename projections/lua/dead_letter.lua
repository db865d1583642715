--[[ dead_letter.lua: park one stream entry in the dead-letter stream, once.

KEYS[1]: the dead-letter stream; KEYS[2]: its index (hash: source entry reference -> dead entry id).
ARGV: source entry reference (projections.streams.entry_ref), reason, raw payload, source stream
name, delivery count, source entry id.
Returns: 1 if the entry was parked now, 0 if it was parked before (nothing changes).
]]
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
local id = redis.call('XADD', KEYS[1], '*', 'source_id', ARGV[6], 'reason', ARGV[2], 'raw', ARGV[3],
                      'stream', ARGV[4], 'deliveries', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[1], id)
return 1
