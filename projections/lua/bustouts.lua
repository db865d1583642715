--[[ bustouts.lua: plays dated in a window whose gap since the song's previous play reaches a threshold.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: first day of the window; ARGV[2]: as_of (last day); ARGV[3]: unit 'days' or 'shows';
ARGV[4]: threshold in that unit.
Returns: {band name or false, {{song record JSON, song_id, showkey, previous play's showkey,
          gap in days, gap in shows, show record JSON}, ...}} in show order.
]]
local from, as_of, by_days, threshold = ARGV[1], ARGV[2], ARGV[3] == 'days', tonumber(ARGV[4])

local days, indexes = {}, {}  -- the ordinal day of a date, the index of a showkey, as read
local function day(sk)
  local date = string.sub(sk, 1, 10)
  if not days[date] then days[date] = ordinal(date) end
  return days[date]
end
local function index(sk)
  if not indexes[sk] then indexes[sk] = show_index(sk) end
  return indexes[sk]
end
-- the showkey of a plays entry (what precedes its position: the entry's third space on)
local function entry_sk(entry)
  return string.sub(entry, 1, string.find(entry, ' ', 19, true) - 1)
end

-- the plays in the window of each song last played in or after it (the last-play index),
-- each with the song's play before it
local rows = {}
each_summary(redis.call('ZRANGEBYSCORE', K_LAST, day_score(from), '+inf'), function(song, _, first_sk)
  if string.sub(first_sk, 1, 10) > as_of then return end
  local t, start, upto = plays_between(song, from, as_of)
  local prev = entry_before(t, start)
  prev = prev and entry_sk(prev)
  for entry in entries(t, start, upto) do
    local sk = entry_sk(entry)
    if prev then
      local gap
      if by_days then gap = day(sk) - day(prev) else gap = index(sk) - index(prev) end
      if gap >= threshold then rows[#rows + 1] = {song, sk, string.sub(entry, #sk + 2, #sk + 5), prev} end
    end
    prev = sk
  end
end)

-- in show order
table.sort(rows, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[3] < b[3]
end)
local out, records = {}, {}  -- records: show records, read once a show
for i, row in ipairs(rows) do
  local song, sk, prev = row[1], row[2], row[4]
  local show = sk_show(sk)
  records[show] = records[show] or redis.call('HGET', K_SHOWS, show)
  out[i] = {redis.call('HGET', K_SONGS, song), song, sk, prev, day(sk) - day(prev), index(sk) - index(prev), records[show]}
end
return {redis.call('HGET', K_META, 'name'), out}
