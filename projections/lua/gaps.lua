--[[ gaps.lua: the songs longest unplayed as of a date, with their plays and shows played.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: as_of 'YYYY-MM-DD'; ARGV[2]: its ordinal day; ARGV[3]: min_plays; ARGV[4]: sort
('days' or 'shows'); ARGV[5]: limit.
Returns: {countable shows up to as_of, {{song_id, plays, shows played, first play showkey,
          last play showkey, index of first show, index of last show, days or shows since,
          song record JSON}, ...}}: the first `limit` songs with at least max(min_plays, 1)
          plays up to as_of, longest gap (in the sort unit) first, ties by title then id.

Reads only the songs it may answer with: those last played up to as_of come from the
last-play index (of regulars, for a min_plays of REGULAR or more), least recently played
first, until `limit` rows and their ties are found; a song played again after as_of (a
historical as_of) comes from the index of long stretches between plays (K_HIATUSES) when
the rows' gaps are long enough for it to hold them all, else it is looked up in its plays
only when its first play (the first-play index), and the last year before as_of's it was
played in (its marks), are long enough ago for it to reach those rows.
]]
local as_of, as_of_day = ARGV[1], tonumber(ARGV[2])
local min_plays, by_days, limit = math.max(tonumber(ARGV[3]), 1), ARGV[4] == 'days', tonumber(ARGV[5])
local total = redis.call('ZLEXCOUNT', K_ORDER, '-', '(' .. as_of .. '~')

-- days or shows from a play's showkey to as_of
local function since(sk)
  if by_days then return as_of_day - ordinal(sk) end
  return total - 1 - show_index(sk)
end

local rows = {}  -- {song, plays, first play showkey, last play showkey, since}
local bar        -- once `limit` rows are found, the shortest gap among them
local past       -- the score (day and show order) of the first song found below the bar
local offset, next_day = 0, day_score(as_of) + 1000000  -- the lowest score after as_of
repeat
  local flat = redis.call('ZRANGEBYSCORE', last_index(min_plays), '-inf', '(' .. next_day, 'WITHSCORES', 'LIMIT', offset, 128)
  local songs = {}
  for i = 1, #flat, 2 do songs[#songs + 1] = flat[i] end
  offset = offset + #songs
  local summaries = hmget(K_SUMMARY, songs)
  for i, song in ipairs(songs) do
    -- the songs with too few plays are passed over unread; for the others, days since come
    -- from the score, shows since from the last play's place in show order
    if tonumber(string.match(summaries[i], '^%d+')) >= min_plays then
      local score = tonumber(flat[2 * i])
      -- every later song was played at a later show, but for those of the same date and show
      -- order (one score), whose shows may come in either order
      if past and score ~= past then
        songs = {}
        break
      end
      local plays, first_sk, last_sk = parse_summary(summaries[i])
      local n = by_days and as_of_day - math.floor(score / 1000000) or since(last_sk)
      if bar and n < bar then
        past = past or score
      else
        rows[#rows + 1] = {song, plays, first_sk, last_sk, n}
        if #rows == limit then
          bar = n
          for _, row in ipairs(rows) do bar = math.min(bar, row[5]) end
        end
      end
    end
  end
until #songs < 128

local best = {}  -- the `limit` longest gaps so far, longest first
for i, row in ipairs(rows) do best[i] = row[5] end
table.sort(best, function(a, b) return a > b end)
for i = limit + 1, #best do best[i] = nil end
local function reaches(n) return #best < limit or n >= best[limit] end
local year_starts = {}  -- year -> days or shows from its start to as_of (the longest gap since)
local function since_year(y)
  if year_starts[y] == nil then
    if by_days then
      year_starts[y] = as_of_day - ordinal(y .. '-01-01')
    else
      year_starts[y] = total - 1 - redis.call('ZLEXCOUNT', K_ORDER, '-', '(' .. y)
    end
  end
  return year_starts[y]
end
-- the last day a first play may be on for the song's gap to reach the `limit` longest so far
-- (nil: any day); for shows, the day of the show that many shows before as_of
local last_days = {}
local function last_day()
  if #best < limit then return nil end
  if by_days then return as_of_day - best[limit] end
  if last_days[best[limit]] == nil then
    last_days[best[limit]] = ordinal(redis.call('ZRANGE', K_ORDER, total - 1 - best[limit], total - 1 - best[limit])[1])
  end
  return last_days[best[limit]]
end
-- a gap found: kept among the `limit` longest so far
local function keep(n)
  local at = #best + 1
  while at > 1 and best[at - 1] < n do at = at - 1 end
  if at <= limit then
    table.insert(best, at, n)
    best[limit + 1] = nil
  end
end
local done = redis.call('ZCOUNT', last_index(min_plays), next_day, '+inf') == 0

-- the songs played again after as_of (a historical as_of), from the stretches of HIATUS
-- days or more between two plays of a song (K_HIATUSES): one range a year, from the band's
-- first, reads the stretches that begin that year and end after as_of, those that hold it,
-- until a year begins after the last day a gap that reaches the rows may begin on. Their
-- rows are complete if no shorter stretch could reach them; else they are found below.
if not done then
  local found, ids, saved = {}, {}, {unpack(best)}
  for y = first_year(as_of), tonumber(string.sub(as_of, 1, 4)) do
    local day = last_day()
    if day and ordinal(string.format('%04d-01-01', y)) > day then break end
    for _, stretch in ipairs(stretches(y, as_of_day + 1, math.huge)) do
      local song, sk, plays = stretch[1], stretch[2], stretch[3]
      if plays >= min_plays and string.sub(sk, 1, 10) <= as_of then
        local n = since(sk)
        if reaches(n) then
          found[#found + 1] = {song, plays, false, sk, n}
          ids[#found] = song
          keep(n)
        end
      end
    end
  end
  local day = last_day()
  if day and as_of_day - day + 1 >= HIATUS then
    local summaries = hmget(K_SUMMARY, ids)
    for i, row in ipairs(found) do
      local _, first_sk = parse_summary(summaries[i])
      row[3] = first_sk
      rows[#rows + 1] = row
    end
    done = true
  else
    best = saved
  end
end

-- otherwise, their plays up to as_of read in the order of their first plays (the first-play
-- index), until even a last play at a song's first play could not reach the `limit`
-- longest gaps. A song's marks bound its gap first: its last play up to as_of is no earlier
-- than the start of the last year before as_of's that it was played in, so its plays are
-- read only if a gap from there could reach them.
local year_before_as_of = string.format('%04d', tonumber(string.sub(as_of, 1, 4)) - 1)
offset = 0
while not done do
  local flat = redis.call('ZRANGEBYSCORE', K_FIRST, '-inf', as_of_day, 'WITHSCORES', 'LIMIT', offset, 64)
  offset = offset + #flat / 2
  done = #flat < 128
  local songs, first_days = {}, {}
  for i = 1, #flat, 2 do
    local day = last_day()
    if day and tonumber(flat[i + 1]) > day then
      done = true
      break
    end
    songs[#songs + 1] = flat[i]
    first_days[#songs] = tonumber(flat[i + 1])
  end
  -- those played after as_of, whose marks let their gap reach the rows so far
  local lasts = #songs > 0 and redis.call('ZMSCORE', last_index(min_plays), unpack(songs)) or {}
  local after = {}
  for i, song in ipairs(songs) do
    if lasts[i] and tonumber(lasts[i]) >= next_day then after[#after + 1] = i end
  end
  local ids, days, marks = {}, {}, {}
  if #after > 0 then
    local names = {}
    for j, i in ipairs(after) do names[j] = songs[i] end
    local all_marks = hmget(K_MARKS, names)
    for j, i in ipairs(after) do
      local m = all_marks[j] or ''
      local before = year_upto(m, year_before_as_of)
      if not before or reaches(since_year(before)) then
        ids[#ids + 1] = names[j]
        days[#ids] = first_days[i]
        marks[#ids] = m
      end
    end
  end
  local summaries = hmget(K_SUMMARY, ids)
  for i, song in ipairs(ids) do
    local count, first_sk, last_sk = parse_summary(summaries[i])
    local day = last_day()
    if count >= min_plays and not (day and days[i] > day) then
      local plays, last = plays_upto(song, count, last_sk, as_of, marks[i])
      if plays >= min_plays then
        local n = since(last)
        rows[#rows + 1] = {song, plays, first_sk, last, n}
        keep(n)
      end
    end
  end
end

local out = {}
for i, row in ipairs(top_rows(rows, 5, limit)) do
  local song, plays, first_sk, last_sk = row[1], row[2], row[3], row[4]
  local repeats = redis.call('ZLEXCOUNT', K_REPEATS, lo(song), '(' .. song .. ' ' .. as_of .. '~')
  -- by shows, the last play's index is where its gap came from
  local last_at = by_days and show_index(last_sk) or total - 1 - row[5]
  out[i] = {song, plays, plays - repeats, first_sk, last_sk, show_index(first_sk), last_at, row[5], row[6]}
end
return {total, out}
