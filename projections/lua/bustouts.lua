--[[ bustouts.lua: plays dated in a window whose gap since the song's previous play reaches a threshold.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: first day of the window; ARGV[2]: as_of (last day); ARGV[3]: unit 'days' or 'shows';
ARGV[4]: threshold in that unit; ARGV[5]: where the scan of shows begins: the first day of
the window for a threshold of HIATUS days or more, else HIATUS days before it.
Returns: {band name or false, {{song record JSON, song_id, showkey, previous play's showkey,
          gap in days, gap in shows, place of its show's record (from 1)}, ...} in show order,
          {show record JSON, ...}}.
]]
local from, as_of, by_days, threshold, scan_from = ARGV[1], ARGV[2], ARGV[3] == 'days', tonumber(ARGV[4]), ARGV[5]

-- the countable shows from the scan's first day to as_of, and their indexes in show order
-- (any other show's is read when asked for)
local order = shows_between(scan_from, as_of)
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
-- of its song; a song's first play in the scan is a candidate (its previous play unknown
-- yet), kept in its place. The play before it is before the scan: if the scan begins HIATUS
-- days before the window, more than HIATUS days before that play; if it begins with the
-- window (a threshold of HIATUS days or more), it makes a bustout only if it is HIATUS days
-- or more before. Either way, such a play is a stretch of the index (after the scan).
local candidates, last = {}, {}  -- last: song code -> the showkey of its play last seen
each_setlist(order, function(sk, setlist)
  local inside, at = sk >= from, 0
  for code in string.gmatch(setlist, '%S+') do
    at = at + 1
    local prev = last[code]
    if inside and (prev == nil or gap(prev, sk) >= threshold) then
      candidates[#candidates + 1] = {code, sk, at, prev or false}
    end
    last[code] = sk
  end
end)
local codes = {}
for i, row in ipairs(candidates) do codes[i] = row[1] end
for i, song in ipairs(code_songs(codes)) do candidates[i][1] = song end
-- the stretches of HIATUS days or more (K_HIATUSES) that begin by the scan's first year and
-- end in the window (one range a year), by song and the day they end on: the play before
-- each first play in the scan, where it may make a bustout
local ends, from_day, as_of_day = {}, ordinal(from), ordinal(as_of)  -- ends: song -> day -> showkey
for y = first_year(from), tonumber(string.sub(scan_from, 1, 4)) do
  for _, stretch in ipairs(stretches(y, from_day, as_of_day)) do
    local by_day = ends[stretch[1]]
    if not by_day then
      by_day = {}
      ends[stretch[1]] = by_day
    end
    by_day[stretch[4]] = stretch[2]
  end
end
local rows = {}  -- in show order
for _, row in ipairs(candidates) do
  if not row[4] then
    local by_day = ends[row[1]]
    local prev = by_day and by_day[day(row[2])]
    row[4] = prev and gap(prev, row[2]) >= threshold and prev
  end
  if row[4] then rows[#rows + 1] = row end
end
local out, shows, at, songs, sks = {}, {}, {}, {}, {}  -- shows: each show once; at: show -> its place there
for i, row in ipairs(rows) do sks[i] = row[2] end
local ids = sk_ids(sks)
for i, row in ipairs(rows) do
  local show = ids[i]
  if not at[show] then
    shows[#shows + 1] = show
    at[show] = #shows
  end
  songs[i] = row[1]
end
local song_records = hmget(K_SONGS, songs)
for i, row in ipairs(rows) do
  local song, sk, prev = row[1], row[2], row[4]
  out[i] = {song_records[i], song, string.sub(sk, 1, SHOWKEY_ID - 1) .. ids[i], prev, day(sk) - day(prev),
            index(sk) - index(prev), at[ids[i]]}
end
return {redis.call('HGET', K_META, 'name'), out, hmget(K_SHOWS, shows)}
