--[[ trends.lua: countable shows and plays per month, up to a date.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: as_of 'YYYY-MM-DD'.
Returns: {band name or false, {month 'YYYY-MM', shows, plays, ...}} oldest first, months with
         a countable show only: whole months from the month counts, as_of's own month counted
         up to as_of.
]]
local as_of = ARGV[1]
local this_month, top = string.sub(as_of, 1, 7), '(' .. as_of .. '~'

local months = {}
local counts = {}
local flat = redis.call('HGETALL', K_MONTHS)
for i = 1, #flat, 2 do
  if flat[i] < this_month then
    months[#months + 1] = flat[i]
    counts[flat[i]] = flat[i + 1]
  end
end
local shows, plays = shows_and_plays('[' .. this_month .. '-', top)
if shows > 0 then
  months[#months + 1] = this_month
  counts[this_month] = shows .. '|' .. plays
end
table.sort(months)
local rows = {}
for _, month in ipairs(months) do
  local s, p = string.match(counts[month], '^(%d+)|(%d+)$')
  rows[#rows + 1] = month
  rows[#rows + 1] = tonumber(s)
  rows[#rows + 1] = tonumber(p)
end
return {redis.call('HGET', K_META, 'name'), rows}
