--[[ velocity.lua: the songs played most in the windows ending at a date.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: as_of 'YYYY-MM-DD'; ARGV[2..4]: the first day of the 30, 90 and 365 day windows;
ARGV[5]: limit.
Returns: {{song_id, plays up to as_of, plays in 30 days, 90 days, 365 days, score,
          song record JSON}, ...}: the first `limit` songs with a play up to as_of, highest
          score (3 x 30 days + 2 x 90 days + 365 days) first, ties by title then id.

Reads the plays in the 365 days from the setlists of the shows in them (not song by song);
only for the rows kept, a song's plays up to as_of come from its summary, or, if it was
played again after as_of, from its marks and the plays of as_of's year counted here. Only
when fewer than `limit` songs were played in the 365 days do the songs at a score of 0
(every other song played up to as_of, the first by title) make up the rest.
]]
local as_of, d30, d90, d365, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])

-- counts: song code -> its plays in the 30, 90 and 365 days, and in as_of's year (which
-- the 365 days hold) up to as_of
local rows, counts, codes = {}, {}, {}
local year = string.sub(as_of, 1, 4)
each_setlist(shows_between(d365, as_of), function(sk, setlist)
  local date = string.sub(sk, 1, 10)
  local in90, in30, this_year = date >= d90, date >= d30, string.sub(date, 1, 4) == year
  for code in string.gmatch(setlist, '%S+') do
    local w = counts[code]
    if not w then
      w = {0, 0, 0, 0}
      counts[code] = w
      codes[#codes + 1] = code
    end
    w[3] = w[3] + 1
    if in90 then w[2] = w[2] + 1 end
    if in30 then w[1] = w[1] + 1 end
    if this_year then w[4] = w[4] + 1 end
  end
end)
-- the songs that can be among the first `limit` by score (those at the limit's score or
-- above, or all of them if there are fewer), by song_id: only their codes are read
local scores = {}
for i, code in ipairs(codes) do
  local w = counts[code]
  w[5] = 3 * w[1] + 2 * w[2] + w[3]
  scores[i] = -w[5]
end
table.sort(scores)
local cut = #codes > limit and -scores[limit] or 0
local kept = {}
for _, code in ipairs(codes) do
  if counts[code][5] >= cut then kept[#kept + 1] = code end
end
local songs, by_song = {}, {}  -- by_song: song_id -> its counts
for i, code in ipairs(kept) do songs[i] = code end
for i, song in ipairs(code_songs(songs)) do
  local w = counts[kept[i]]
  by_song[song] = w
  rows[#rows + 1] = {song, false, w[1], w[2], w[3], w[5]}
end
local function ids_of(list)
  local out = {}
  for i, row in ipairs(list) do out[i] = row[1] end
  return out
end

if #rows < limit then
  -- the rest at a score of 0: the songs with a play up to as_of (the first-play index) not
  -- scored, the first by title then id
  local scored, rest = {}, {}
  for _, row in ipairs(rows) do scored[row[1]] = true end
  for _, song in ipairs(redis.call('ZRANGEBYSCORE', K_FIRST, '-inf', ordinal(as_of))) do
    if not scored[song] then rest[#rest + 1] = {song} end
  end
  for i, record in ipairs(hmget(K_SONGS, ids_of(rest))) do rest[i].title = song_title(record) end
  table.sort(rest, function(a, b)
    if a.title ~= b.title then return a.title < b.title end
    return a[1] < b[1]
  end)
  for i = 1, math.min(#rest, limit - #rows) do rows[#rows + 1] = {rest[i][1], false, 0, 0, 0, 0} end
end
-- plays up to as_of, for the rows kept only: the summary's, or, for a song played again
-- since, read below
local out, later, ids = top_rows(rows, 6, limit), {}, {}
local summaries = hmget(K_SUMMARY, ids_of(out))
for i, row in ipairs(out) do
  local count, _, last_sk = parse_summary(summaries[i])
  if string.sub(last_sk, 1, 10) <= as_of then
    row[2] = count
  else
    row[2] = {count, last_sk}
    later[#later + 1] = row
    ids[#ids + 1] = row[1]
  end
end
-- a song played again after as_of: its plays before as_of's year are those its marks count
-- before the first year from that one on, its plays in the year up to as_of were counted
-- above. Without marks, they are read up to as_of.
each_marks(ids, function(i, marks)
  local row = later[i]
  local from = marks_upto(marks, string.format('%04d', tonumber(year) - 1)) + 1
  if from <= #marks / MARK then
    local w = by_song[row[1]]
    row[2] = mark_plays(marks, from) + (w and w[4] or 0)  -- none: not played in the 365 days
  else
    row[2] = plays_upto(row[1], row[2][1], row[2][2], as_of, marks)
  end
end)
return out
