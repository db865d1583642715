--[[ bustouts.lua: plays dated in a window whose gap since the song's previous play reaches a threshold.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: first day of the window; ARGV[2]: as_of (last day); ARGV[3]: unit 'days' or 'shows';
ARGV[4]: threshold in that unit.
Returns: {{song record JSON, song_id, showkey, previous play's showkey, gap in days, gap in shows,
          show record JSON}, ...} in show order.
]]
local from, as_of, by_days, threshold = ARGV[1], ARGV[2], ARGV[3] == 'days', tonumber(ARGV[4])
local index = show_indexes(as_of)

-- the plays in the window of each song whose plays reach into it, each with the song's play
-- before it
local rows = {}
local summary = redis.call('HGETALL', K_SUMMARY)
for i = 1, #summary, 2 do
  local song = summary[i]
  local _, first_sk, last_sk = parse_summary(summary[i + 1])
  if string.sub(last_sk, 1, 10) >= from and string.sub(first_sk, 1, 10) <= as_of then
    local t = plays_from(song, from)
    local start = cut(t, from, false)
    local prev = entry_before(t, start)
    prev = prev and play_parts(prev) or false
    for entry in entries(t, start, string.sub(last_sk, 1, 10) <= as_of and #t or cut(t, as_of, true)) do
      local sk, pos4 = play_parts(entry)
      if prev then
        local gap_shows = index[sk] - index[prev]
        local gap_days = ordinal(sk) - ordinal(prev)
        if (by_days and gap_days or gap_shows) >= threshold then
          rows[#rows + 1] = {song, sk, pos4, prev, gap_days, gap_shows}
        end
      end
      prev = sk
    end
  end
end

-- in show order
table.sort(rows, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[3] < b[3]
end)
local out = {}
for i, row in ipairs(rows) do
  local song, sk = row[1], row[2]
  out[i] = {redis.call('HGET', K_SONGS, song), song, sk, row[4], row[5], row[6], redis.call('HGET', K_SHOWS, sk_show(sk))}
end
return out
