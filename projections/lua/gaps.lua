--[[ gaps.lua: the songs longest unplayed as of a date, with their plays and shows played.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: as_of 'YYYY-MM-DD'; ARGV[2]: its ordinal day; ARGV[3]: min_plays; ARGV[4]: sort
('days' or 'shows'); ARGV[5]: limit.
Returns: {countable shows up to as_of, {{song_id, plays, shows played, first play showkey,
          last play showkey, index of first show, index of last show, days or shows since,
          song record JSON}, ...}}: the first `limit` songs with at least max(min_plays, 1)
          plays up to as_of, longest gap (in the sort unit) first, ties by title then id.
]]
local as_of, as_of_day = ARGV[1], tonumber(ARGV[2])
local min_plays, by_days, limit = math.max(tonumber(ARGV[3]), 1), ARGV[4] == 'days', tonumber(ARGV[5])
local index, total = show_indexes(as_of)

local repeats = {}
for _, m in ipairs(redis.call('ZRANGEBYLEX', K_REPEATS, '-', '+')) do
  local song, date = string.match(m, '^(%S+) (%S+)')
  if date <= as_of then repeats[song] = (repeats[song] or 0) + 1 end
end

local rows = {}
each_song_upto(as_of, function(song, plays, first_sk, last)
  if plays >= min_plays then
    local last_index = index[last]
    local since = by_days and (as_of_day - ordinal(last)) or (total - 1 - last_index)
    rows[#rows + 1] = {song, plays, plays - (repeats[song] or 0), first_sk, last, index[first_sk], last_index, since}
  end
end)
return {total, top_rows(rows, 8, limit)}
