--[[ summary.lua: a band's totals as of a date (stats, bands).

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: as_of 'YYYY-MM-DD'; ARGV[2]: its ordinal day.
Returns: {band name or false, countable shows, plays, songs played, songs known,
          first showkey or false, last showkey or false}, counting shows dated up to as_of.
]]
local as_of, as_of_day = ARGV[1], tonumber(ARGV[2])
local top = '(' .. as_of .. '~'

return {
  redis.call('HGET', K_META, 'name'),
  redis.call('ZLEXCOUNT', K_ORDER, '-', top),
  redis.call('ZLEXCOUNT', K_DPLAYS, '-', top),
  redis.call('ZCOUNT', K_FIRST, '-inf', as_of_day),
  redis.call('ZCOUNT', K_SEEN, '-inf', as_of_day),
  redis.call('ZRANGEBYLEX', K_ORDER, '-', top, 'LIMIT', 0, 1)[1] or false,
  redis.call('ZREVRANGEBYLEX', K_ORDER, top, '-', 'LIMIT', 0, 1)[1] or false,
}
