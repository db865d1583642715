--[[ lib.lua: helpers shared by every script; projections.scripts puts this file in front of each.

KEYS[1..18] are a band's keys in projections.keys.BAND_KEYS order; the lex members of the
sorted sets are space-separated (see projections/keys.py), showkey "YYYY-MM-DD OOOOOO show_id".
]]
local K_META, K_SHOWS, K_SONGS, K_ORDER, K_PLAYS, K_SHOWPLAYS, K_REPEATS, K_EXTRAS, K_FIRST, K_SEEN,
      K_SUMMARY, K_LAST, K_MONTHS, K_STAMP, K_MARKS, K_SETLISTS, K_HIATUSES, K_REGULARS = KEYS[1], KEYS[2],
      KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13],
      KEYS[14], KEYS[15], KEYS[16], KEYS[17], KEYS[18]

local function vparse(v)
  local ms, seq = string.match(v, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

-- a < b for stream ids; nil is older than everything
local function vless(a, b)
  if a == nil then return b ~= nil end
  if b == nil or a == b then return false end
  local a1, a2 = vparse(a)
  local b1, b2 = vparse(b)
  if a1 ~= b1 then return a1 < b1 end
  return a2 < b2
end

local CUMDAYS = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334}
-- the proleptic Gregorian ordinal of 'YYYY-MM-DD', as Python's date.toordinal()
local function ordinal(date)
  local y, m, d = tonumber(string.sub(date, 1, 4)), tonumber(string.sub(date, 6, 7)), tonumber(string.sub(date, 9, 10))
  local p = y - 1
  local days = p * 365 + math.floor(p / 4) - math.floor(p / 100) + math.floor(p / 400) + CUMDAYS[m] + d
  if m > 2 and ((y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0) then days = days + 1 end
  return days
end

local function hget_json(key, field)
  local raw = redis.call('HGET', key, field)
  if raw then return cjson.decode(raw) end
  return nil
end

local function showkey(show, show_id)
  return show.date .. ' ' .. string.format('%06d', show.ord) .. ' ' .. show_id
end

-- the show_id at the end of a showkey
local function sk_show(sk)
  return string.sub(sk, 19)
end

local function is_live(show)
  if not show then return false end
  return show.v ~= nil and vless(show.rm, show.v)
end

--[[ A show's slots are kept in one string, the key show:<id>: a JSON array of its slot
records by position, each {position, version, set, song_id, counts (0/1), transition, reprise
(0/1), footnote}, or {position, version} for a tombstone (a removed performance, kept for its
version). One string instead of a hash of records keeps a show's slots compact whatever the
records hold (a hash whose values pass 64 bytes, as a 36-character song id or a footnote makes
them, is stored as a hash table: about 140 bytes a slot instead of 75). ]]

-- {pos4 -> slot record {version, set, ...}} from a show's packed slots (nil: none)
local function read_slots(packed)
  local out = {}
  if packed then
    for _, record in ipairs(cjson.decode(packed)) do
      local pos = table.remove(record, 1)
      out[string.format('%04d', pos)] = record
    end
  end
  return out
end

-- a show's slots {pos4 -> record, or false for none} packed by position; nil if none is left
local function pack_slots(slots)
  local positions = {}
  for pos4, slot in pairs(slots) do
    if slot then positions[#positions + 1] = pos4 end
  end
  if #positions == 0 then return nil end
  table.sort(positions)
  local records = {}
  for i, pos4 in ipairs(positions) do records[i] = {tonumber(pos4), unpack(slots[pos4])} end
  return cjson.encode(records)
end

-- lex range bounds: everything under one id prefix
local function lo(prefix) return '[' .. prefix .. ' ' end
local function hi(prefix) return '(' .. prefix .. '!' end

--[[ A song's plays are packed in one string, the key <plays>:<song_id> (K_PLAYS is the
prefix; the scripts build these names themselves: the song of a removed performance is only
known here, and the keys share the band's hash tag): an entry "showkey pos4 set n" per play
(n: 1 for its first play, 2 for the next...), each ended by a newline, in ascending order
(show order, then position). One string per song instead of a sorted-set member per play
keeps a play in about a third of the memory. Entries start with their date and are sorted,
so what is dated up to a day, or comes before a play, is one prefix of the string, found by
bisection, and its last entry tells how many it holds; the questions asked most (the last
year, the play before a recent one) need only the end of the string, read with GETRANGE.

A song's marks (K_MARKS, field song_id) say where in that string each year it was played in
begins and how many plays came before: "YYYY offset n\n" per year, ascending, offset the
byte at which the year's first entry starts (ten digits) and n the number of the entries
before it (seven digits). A question about some years reads those years' part of the string
(plays_span), not the whole of it, and `velocity` takes a song's plays before a year from
that year's mark. Every mark must be true and none missing, so the apply writes marks as it
appends plays and rewrites them from the first entry it renumbers when it rewrites the
string (a song without marks is read the long way, from its packed plays). ]]

local function plays_key(song)
  return K_PLAYS .. ':' .. song
end

local function packed_plays(song)
  return redis.call('GET', plays_key(song)) or ''
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
-- song's plays
local HIATUS = 180
-- a stretch's score: the year of its first play x YEAR_SCORE + the ordinal day of the next
local YEAR_SCORE = 10000000

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

-- the last `window` bytes of packed plays key `k` from the first entry that starts in them,
-- if enough(that) holds, and false; the whole string and true if it is shorter; else nil
local function tail_window(k, window, enough)
  local t = redis.call('GETRANGE', k, -window, -1)
  if #t < window then return t, true end
  local newline = string.find(t, '\n', 1, true)  -- the end of the entry cut by the window
  local rest = newline and string.sub(t, newline + 1) or ''
  if rest ~= '' and enough(rest) then return rest, false end
  return nil
end

-- the end of a song's packed plays, starting at an entry, for which enough(it) holds: its
-- last 512 bytes or 4 KB when they are enough, else the whole string; and whether it is
-- the whole string
local function plays_tail(song, enough)
  local k = plays_key(song)
  for _, window in ipairs({512, 4096}) do
    local t, whole = tail_window(k, window, enough)
    if t then return t, whole end
  end
  return redis.call('GET', k) or '', true
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
  local k, window = plays_key(song), 512
  while true do
    local head = redis.call('GETRANGE', k, 0, window - 1)
    if head == '' then return nil end
    local first_end = string.find(head, '\n', 1, true)
    if first_end then return string.sub(head, 1, first_end - 1) end
    window = window * 4
  end
end

-- the first and the last entry of a song's packed plays, or nil
local function end_entries(song)
  local first = first_entry(song)
  if first == nil then return nil end
  local t = plays_tail(song, function() return true end)
  return first, entry_before(t, #t)
end

-- a mark: 'YYYY OOOOOOOOOO NNNNNNN\n' (the offset and the number of the entries before it
-- zero-padded: room for 10 GB of a song's plays and ten million of them), so that a song's
-- marks are read by bisection
local MARK = 24

-- the marks of packed plays entries `list` (whole numbered entries with their newline, in
-- order) written from byte `at` on, after an entry of year `year` (nil for none): a mark for
-- each entry that begins a year
local function marks_of(list, at, year)
  local out = {}
  for _, entry in ipairs(list) do
    local y = string.sub(entry, 1, 4)
    if y ~= year then
      out[#out + 1] = string.format('%s %010d %07d\n', y, at, entry_number(entry) - 1)
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
  return tonumber(string.sub(marks, (i - 1) * MARK + 6, (i - 1) * MARK + 15))
end

-- the number of a song's plays before the entry its i-th mark (from 1) points at
local function mark_plays(marks, i)
  return tonumber(string.sub(marks, (i - 1) * MARK + 17, i * MARK - 1))
end

-- the part of a song's packed plays (whole entries) that holds every entry from `from` up to
-- `upto` (keys compared as cut compares them; `upto` included) and the entry before them, if
-- any: its last 512 bytes when they reach back before `from` (a recent `from`), else from a
-- few entries before the mark of the last year up to `from`'s to where the first year after
-- `upto`'s begins. With the song's `marks` already read, the marks are used at once.
local function plays_span(song, from, upto, marks)
  local k, t = plays_key(song), nil
  if marks == nil then
    t = tail_window(k, 512, function(tail) return string.sub(tail, 1, #from) < from end)
    if t then return t end
    marks = redis.call('HGET', K_MARKS, song) or ''
  end
  local start, stop = 0, -1  -- GETRANGE's bounds, both included (-1: the last byte)
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
    t = redis.call('GETRANGE', k, lo_, stop)
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

-- the countable shows in a lex range of showkeys, and the plays at them
local function shows_and_plays(lo_, hi_)
  local order = redis.call('ZRANGEBYLEX', K_ORDER, lo_, hi_)
  local plays = 0
  if #order > 0 then
    local ids = {}
    for i, sk in ipairs(order) do ids[i] = sk_show(sk) end
    for _, n in ipairs(redis.call('HMGET', K_SHOWPLAYS, unpack(ids))) do
      if n then plays = plays + tonumber(n) end
    end
  end
  return #order, plays
end

-- the place (from 0) of a countable show in show order, by its showkey
local function show_index(sk)
  return redis.call('ZRANK', K_ORDER, sk)
end

-- a showkey's score in the last-play index: its day and show order (date, show_order), so
-- that ZADD replaces a song's entry without reading it first; shows of one date and order
-- (told apart by show_id) share a score
local function last_score(sk)
  return ordinal(sk) * 1000000 + tonumber(string.sub(sk, 12, 17))
end

-- the songs with this many plays or more are in the last-play index of regulars too
-- (K_REGULARS): gaps' default min_plays (projections.keys.REGULAR_PLAYS)
local REGULAR = 5

-- the last-play index that holds every song with `min_plays` plays or more (and, for
-- fewer than REGULAR, every song)
local function last_index(min_plays)
  return min_plays >= REGULAR and K_REGULARS or K_LAST
end

-- the lowest score of a date in the last-play index
local function day_score(date)
  return ordinal(date) * 1000000
end

-- {showkey -> index in show order (from 0)} and the number of countable shows, up to a date
local function show_indexes(as_of)
  local order = redis.call('ZRANGEBYLEX', K_ORDER, '-', '(' .. as_of .. '~')
  local index = {}
  for i, sk in ipairs(order) do index[sk] = i - 1 end
  return index, #order
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

-- a summary entry: plays (all time), first play's showkey, last play's showkey
local function parse_summary(raw)
  local count, first_sk, last_sk = string.match(raw, '^(%d+) (%S+ %S+ %S+) (%S+ %S+ %S+)$')
  return tonumber(count), first_sk, last_sk
end

-- the values of `fields` in hash `key` (false for none), read 1,024 at a time (unpack's limit)
local function hmget(key, fields)
  local out = {}
  for start = 1, #fields, 1024 do
    local values = redis.call('HMGET', key, unpack(fields, start, math.min(start + 1023, #fields)))
    for i = 1, #values do out[start + i - 1] = values[i] end
  end
  return out
end

-- fn(i, marks) for each song_id songs[i] with the song's marks ('' for none)
local function each_marks(songs, fn)
  local marks = hmget(K_MARKS, songs)
  for i = 1, #songs do fn(i, marks[i] or '') end
end

-- fn(showkey, setlist) for each of `order` (showkeys of countable shows) with a play: its
-- plays' song_ids by position, space-separated (the setlists hash)
local function each_setlist(order, fn)
  local ids = {}
  for i, sk in ipairs(order) do ids[i] = sk_show(sk) end
  local lists = hmget(K_SETLISTS, ids)
  for i, sk in ipairs(order) do
    if lists[i] then fn(sk, lists[i]) end
  end
end

-- the showkeys of the countable shows from `from` up to `upto` (dates, both included), in order
local function shows_between(from, upto)
  return redis.call('ZRANGEBYLEX', K_ORDER, '[' .. from, '(' .. upto .. '~')
end

-- a song record's title: read from the JSON as it is when it holds no escape, else decoded
local function song_title(record)
  return string.match(record, '"title":"([^"\\]*)"') or cjson.decode(record).title
end

-- the first `limit` rows by row[key] descending, ties by song title then song_id (row[1]);
-- each row kept gets the song record (JSON) appended
local function top_rows(rows, key, limit)
  local values = {}
  for i, row in ipairs(rows) do values[i] = -row[key] end
  table.sort(values)
  local cut = values[math.min(limit, #values)]
  local kept, ids = {}, {}
  for _, row in ipairs(rows) do
    if cut ~= nil and -row[key] <= cut then
      kept[#kept + 1] = row
      ids[#kept] = row[1]
    end
  end
  for i, record in ipairs(hmget(K_SONGS, ids)) do
    kept[i][#kept[i] + 1] = record
    kept[i].title = song_title(record)
  end
  table.sort(kept, function(a, b)
    if a[key] ~= b[key] then return a[key] > b[key] end
    if a.title ~= b.title then return a.title < b.title end
    return a[1] < b[1]
  end)
  local out = {}
  for i = 1, math.min(limit, #kept) do
    kept[i].title = nil
    out[i] = kept[i]
  end
  return out
end
