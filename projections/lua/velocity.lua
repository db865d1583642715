--[[ velocity.lua: the songs played most in the windows ending at a date.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: as_of 'YYYY-MM-DD'; ARGV[2..4]: the first day of the 30, 90 and 365 day windows;
ARGV[5]: limit.
Returns: {{song_id, plays up to as_of, plays in 30 days, 90 days, 365 days, score,
          song record JSON}, ...}: the first `limit` songs with a play up to as_of, highest
          score (3 x 30 days + 2 x 90 days + 365 days) first, ties by title then id.
]]
local as_of, d30, d90, d365, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])

local rows = {}
each_song_upto(as_of, function(song, plays, _, last, s)
  local w = {0, 0, 0}
  -- the song's plays in the 365 days, read only when its last play falls in them
  if string.sub(last, 1, 10) >= d365 then
    local t = s or plays_from(song, d365)
    for entry in entries(t, cut(t, d365, false), cut(t, as_of, true)) do
      local date = string.sub(entry, 1, 10)
      w[3] = w[3] + 1
      if date >= d90 then w[2] = w[2] + 1 end
      if date >= d30 then w[1] = w[1] + 1 end
    end
  end
  rows[#rows + 1] = {song, plays, w[1], w[2], w[3], 3 * w[1] + 2 * w[2] + w[3]}
end)
return top_rows(rows, 6, limit)
