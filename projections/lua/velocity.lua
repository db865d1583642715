--[[ velocity.lua: the songs played most in the windows ending at a date.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: as_of 'YYYY-MM-DD'; ARGV[2..4]: the first day of the 30, 90 and 365 day windows;
ARGV[5]: limit.
Returns: {{song_id, plays up to as_of, plays in 30 days, 90 days, 365 days, score,
          song record JSON}, ...}: the first `limit` songs with a play up to as_of, highest
          score (3 x 30 days + 2 x 90 days + 365 days) first, ties by title then id.

Reads the songs last played in or after the 365 days (the last-play index), each one's
plays in the window (plays_span); only when fewer than `limit` songs were played in it do the
songs at a score of 0 (every other song played up to as_of) make up the rest.
]]
local as_of, d30, d90, d365, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])

local rows = {}
-- the songs last played in or after the 365 days (the last-play index): their plays in the windows
each_summary(redis.call('ZRANGEBYSCORE', K_LAST, day_score(d365), '+inf'), function(song, count, first_sk, last_sk)
  if string.sub(first_sk, 1, 10) > as_of then return end
  local t, from, upto = plays_between(song, d365, as_of)
  local w = {0, 0, 0}
  for entry in entries(t, from, upto) do
    local date = string.sub(entry, 1, 10)
    w[3] = w[3] + 1
    if date >= d90 then w[2] = w[2] + 1 end
    if date >= d30 then w[1] = w[1] + 1 end
  end
  if w[3] > 0 then
    local plays = string.sub(last_sk, 1, 10) <= as_of and count or count_entries(t, upto)
    rows[#rows + 1] = {song, plays, w[1], w[2], w[3], 3 * w[1] + 2 * w[2] + w[3]}
  end
end)

if #rows < limit then
  local scored = {}
  for _, row in ipairs(rows) do scored[row[1]] = true end
  each_song_upto(as_of, function(song, plays)
    if not scored[song] then rows[#rows + 1] = {song, plays, 0, 0, 0, 0} end
  end)
end
return top_rows(rows, 6, limit)
