--[[ gaps.lua: the songs longest unplayed as of a date, with their plays and shows played.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: as_of 'YYYY-MM-DD'; ARGV[2]: its ordinal day; ARGV[3]: min_plays; ARGV[4]: sort
('days' or 'shows'); ARGV[5]: limit.
Returns: {countable shows up to as_of, {{song_id, plays, shows played, first play showkey,
          last play showkey, index of first show, index of last show, days or shows since,
          song record JSON}, ...}}: the first `limit` songs with at least max(min_plays, 1)
          plays up to as_of, longest gap (in the sort unit) first, ties by title then id.

Reads only the songs it may answer with, by three strategies in turn, each a function below:
1. from_last_plays: the songs last played up to as_of, from the last-play index (of regulars,
   for a min_plays of REGULAR or more), least recently played first, until `limit` rows and
   their ties are found. For today's as_of this is the whole answer.
2. from_hiatuses: the songs played again after as_of (a historical as_of), from the index of
   long stretches between plays (K_HIATUSES), when the rows' gaps are long enough for it to
   hold them all.
3. from_first_plays: else those songs in the order of their first plays, each looked up in
   its plays only when its first play and the last year before as_of's it was played in (its
   marks) are long enough ago for it to reach the rows.
The tie rule, once (`reaches`): a gap as long as the `limit`-th longest so far is kept as a
candidate; the rows are cut to `limit` at the end, ties by title then id (lib's top_rows).
]]

-- what every strategy reads: the question, and the countable shows up to as_of
local q = {
  as_of = ARGV[1],
  as_of_day = tonumber(ARGV[2]),
  min_plays = math.max(tonumber(ARGV[3]), 1),
  by_days = ARGV[4] == 'days',
  limit = tonumber(ARGV[5]),
}
q.total = redis.call('ZLEXCOUNT', K_ORDER, '-', '(' .. q.as_of .. '~')
q.next_day = day_score(q.as_of) + DAY_SCORE  -- the lowest last-play score after as_of
q.index = last_index(q.min_plays)
q.show_days = {}  -- shows before as_of -> the day of that show (read once each: see last_day)

-- days or shows from a play's showkey to as_of
local function since(sk)
  if q.by_days then return q.as_of_day - ordinal(sk) end
  return q.total - 1 - show_index(sk)
end

-- days or shows from the start of year `y` to as_of (the longest gap of a song last played in it)
local function since_year(y)
  if q.by_days then return q.as_of_day - ordinal(y .. '-01-01') end
  return q.total - 1 - redis.call('ZLEXCOUNT', K_ORDER, '-', '(' .. y)
end

-- the `limit` longest gaps found so far, longest first
local function reaches(best, n) return #best < q.limit or n >= best[q.limit] end

local function keep(best, n)
  local at = #best + 1
  while at > 1 and best[at - 1] < n do at = at - 1 end
  if at <= q.limit then
    table.insert(best, at, n)
    best[q.limit + 1] = nil
  end
end

-- the last day a first play may be on for the song's gap to reach `best` (nil: any day); for
-- shows, the day of the show that many shows before as_of
local function last_day(best)
  if #best < q.limit then return nil end
  local n = best[q.limit]
  if q.by_days then return q.as_of_day - n end
  if q.show_days[n] == nil then
    q.show_days[n] = ordinal(redis.call('ZRANGE', K_ORDER, q.total - 1 - n, q.total - 1 - n)[1])
  end
  return q.show_days[n]
end

-- 1. the songs last played up to as_of, least recently first: rows {song, plays, first play
-- showkey, last play showkey, since} appended to `rows`, their gaps kept in `best`
local function from_last_plays(rows, best)
  local offset, past = 0, nil  -- past: the score of the first song found that cannot reach
  repeat
    local flat = redis.call('ZRANGEBYSCORE', q.index, '-inf', '(' .. q.next_day, 'WITHSCORES', 'LIMIT', offset, 128)
    local songs = {}
    for i = 1, #flat, 2 do songs[#songs + 1] = flat[i] end
    offset = offset + #songs
    local summaries = hmget(K_SUMMARY, songs)
    for i, song in ipairs(songs) do
      -- the songs with too few plays are passed over unread; for the others, days since come
      -- from the score, shows since from the last play's place in show order
      if tonumber(string.match(summaries[i], '^%d+')) >= q.min_plays then
        local score = tonumber(flat[2 * i])
        -- every later song was played at a later show, but for those of the same date and show
        -- order (one score), whose shows may come in either order
        if past and score ~= past then return end
        local plays, first_sk, last_sk = parse_summary(summaries[i])
        local n = q.by_days and q.as_of_day - math.floor(score / DAY_SCORE) or since(last_sk)
        if reaches(best, n) then
          rows[#rows + 1] = {song, plays, first_sk, last_sk, n}
          keep(best, n)
        else
          past = past or score
        end
      end
    end
  until #songs < 128
end

-- 2. the songs played again after as_of, from the stretches of HIATUS days or more between
-- two plays of a song (K_HIATUSES): one range a year, from the band's first, reads the
-- stretches that begin that year and end after as_of, those that hold it, until a year begins
-- after the last day a gap that reaches the rows may begin on. Their rows are complete (and
-- appended: true) if no shorter stretch could reach them; else nothing changes.
local function from_hiatuses(rows, best)
  local found, ids, trial = {}, {}, {unpack(best)}
  for y = first_year(q.as_of), tonumber(string.sub(q.as_of, 1, 4)) do
    local day = last_day(trial)
    if day and ordinal(string.format('%04d-01-01', y)) > day then break end
    for _, stretch in ipairs(stretches(y, q.as_of_day + 1, math.huge)) do
      local song, sk, plays = stretch[1], stretch[2], stretch[3]
      if plays >= q.min_plays and string.sub(sk, 1, 10) <= q.as_of then
        local n = since(sk)
        if reaches(trial, n) then
          found[#found + 1] = {song, plays, false, sk, n}
          ids[#found] = song
          keep(trial, n)
        end
      end
    end
  end
  local day = last_day(trial)
  if not (day and q.as_of_day - day + 1 >= HIATUS) then return false end
  local summaries = hmget(K_SUMMARY, ids)
  for i, row in ipairs(found) do
    local _, first_sk = parse_summary(summaries[i])
    row[3] = first_sk
    rows[#rows + 1] = row
  end
  return true
end

-- 3. the songs played again after as_of, their plays up to as_of read in the order of their
-- first plays (the first-play index), until even a last play at a song's first play could
-- not reach `best`. A song's marks bound its gap first: its last play up to as_of is no
-- earlier than the start of the last year before as_of's that it was played in, so its plays
-- are read only if a gap from there could reach them.
local function from_first_plays(rows, best)
  local year_before_as_of = string.format('%04d', tonumber(string.sub(q.as_of, 1, 4)) - 1)
  local year_gaps = {}  -- year -> since_year(year), each read once
  local offset, done = 0, false
  while not done do
    local flat = redis.call('ZRANGEBYSCORE', K_FIRST, '-inf', q.as_of_day, 'WITHSCORES', 'LIMIT', offset, 64)
    offset = offset + #flat / 2
    done = #flat < 128
    local songs, first_days = {}, {}
    for i = 1, #flat, 2 do
      local day = last_day(best)
      if day and tonumber(flat[i + 1]) > day then
        done = true
        break
      end
      songs[#songs + 1] = flat[i]
      first_days[#songs] = tonumber(flat[i + 1])
    end
    -- those played after as_of, whose marks let their gap reach the rows so far
    local lasts = #songs > 0 and redis.call('ZMSCORE', q.index, unpack(songs)) or {}
    local after = {}
    for i in ipairs(songs) do
      if lasts[i] and tonumber(lasts[i]) >= q.next_day then after[#after + 1] = i end
    end
    local ids, days, marks = {}, {}, {}
    if #after > 0 then
      local names = {}
      for j, i in ipairs(after) do names[j] = songs[i] end
      local all_marks = hmget(K_MARKS, names)
      for j, i in ipairs(after) do
        local m = all_marks[j] or ''
        local before = year_upto(m, year_before_as_of)
        if before and year_gaps[before] == nil then year_gaps[before] = since_year(before) end
        if not before or reaches(best, year_gaps[before]) then
          ids[#ids + 1] = names[j]
          days[#ids] = first_days[i]
          marks[#ids] = m
        end
      end
    end
    local summaries = hmget(K_SUMMARY, ids)
    for i, song in ipairs(ids) do
      local count, first_sk, last_sk = parse_summary(summaries[i])
      local day = last_day(best)
      if count >= q.min_plays and not (day and days[i] > day) then
        local plays, last = plays_upto(song, count, last_sk, q.as_of, marks[i])
        if plays >= q.min_plays then
          local n = since(last)
          rows[#rows + 1] = {song, plays, first_sk, last, n}
          keep(best, n)
        end
      end
    end
  end
end

local rows, best = {}, {}
from_last_plays(rows, best)
if redis.call('ZCOUNT', q.index, q.next_day, '+inf') > 0 and not from_hiatuses(rows, best) then
  from_first_plays(rows, best)
end

local out = {}
for i, row in ipairs(top_rows(rows, 5, q.limit)) do
  local song, plays, first_sk, last_sk = row[1], row[2], row[3], row[4]
  local repeats = redis.call('ZLEXCOUNT', K_REPEATS, lo(song), '(' .. song .. ' ' .. q.as_of .. '~')
  -- by shows, the last play's index is where its gap came from
  local last_at = q.by_days and show_index(last_sk) or q.total - 1 - row[5]
  out[i] = {song, plays, plays - repeats, first_sk, last_sk, show_index(first_sk), last_at, row[5], row[6]}
end
return {q.total, out}
