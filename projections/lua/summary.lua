--[[ summary.lua: a band's totals as of a date (stats, bands).

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: as_of 'YYYY-MM-DD'; ARGV[2]: its ordinal day.
Returns: {band name or false, countable shows, plays, songs played, songs known,
          first showkey or false, last showkey or false}, counting shows dated up to as_of.
]]
local as_of, as_of_day = ARGV[1], tonumber(ARGV[2])
local this_month, top = string.sub(as_of, 1, 7), '(' .. as_of .. '~'

-- plays: whole months from the month counts, as_of's own month counted up to as_of
local _, plays = shows_and_plays('[' .. this_month .. '-', top)
local months = redis.call('HGETALL', K_MONTHS)
for i = 1, #months, 2 do
  if months[i] < this_month then plays = plays + tonumber(string.match(months[i + 1], '|(%d+)$')) end
end

return {
  redis.call('HGET', K_META, 'name'),
  redis.call('ZLEXCOUNT', K_ORDER, '-', top),
  plays,
  redis.call('ZCOUNT', K_FIRST, '-inf', as_of_day),
  redis.call('ZCOUNT', K_SEEN, '-inf', as_of_day),
  redis.call('ZRANGEBYLEX', K_ORDER, '-', top, 'LIMIT', 0, 1)[1] or false,
  redis.call('ZREVRANGEBYLEX', K_ORDER, top, '-', 'LIMIT', 0, 1)[1] or false,
}
