--[[ bustouts.lua: plays dated in a window whose gap since the song's previous play reaches a threshold.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: first day of the window; ARGV[2]: as_of (last day); ARGV[3]: unit 'days' or 'shows';
ARGV[4]: threshold in that unit.
Returns: {{song record JSON, song_id, showkey, previous play's showkey, gap in days, gap in shows,
          show record JSON}, ...} in show order.
]]
local from, as_of, by_days, threshold = ARGV[1], ARGV[2], ARGV[3] == 'days', tonumber(ARGV[4])
local index = show_indexes(as_of)

-- each song's plays in the window, read only for songs whose last play is not before it; a
-- play's previous play is the song's preceding play in the window, or, for its first play
-- there, one read of the song's plays before it
local rows = {}
local summary = redis.call('HGETALL', K_SUMMARY)
for i = 1, #summary, 2 do
  local song = summary[i]
  local _, first_sk, last_sk = parse_summary(summary[i + 1])
  if string.sub(last_sk, 1, 10) >= from and string.sub(first_sk, 1, 10) <= as_of then
    local prev
    for _, m in ipairs(redis.call('ZRANGEBYLEX', K_PLAYS, '[' .. song .. ' ' .. from, upto(song, as_of))) do
      local sk, pos4 = play_parts(m)
      if prev == nil then
        local member = previous_play(song, sk, pos4)
        prev = member and play_parts(member) or false
      end
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
