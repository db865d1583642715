--[[ bustouts.lua: plays dated in a window whose gap since the song's previous play reaches a threshold.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: first day of the window; ARGV[2]: as_of (last day); ARGV[3]: unit 'days' or 'shows';
ARGV[4]: threshold in that unit.
Returns: {band name or false, {{song record JSON, song_id, showkey, previous play's showkey,
          gap in days, gap in shows, place of its show's record (from 1)}, ...} in show order,
          {show record JSON, ...}}.
]]
local from, as_of, by_days, threshold = ARGV[1], ARGV[2], ARGV[3] == 'days', tonumber(ARGV[4])

-- the countable shows from the first day of the window's first year to as_of, and their
-- indexes in show order (any other show's is read when asked for)
local order = shows_between(string.sub(from, 1, 4) .. '-01-01', as_of)
local days, indexes = {}, {}  -- the ordinal day of a date, the index of a showkey
if #order > 0 then
  local first = show_index(order[1])
  for i, sk in ipairs(order) do indexes[sk] = first + i - 1 end
end
local function day(sk)
  if not days[sk] then days[sk] = ordinal(sk) end
  return days[sk]
end
local function index(sk)
  if not indexes[sk] then indexes[sk] = show_index(sk) end
  return indexes[sk]
end
local function gap(prev, sk)
  if by_days then return day(sk) - day(prev) end
  return index(sk) - index(prev)
end

-- the plays of those shows (their setlists), in show order, each after the play before it
-- of its song; a song's first play since the start of that year is the first of its year,
-- so the play before it is the entry before that year's mark in its packed plays (after the scan)
local rows, last, firsts = {}, {}, {}  -- last: song -> the showkey of its play last seen
each_setlist(order, function(sk, setlist)
  local inside, at = sk >= from, 0
  for song in string.gmatch(setlist, '%S+') do
    at = at + 1
    local prev = last[song]
    if inside and prev == nil then
      firsts[#firsts + 1] = {song, sk, at}
    elseif inside and gap(prev, sk) >= threshold then
      rows[#rows + 1] = {song, sk, at, prev}
    end
    last[song] = sk
  end
end)
if by_days and threshold >= HIATUS then
  -- a gap of the threshold or more is a stretch of HIATUS days or more (K_HIATUSES): those
  -- that begin before that year (one range a year) and end in the window, by song and the
  -- day they end on, give the play before each first play they end at
  local ends = {}
  for y = first_year(from), tonumber(string.sub(from, 1, 4)) - 1 do
    for _, stretch in ipairs(stretches(y, ordinal(from), ordinal(as_of))) do
      ends[stretch[1] .. ' ' .. stretch[4]] = stretch[2]
    end
  end
  for _, first in ipairs(firsts) do
    local song, sk, at = first[1], first[2], first[3]
    local prev = ends[song .. ' ' .. day(sk)]
    if prev and gap(prev, sk) >= threshold then rows[#rows + 1] = {song, sk, at, prev} end
  end
else
  local ids = {}
  for i, first in ipairs(firsts) do ids[i] = first[1] end
  each_marks(ids, function(i, marks)
    local song, sk, at = firsts[i][1], firsts[i][2], firsts[i][3]
    local prev = entry_before_mark(song, marks, sk)
    if prev == false then prev = previous_play(song, sk, '') end  -- the marks do not point at it
    prev = prev and string.sub(prev, 1, string.find(prev, ' ', 19, true) - 1)  -- its showkey
    if prev and gap(prev, sk) >= threshold then rows[#rows + 1] = {song, sk, at, prev} end
  end)
end

-- in show order
table.sort(rows, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[3] < b[3]
end)
local out, shows, at, songs = {}, {}, {}, {}  -- shows: each show once; at: show -> its place there
for i, row in ipairs(rows) do
  local show = sk_show(row[2])
  if not at[show] then
    shows[#shows + 1] = show
    at[show] = #shows
  end
  songs[i] = row[1]
end
local song_records = hmget(K_SONGS, songs)
for i, row in ipairs(rows) do
  local song, sk, prev = row[1], row[2], row[4]
  out[i] = {song_records[i], song, sk, prev, day(sk) - day(prev), index(sk) - index(prev), at[sk_show(sk)]}
end
return {redis.call('HGET', K_META, 'name'), out, hmget(K_SHOWS, shows)}
