--[[ lib.lua: helpers shared by every script; projections.scripts puts this file in front of each.

KEYS[1..19] are a band's keys in projections.keys.BAND_KEYS order; the lex members of the
sorted sets are space-separated (see projections/keys.py), showkey "YYYY-MM-DD OOOOOO show_id".
]]
local K_META, K_SHOWS, K_SONGS, K_ORDER, K_PLAYS, K_SHOWPLAYS, K_REPEATS, K_EXTRAS, K_FIRST, K_SEEN,
      K_SUMMARY, K_LAST, K_MONTHS, K_STAMP, K_MARKS, K_SETLISTS, K_HIATUSES, K_REGULARS, K_SLOTS = KEYS[1],
      KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12],
      KEYS[13], KEYS[14], KEYS[15], KEYS[16], KEYS[17], KEYS[18], KEYS[19]

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
  return show.date .. ' ' .. string.format(ORDER_FORMAT, show.ord) .. ' ' .. show_id
end

-- the show_id at the end of a showkey
local function sk_show(sk)
  return string.sub(sk, SHOWKEY_ID)
end

local function is_live(show)
  if not show then return false end
  return show.v ~= nil and vless(show.rm, show.v)
end

--[[ A show's slots are kept in one field of the slots hash (K_SLOTS, field show_id): a JSON
array of its slot records by position, each {position, version, set, song_id, counts (0/1),
transition, reprise (0/1), footnote}, or {position, version} for a tombstone (a removed
performance, kept for its version). ]]

-- {pos4 -> slot record {version, set, ...}} from a show's packed slots (nil: none)
local function read_slots(packed)
  local out = {}
  if packed then
    for _, record in ipairs(cjson.decode(packed)) do
      local pos = table.remove(record, 1)
      out[string.format(POSITION_FORMAT, pos)] = record
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
  return ordinal(sk) * DAY_SCORE + tonumber(string.sub(sk, 12, ORDER_END))
end

-- REGULAR (handed in by projections.scripts.header, from projections.keys.REGULAR_PLAYS): the
-- songs with this many plays or more are in the last-play index of regulars too (K_REGULARS):
-- gaps' default min_plays

-- the last-play index that holds every song with `min_plays` plays or more (and, for
-- fewer than REGULAR, every song)
local function last_index(min_plays)
  return min_plays >= REGULAR and K_REGULARS or K_LAST
end

-- the lowest score of a date in the last-play index
local function day_score(date)
  return ordinal(date) * DAY_SCORE
end

-- {showkey -> index in show order (from 0)} and the number of countable shows, up to a date
local function show_indexes(as_of)
  local order = redis.call('ZRANGEBYLEX', K_ORDER, '-', '(' .. as_of .. '~')
  local index = {}
  for i, sk in ipairs(order) do index[sk] = i - 1 end
  return index, #order
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
