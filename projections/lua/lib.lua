--[[ lib.lua: helpers shared by every script; projections.scripts puts this file in front of each.

KEYS[1..13] are a band's keys in projections.keys.BAND_KEYS order; the lex members of the
sorted sets are space-separated (see projections/keys.py):
  showkey "YYYY-MM-DD OOOOOO show_id"; plays "song_id showkey pos4 set".
]]
local K_META, K_SHOWS, K_SONGS, K_ORDER, K_PLAYS, K_SHOWPLAYS, K_REPEATS, K_EXTRAS, K_FIRST, K_SEEN,
      K_SUMMARY, K_MONTHS, K_STAMP = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7],
      KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13]

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

-- lex range bounds: everything under one id prefix, and everything of that prefix up to a date
local function lo(prefix) return '[' .. prefix .. ' ' end
local function hi(prefix) return '(' .. prefix .. '!' end
local function upto(prefix, date) return '(' .. prefix .. ' ' .. date .. '~' end

-- a plays member's showkey, position (4 digits) and set
local function play_parts(member)
  return string.match(member, '^%S+ (%S+ %S+ %S+) (%d+) (%S+)$')
end

-- the play of `song` just before the play at showkey `sk`, position `pos4`: its plays member
local function previous_play(song, sk, pos4)
  return redis.call('ZREVRANGEBYLEX', K_PLAYS, '(' .. song .. ' ' .. sk .. ' ' .. pos4, lo(song), 'LIMIT', 0, 1)[1]
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

-- {showkey -> index in show order (from 0)} and the number of countable shows, up to a date
local function show_indexes(as_of)
  local order = redis.call('ZRANGEBYLEX', K_ORDER, '-', '(' .. as_of .. '~')
  local index = {}
  for i, sk in ipairs(order) do index[sk] = i - 1 end
  return index, #order
end

-- each song's plays up to a date, and its last play's showkey: from the summary when the
-- song's last play is not after the date, else from the plays
local function plays_upto(song, count, last_sk, as_of)
  if string.sub(last_sk, 1, 10) <= as_of then return count, last_sk end
  local last = redis.call('ZREVRANGEBYLEX', K_PLAYS, upto(song, as_of), lo(song), 'LIMIT', 0, 1)[1]
  if not last then return 0, nil end
  return redis.call('ZLEXCOUNT', K_PLAYS, lo(song), upto(song, as_of)), play_parts(last)
end

-- a summary entry: plays (all time), first play's showkey, last play's showkey
local function parse_summary(raw)
  local count, first_sk, last_sk = string.match(raw, '^(%d+)|([^|]+)|([^|]+)$')
  return tonumber(count), first_sk, last_sk
end

-- fn(song, plays up to as_of, first play's showkey, last play's showkey up to as_of) for
-- every song with a play up to as_of
local function each_song_upto(as_of, fn)
  local summary = redis.call('HGETALL', K_SUMMARY)
  for i = 1, #summary, 2 do
    local count, first_sk, last_sk = parse_summary(summary[i + 1])
    if string.sub(first_sk, 1, 10) <= as_of then
      local plays, last = plays_upto(summary[i], count, last_sk, as_of)
      fn(summary[i], plays, first_sk, last)
    end
  end
end

-- the first `limit` rows by row[key] descending, ties by song title then song_id (row[1]);
-- each row kept gets the song record (JSON) appended
local function top_rows(rows, key, limit)
  local values = {}
  for i, row in ipairs(rows) do values[i] = -row[key] end
  table.sort(values)
  local cut = values[math.min(limit, #values)]
  local kept = {}
  for _, row in ipairs(rows) do
    if cut ~= nil and -row[key] <= cut then
      local record = redis.call('HGET', K_SONGS, row[1])
      row[#row + 1] = record
      row.title = cjson.decode(record).title
      kept[#kept + 1] = row
    end
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
