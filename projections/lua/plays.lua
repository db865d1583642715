-- plays.lua: each song's packed plays and their marks (read after lib.lua, before each script)

--[[ A song's plays are packed in one string, the field song_id of the plays hash (K_PLAYS): an
entry "showkey pos4 set n" per play
(n: 1 for its first play, 2 for the next...), each ended by a newline, in ascending order
(show order, then position). One string per song instead of a sorted-set member per play
keeps a play in about a third of the memory. Entries start with their date and are sorted,
so what is dated up to a day, or comes before a play, is one prefix of the string, found by
bisection, and its last entry tells how many it holds; the questions asked most (the last
year, the play before a recent one) need only the end of the string. A script reads each
song's string once (``packed_plays``) and keeps it for the rest of the call.

A song's marks (K_MARKS, field song_id) say where in that string each year it was played in
begins and how many plays came before: "YYYY offset n\n" per year, ascending, offset the
byte at which the year's first entry starts (ten digits) and n the number of the entries
before it (seven digits). A question about some years reads those years' part of the string
(plays_span), not the whole of it, and `velocity` takes a song's plays before a year from
that year's mark. Every mark must be true and none missing, so the apply writes marks as it
appends plays and rewrites them from the first entry it renumbers when it rewrites the
string (a song without marks is read the long way, from its packed plays). ]]

local PACKED = {}  -- song_id -> its packed plays, as read or written by this call

local function packed_plays(song)
  local s = PACKED[song]
  if s == nil then
    s = redis.call('HGET', K_PLAYS, song) or ''
    PACKED[song] = s
  end
  return s
end

-- write a song's packed plays ('': it has none)
local function write_packed(song, s)
  PACKED[song] = s
  if s == '' then redis.call('HDEL', K_PLAYS, song) else redis.call('HSET', K_PLAYS, song, s) end
end

-- the length of the prefix of packed plays `s` whose entries begin with something below `key`
-- (or equal to it, with `inclusive`): a whole number of entries. Most keys asked for are
-- recent dates, so the search gallops back from the end before it bisects.
local function cut(s, key, inclusive)
  local n = #key
  local lo_, hi_ = 0, #s  -- entry boundaries: entries before lo_ are in, entries from hi_ are out
  -- is the entry after boundary b in? if so, lo_ moves past it, else hi_ moves to b
  local function probe(b)
    local head = string.sub(s, b + 1, b + n)
    if head < key or (inclusive and head == key) then
      lo_ = string.find(s, '\n', b + 1, true)
      return true
    end
    hi_ = b
    return false
  end
  local step = 128
  while hi_ - step > lo_ do
    local b = string.find(s, '\n', hi_ - step, true)  -- the end of the entry holding that byte
    if b < hi_ and probe(b) then break end
    step = step * 2
  end
  while lo_ < hi_ do
    local b = lo_
    local mid = math.floor((lo_ + hi_) / 2)
    if mid > lo_ then
      b = string.find(s, '\n', mid, true)  -- the end of the entry holding byte mid
      if b >= hi_ then b = lo_ end
    end
    probe(b)
  end
  return lo_
end

-- the last entry of the first `len` bytes of packed plays (a whole number of entries), or nil
local function entry_before(s, len)
  if len == 0 then return nil end
  local window = 128
  while true do
    local from = math.max(1, len - window)
    local tail = string.sub(s, from, len - 1)
    local newline = string.find(tail, '\n[^\n]*$')
    if newline then return string.sub(tail, newline + 1) end
    if from == 1 then return tail end
    window = window * 4
  end
end

-- the entries of packed plays `s` between two cuts, in order
local function entries(s, from, to)
  return string.gmatch(string.sub(s, from + 1, to), '([^\n]*)\n')
end

-- the number of a plays entry, with or without its newline (its place among the song's
-- plays); 0 for none
local function entry_number(entry)
  return entry and tonumber(string.match(entry, ' (%d+)\n?$')) or 0
end

-- the first and the last entry of packed plays `s`, or nil
local function first_and_last(s)
  if s == '' then return nil end
  return string.sub(s, 1, string.find(s, '\n', 1, true) - 1), entry_before(s, #s)
end

-- a plays entry's showkey, position (4 digits) and set
local function play_parts(entry)
  return string.match(entry, '^(%S+ %S+ %S+) (%d+) (%S+) %d+$')
end

-- A song's plays at least HIATUS days after its play before are indexed by that stretch
-- (K_HIATUSES, see projections/keys.py): a historical `gaps` reads the stretches that hold
-- its as_of, and `bustouts` the play before each song's first in its scan, instead of each
-- song's plays (HIATUS: handed in by projections.scripts.header, from projections.keys.HIATUS_DAYS)
-- a stretch's score: the year of its first play x YEAR_SCORE + the ordinal day of the next play (YEAR_SCORE handed in, from projections.keys)

-- the indexed stretches that begin in year `y` and end (the song's next play) from day `lo_`
-- to day `hi_`: {song, showkey of its first play, its number n, the day it ends}, ...
local function stretches(y, lo_, hi_)
  local base, out = y * YEAR_SCORE, {}
  local flat = redis.call('ZRANGEBYSCORE', K_HIATUSES, base + lo_, base + math.min(hi_, YEAR_SCORE - 1), 'WITHSCORES')
  for i = 1, #flat, 2 do
    local song, sk, n = string.match(flat[i], '^(%S+) (%S+ %S+ %S+) (%d+)$')
    out[#out + 1] = {song, sk, tonumber(n), tonumber(flat[i + 1]) - base}
  end
  return out
end

-- the year of the band's first countable show (that of `date` if it has none)
local function first_year(date)
  return tonumber(string.sub(redis.call('ZRANGE', K_ORDER, 0, 0)[1] or date, 1, 4))
end

-- add (`add`) or remove the indexed stretches between consecutive entries of `list` (plays
-- entries in order, with or without their newline), and between `prev` (the entry before
-- them; nil for none) and the first of them
local function index_hiatuses(song, prev, list, add)
  local prev_day = prev and ordinal(prev)
  for _, entry in ipairs(list) do
    local day = ordinal(entry)
    if prev and day - prev_day >= HIATUS then
      local sk, n = string.match(prev, '^(%S+ %S+ %S+) %S+ %S+ (%d+)')
      local member = song .. ' ' .. sk .. ' ' .. n
      if add then
        redis.call('ZADD', K_HIATUSES, tonumber(string.sub(prev, 1, 4)) * YEAR_SCORE + day, member)
      else
        redis.call('ZREM', K_HIATUSES, member)
      end
    end
    prev, prev_day = entry, day
  end
end

-- the last `window` bytes of a song's packed plays from the first entry that starts in them,
-- if enough(that) holds, and false; the whole string and true if it is shorter; else nil
local function tail_window(song, window, enough)
  local s = packed_plays(song)
  if #s <= window then return s, true end
  local t = string.sub(s, -window)
  local newline = string.find(t, '\n', 1, true)  -- the end of the entry cut by the window
  local rest = newline and string.sub(t, newline + 1) or ''
  if rest ~= '' and enough(rest) then return rest, false end
  return nil
end

-- the end of a song's packed plays, starting at an entry, for which enough(it) holds: its
-- last 512 bytes or 4 KB when they are enough, else the whole string; and whether it is
-- the whole string
local function plays_tail(song, enough)
  for _, window in ipairs({512, 4096}) do
    local t, whole = tail_window(song, window, enough)
    if t then return t, whole end
  end
  return packed_plays(song), true
end

-- the end of a song's packed plays, starting at an entry, that holds its last entry and every
-- other entry of that show ('' for none), and whether it is the whole string
local function last_show_tail(song)
  return plays_tail(song, function(t)
    return string.match(t, '^%S+ %S+ %S+') ~= string.match(entry_before(t, #t), '^%S+ %S+ %S+')
  end)
end

-- the first entry of a song's packed plays, or nil
local function first_entry(song)
  local s = packed_plays(song)
  if s == '' then return nil end
  return string.sub(s, 1, string.find(s, '\n', 1, true) - 1)
end

-- the first and the last entry of a song's packed plays, or nil
local function end_entries(song)
  local first = first_entry(song)
  if first == nil then return nil end
  local t = plays_tail(song, function() return true end)
  return first, entry_before(t, #t)
end

-- a mark: MARK_FORMAT, MARK bytes (the year, the offset and the number of the entries before
-- it, zero-padded: handed in from projections.keys), so that a song's marks are read by bisection

-- the marks of packed plays entries `list` (whole numbered entries with their newline, in
-- order) written from byte `at` on, after an entry of year `year` (nil for none): a mark for
-- each entry that begins a year
local function marks_of(list, at, year)
  local out = {}
  for _, entry in ipairs(list) do
    local y = string.sub(entry, 1, 4)
    if y ~= year then
      out[#out + 1] = string.format(MARK_FORMAT, y, at, entry_number(entry) - 1)
      year = y
    end
    at = at + #entry
  end
  return table.concat(out)
end

-- the number of a song's marks ('' for none) whose year is up to `year`
local function marks_upto(marks, year)
  local lo_, hi_ = 0, #marks / MARK
  while lo_ < hi_ do
    local mid = math.floor((lo_ + hi_) / 2)
    if string.sub(marks, mid * MARK + 1, mid * MARK + 4) <= year then lo_ = mid + 1 else hi_ = mid end
  end
  return lo_
end

-- the year of a song's i-th mark (from 1)
local function mark_year(marks, i)
  return string.sub(marks, (i - 1) * MARK + 1, (i - 1) * MARK + 4)
end

-- the latest year up to `year` (both 'YYYY') in which a song was played, from its marks; nil
-- for none
local function year_upto(marks, year)
  local i = marks_upto(marks, year)
  return i > 0 and mark_year(marks, i) or nil
end

-- the offset of a song's i-th mark (from 1)
local function mark_offset(marks, i)
  return tonumber(string.sub(marks, (i - 1) * MARK + 6, (i - 1) * MARK + MARK_OFFSET_END))
end

-- the number of a song's plays before the entry its i-th mark (from 1) points at
local function mark_plays(marks, i)
  return tonumber(string.sub(marks, (i - 1) * MARK + MARK_OFFSET_END + 2, i * MARK - 1))
end

-- the part of a song's packed plays (whole entries) that holds every entry from `from` up to
-- `upto` (keys compared as cut compares them; `upto` included) and the entry before them, if
-- any: its last 512 bytes when they reach back before `from` (a recent `from`), else from a
-- few entries before the mark of the last year up to `from`'s to where the first year after
-- `upto`'s begins. With the song's `marks` already read, the marks are used at once.
local function plays_span(song, from, upto, marks)
  local t
  if marks == nil then
    t = tail_window(song, 512, function(tail) return string.sub(tail, 1, #from) < from end)
    if t then return t end
    marks = redis.call('HGET', K_MARKS, song) or ''
  end
  local start, stop = 0, -1  -- the span's bounds, from 0, both included (-1: the last byte)
  local before = marks_upto(marks, string.sub(from, 1, 4))
  if before > 0 then start = mark_offset(marks, before) end
  local upto_marks = marks_upto(marks, string.sub(upto, 1, 4))
  if upto_marks < #marks / MARK then
    stop = mark_offset(marks, upto_marks + 1) - 1
    if stop < 0 then return '' end  -- every entry is after `upto`
  end
  local back = 128
  while true do
    local lo_ = math.max(0, start - back)
    t = string.sub(packed_plays(song), lo_ + 1, stop < 0 and -1 or stop + 1)
    if lo_ == 0 then return t end
    -- from the end of the entry cut by the window, if that is not the entry before `start`
    local newline = string.find(t, '\n', 1, true)
    if newline and newline < start - lo_ then return string.sub(t, newline + 1) end
    back = back * 4
  end
end

-- the play before the play at showkey `sk`, position `pos4` ('' for the song's first play
-- there) of `song`: its entry, or nil
local function previous_play(song, sk, pos4)
  local key = sk .. ' ' .. pos4
  local t = plays_span(song, key, key)
  return entry_before(t, cut(t, key, false))
end

-- a song's plays up to a date and its last play's showkey up to it (nil for none): from its
-- summary (plays, last play's showkey) when its last play is not after the date, else from
-- the part of its packed plays that ends the date's year (`marks`: its marks, if read)
local function plays_upto(song, count, last_sk, as_of, marks)
  if string.sub(last_sk, 1, 10) <= as_of then return count, last_sk end
  local t = plays_span(song, as_of, as_of, marks)
  local last = entry_before(t, cut(t, as_of, true))
  if last == nil then return 0, nil end
  return entry_number(last), play_parts(last)
end
