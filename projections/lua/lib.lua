--[[ lib.lua: helpers shared by every script; projections.scripts puts this file in front of each.

KEYS[1..19] are a band's keys in projections.keys.BAND_KEYS order; the lex members of the
sorted sets are space-separated (see projections/keys.py), showkey "YYYY-MM-DD OOOOOO code".
]]
local K_META, K_SHOWS, K_SONGS, K_ORDER, K_PLAYS, K_REPEATS, K_EXTRAS, K_FIRST, K_SEEN, K_SUMMARY, K_LAST,
      K_MONTHS, K_STAMP, K_MARKS, K_SETLISTS, K_HIATUSES, K_REGULARS, K_SLOTS, K_CODES =
      KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11],
      KEYS[12], KEYS[13], KEYS[14], KEYS[15], KEYS[16], KEYS[17], KEYS[18], KEYS[19]

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

-- the values of `fields` in hash `key` (false for none), read 1,024 at a time (unpack's limit)
local function hmget(key, fields)
  local out = {}
  for start = 1, #fields, 1024 do
    local values = redis.call('HMGET', key, unpack(fields, start, math.min(start + 1023, #fields)))
    for i = 1, #values do out[start + i - 1] = values[i] end
  end
  return out
end

--[[ A live show's showkey is "YYYY-MM-DD OOOOOO " and its code: a base-62 number given (by
apply.lua) when it is first indexed, kept in its record (c) and, the other way, in K_SHOWS as
field '!' .. code (a stored id holds no '!'). While another countable show has the same date
and show order, a countable show's showkey ends in '~' .. show_id instead (its record says
long), so that such shows are in show_id order. ]]
local function showkey(show, show_id)
  local head = show.date .. ' ' .. string.format(ORDER_FORMAT, show.ord) .. ' '
  if show.long then return head .. '~' .. show_id end
  return head .. show.c
end

local SHOW_OF = {}  -- code -> show_id, as read or given by this call

-- the show_ids (stored) of a list of showkeys
local function sk_ids(sks)
  local out, fields = {}, {}
  for i, sk in ipairs(sks) do
    local tail = string.sub(sk, SHOWKEY_ID)
    if string.sub(tail, 1, 1) == '~' then
      out[i] = string.sub(tail, 2)
    elseif SHOW_OF[tail] then
      out[i] = SHOW_OF[tail]
    else
      fields[#fields + 1] = '!' .. tail
    end
  end
  if #fields > 0 then
    for j, id in ipairs(hmget(K_SHOWS, fields)) do SHOW_OF[string.sub(fields[j], 2)] = id end
    for i, sk in ipairs(sks) do out[i] = out[i] or SHOW_OF[string.sub(sk, SHOWKEY_ID)] end
  end
  return out
end

-- the show_id (stored) of a showkey
local function sk_show(sk)
  return sk_ids({sk})[1]
end

-- showkeys as the answers name a show, "YYYY-MM-DD OOOOOO show_id", in place
local function full_showkeys(sks)
  for i, id in ipairs(sk_ids(sks)) do sks[i] = string.sub(sks[i], 1, SHOWKEY_ID - 1) .. id end
  return sks
end

-- where a showkey names its show (a code, or '~' .. show_id): the field of its setlist
local function sk_tail(sk)
  return string.sub(sk, SHOWKEY_ID)
end

-- the setlists' fields of a list of showkeys
local function setlist_fields(sks)
  local out = {}
  for i, sk in ipairs(sks) do out[i] = sk_tail(sk) end
  return out
end

local function is_live(show)
  if not show then return false end
  return show.v ~= nil and vless(show.rm, show.v)
end

--[[ Songs are named by codes where a song stands once a play (the slots, the setlists):
base-62 numbers given in the order songs first appear, kept both ways in K_CODES (song_id ->
code, "!" .. code -> song_id; a stored id holds no "!"). A code is written with the song's
first slot and never changes, so a call that fails after giving one finds it on its retry. ]]

local DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

local function base62(n)
  local out = ''
  repeat
    local d = n % 62
    out = string.sub(DIGITS, d + 1, d + 1) .. out
    n = (n - d) / 62
  until n == 0
  return out
end

local function from_base62(text)
  local n = 0
  for i = 1, #text do
    local b = string.byte(text, i)  -- '0'-'9', 'A'-'Z', 'a'-'z': DIGITS' order
    n = n * 62 + b - (b >= 97 and 61 or b >= 65 and 55 or 48)
  end
  return n
end

local CODE, SONG = {}, {}  -- song_id -> code and code -> song_id, as read or given by this call

-- a song's code, given now if it has none
local function song_code(song)
  local code = CODE[song] or redis.call('HGET', K_CODES, song)
  if not code then
    code = base62(redis.call('HLEN', K_CODES) / 2)
    redis.call('HSET', K_CODES, song, code, '!' .. code, song)
  end
  CODE[song], SONG[code] = code, song
  return code
end

-- the song_ids of a list of codes, in place
local function code_songs(codes)
  local missing, fields = {}, {}
  for _, code in ipairs(codes) do
    if not SONG[code] and not missing[code] then
      missing[code] = true
      fields[#fields + 1] = '!' .. code
    end
  end
  for i, song in ipairs(hmget(K_CODES, fields)) do SONG[string.sub(fields[i], 2)] = song end
  for i, code in ipairs(codes) do codes[i] = SONG[code] end
  return codes
end

-- a stream id ("ms-seq") as the slots keep it: each number in base 62, a seq of 0 left off
local function short_version(v)
  local ms, seq = string.match(v, '^(%d+)-(%d+)$')
  if seq == '0' then return base62(tonumber(ms)) end
  return base62(tonumber(ms)) .. '-' .. base62(tonumber(seq))
end

local function long_version(v)
  local ms, seq = string.match(v, '^(%w+)-?(%w*)$')
  return string.format('%.0f-%.0f', from_base62(ms), seq == '' and 0 or from_base62(seq))
end

--[[ A show's slots are kept in one field of the slots hash (K_SLOTS, field show_id): a JSON
array of the base (the milliseconds, in base 62, of the version most of its slots carry),
then its slot records by position, each {position, version, set, song code, transition,
counts (0/1), reprise (0/1), footnote}, or {position, version} for a tombstone (a removed
performance, kept for its version). A version (a stream id, "ms-seq") whose milliseconds are
the base is kept as its seq (a number), any other as short_version's string; the fields at
the end that hold their defaults ('', 1, 0, '') are left off. A script sees each record as
{version, set, song_id, counts, transition, reprise, footnote} (or {version}). ]]

-- where a slot's fields are kept in its stored record, and their defaults
local STORED_AT = {[4] = 6, [5] = 5, [6] = 7, [7] = 8}  -- counts, transition, reprise, footnote
local STORED_DEFAULT = {[5] = '', [6] = 1, [7] = 0, [8] = ''}

-- {pos4 -> slot record {version, set, ...}} from a show's packed slots (nil: none)
local function read_slots(packed)
  local out, records, codes = {}, {}, {}
  if packed then
    local stored = cjson.decode(packed)
    local base = from_base62(stored[1])
    for i = 2, #stored do
      local r = stored[i]
      local v = r[2]
      local record = {type(v) == 'number' and string.format('%.0f-%.0f', base, v) or long_version(v)}
      if r[3] then
        record[2], record[3] = r[3], r[4]
        for k, at in pairs(STORED_AT) do
          local value = r[at]
          if value == nil then value = STORED_DEFAULT[at] end
          record[k] = value
        end
        records[#records + 1] = record
        codes[#codes + 1] = r[4]
      end
      out[string.format(POSITION_FORMAT, r[1])] = record
    end
  end
  code_songs(codes)
  for i, record in ipairs(records) do record[3] = codes[i] end
  return out
end

-- a show's slots {pos4 -> record, or false for none} packed by position; nil if none is left
local function pack_slots(slots)
  local positions, ms, n = {}, {}, {}
  for pos4, slot in pairs(slots) do
    if slot then
      positions[#positions + 1] = pos4
      ms[pos4] = string.match(slot[1], '^%d+')
      n[ms[pos4]] = (n[ms[pos4]] or 0) + 1
    end
  end
  if #positions == 0 then return nil end
  table.sort(positions)
  local base = ms[positions[1]]
  for m, count in pairs(n) do
    if count > n[base] or (count == n[base] and m < base) then base = m end
  end
  local stored = {base62(tonumber(base))}
  for i, pos4 in ipairs(positions) do
    local slot = slots[pos4]
    local v = slot[1]
    local r = {tonumber(pos4), ms[pos4] == base and tonumber(string.match(v, '%d+$')) or short_version(v)}
    if slot[2] then
      r[3], r[4] = slot[2], song_code(slot[3])
      local last = 4
      for k, at in pairs(STORED_AT) do
        r[at] = slot[k]
        if slot[k] ~= STORED_DEFAULT[at] and at > last then last = at end
      end
      for at = last + 1, 8 do r[at] = nil end
    end
    stored[i + 1] = r
  end
  return cjson.encode(stored)
end

-- lex range bounds: everything under one id prefix
local function lo(prefix) return '[' .. prefix .. ' ' end
local function hi(prefix) return '(' .. prefix .. '!' end

-- the countable shows in a lex range of showkeys, and the plays at them
local function shows_and_plays(lo_, hi_)
  local order = redis.call('ZRANGEBYLEX', K_ORDER, lo_, hi_)
  local plays = 0
  if #order > 0 then
    for _, list in ipairs(hmget(K_SETLISTS, setlist_fields(order))) do
      if list then plays = plays + select(2, string.gsub(list, ' ', ' ')) + 1 end
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

-- fn(i, marks) for each song_id songs[i] with the song's marks ('' for none)
local function each_marks(songs, fn)
  local marks = hmget(K_MARKS, songs)
  for i = 1, #songs do fn(i, marks[i] or '') end
end

-- a setlist as the setlists hash keeps it (song codes, space-separated; false or nil for
-- none): its song_ids, in order
local function setlist_songs(raw)
  local codes = {}
  for code in string.gmatch(raw or '', '%S+') do codes[#codes + 1] = code end
  return code_songs(codes)
end

-- fn(showkey, setlist) for each of `order` (showkeys of countable shows) with a play: its
-- plays' song codes by position, space-separated (the setlists hash)
local function each_setlist(order, fn)
  local lists = hmget(K_SETLISTS, setlist_fields(order))
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
