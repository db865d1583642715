--[[ apply.lua: apply a batch of one band's events to its projections, atomically.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV: one JSON payload per event, in log order, built by projections.apply.script_input():
      every payload has t (S = ShowRecorded, P = PerformanceAdded, X = PerformanceRemoved,
      R = ShowRemoved), v (the stream entry id: the event's place in the log) and id (show_id).
Returns: how many events and song records changed the state (0: every event a duplicate,
         or superseded).

Convergence: for every natural key (show; show + position; song title; band name) the
payload with the greatest v wins, and a ShowRemoved is a tombstone that wipes every slot
of the show written before it. Applying a payload whose v is not newer than what is stored
changes nothing, so re-delivery, duplicates and any processing order give the same state
(but for the codes that name shows and songs, given in the order they are first seen: the
same answers).

Retry safety: Redis does not roll back a script that fails midway. The records (shows,
slots, song titles) are read into and written through a cache for the batch, and written to
Redis only at the end, after the indexes (ZADD, ZREM, each song's packed plays: new plays
after its last one appended, any other change merged in from the first show it touches on,
its marks and its long stretches between plays with them;
idempotent, no counters) and what is derived from them (summaries, first and seen days,
per-show counts and setlists, per-month counts: recomputed, not counted). A batch interrupted midway has
written no record but the codes it gave (written at once, see lib.lua, and found again), so
its re-application redoes all of it (finding its plays already there, it merges them in
again, which changes nothing, and rewrites their marks).
]]

local shows = {}        -- show_id -> decoded show record (false: none)
local shows_dirty = {}  -- show_ids to write at the end
local slots = {}        -- show_id -> {pos4 -> decoded slot record (false: deleted)}
local slots_dirty = {}  -- show_id -> {pos4 -> true}: slots to write at the end
local dirty = {}        -- songs whose derived state must be recomputed at the end
local months = {}       -- months ('YYYY-MM') whose counts must be recomputed at the end
local tallies = {}      -- show_id -> true: shows whose plays (count, setlist) must be recomputed at the end
local play_changes = {} -- song -> {plays entry -> true (added) or false (removed)}: at the end
local titles = {}       -- song -> the newest {v, title, slug} this batch carries

local function get_show(show_id)
  local show = shows[show_id]
  if show == nil then
    show = hget_json(K_SHOWS, show_id) or false
    shows[show_id] = show
  end
  return show or nil
end

local function put_show(show_id, show)
  shows[show_id] = show
  shows_dirty[show_id] = true
end

-- the slots of one show (a table pos4 -> record, false for a deleted one)
local function show_slots(show_id)
  local t = slots[show_id]
  if t == nil then
    t = read_slots(redis.call('HGET', K_SLOTS, show_id))
    slots[show_id] = t
    slots_dirty[show_id] = {}
  end
  return t
end

local function put_slot(show_id, pos4, slot)
  show_slots(show_id)[pos4] = slot
  slots_dirty[show_id][pos4] = true
end

-- slot records: {v, set, song, counts, transition, reprise, footnote}, or {v} for a tombstone
-- (kept for each show in one field of K_SLOTS: see read_slots in lib.lua)
local function is_play(show, slot)
  return show.counts and slot[4] == 1 and slot[2] ~= 's'
end

-- the entries "showkey pos4 set" numbered from n + 1, packed (see plays.lua)
local function pack(list, n)
  for i, entry in ipairs(list) do list[i] = entry .. ' ' .. (n + i) .. '\n' end
  return table.concat(list)
end

-- write a song's packed plays with this batch's changes; returns a string of whole entries
-- that ends the song's packed plays and holds every entry of each show the changes touch;
-- when the changes were only appended, the showkey of the play they were appended after (''
-- for none), else false; and whether that string is the whole of the song's packed plays
local function write_plays(song, changes)
  local added, removed, first = {}, false, nil  -- first: the lowest entry changed
  for entry, add in pairs(changes) do
    if add then added[#added + 1] = entry else removed = true end
    if first == nil or entry < first then first = entry end
  end
  table.sort(added)
  if not removed then
    local t, whole = last_show_tail(song)
    local last = entry_before(t, #t)
    if last == nil or last < added[1] then
      -- the common case (a history arriving in order): the new plays go after the stored ones
      local s = pack(added, entry_number(last))
      local length = #packed_plays(song) + #s
      write_packed(song, packed_plays(song) .. s)
      index_hiatuses(song, last, added, true)
      -- the marks of the years the new plays begin (the others' stay true: nothing moved)
      local marks = marks_of(added, length - #s, last and string.sub(last, 1, 4))
      if marks ~= '' then
        redis.call('HSET', K_MARKS, song, (last and redis.call('HGET', K_MARKS, song) or '') .. marks)
      end
      return t .. s, last and play_parts(last) or '', whole
    end
  end
  -- anything else (plays added before stored ones, as a backfill behind recent history does,
  -- or removed): the entries before the first show the changes touch stay as they are; from
  -- there on the stored entries, less those removed, and the added ones are merged and
  -- numbered on
  local s = packed_plays(song)
  local at = cut(s, string.match(first, '^%S+ %S+ %S+') .. ' ', false)
  local before = entry_before(s, at)
  local stored, list, i, j = {}, {}, 1, 1
  local old = {}  -- the stored entries from that show on, numbered
  for entry in entries(s, at, #s) do
    local key = string.match(entry, '^(.*) %d+$')
    if changes[key] ~= false then stored[#stored + 1] = key end
    old[#old + 1] = entry
  end
  index_hiatuses(song, before, old, false)
  while i <= #stored or j <= #added do
    local a, b = stored[i], added[j]
    if b == nil or (a ~= nil and a < b) then
      list[#list + 1], i = a, i + 1
    elseif a == nil or b < a then
      list[#list + 1], j = b, j + 1
    else  -- already stored (a repeated delivery)
      list[#list + 1], i, j = a, i + 1, j + 1
    end
  end
  local rest = pack(list, entry_number(before))
  index_hiatuses(song, before, list, true)
  write_packed(song, string.sub(s, 1, at) .. rest)
  if at + #rest == 0 then
    redis.call('HDEL', K_MARKS, song)
    return '', false, true
  end
  local whole = at == 0
  if #rest < #s - at then  -- it shrank: returned whole, as `rest` may now be empty
    rest, whole = string.sub(s, 1, at) .. rest, true
  end
  -- the marks of the years that begin before that show stay; the others are written anew
  local marks, kept = redis.call('HGET', K_MARKS, song) or '', 0
  while kept < #marks / MARK and mark_offset(marks, kept + 1) < at do kept = kept + 1 end
  marks = string.sub(marks, 1, kept * MARK) .. marks_of(list, at, before and string.sub(before, 1, 4))
  redis.call('HSET', K_MARKS, song, marks)
  return rest, false, whole
end

-- recompute what is derived from a song's first and last play entries: summary, last, first, seen
local function refresh_song(song, first, last)
  local seen
  if first then
    local first_sk, last_sk = play_parts(first), play_parts(last)
    local plays, score = entry_number(last), last_score(last_sk)
    redis.call('HSET', K_SUMMARY, song, plays .. ' ' .. first_sk .. ' ' .. last_sk)
    redis.call('ZADD', K_LAST, score, song)
    if plays >= REGULAR then
      redis.call('ZADD', K_REGULARS, score, song)
    else  -- fewer than before, if it was there: plays removed
      redis.call('ZREM', K_REGULARS, song)
    end
    seen = ordinal(first_sk)
    redis.call('ZADD', K_FIRST, seen, song)
  else
    redis.call('HDEL', K_SUMMARY, song)
    redis.call('ZREM', K_LAST, song)
    redis.call('ZREM', K_REGULARS, song)
    redis.call('ZREM', K_FIRST, song)
  end
  local extra = redis.call('ZRANGEBYLEX', K_EXTRAS, lo(song), hi(song), 'LIMIT', 0, 1)[1]
  if extra then
    local day = ordinal(string.sub(extra, #song + 2, #song + 11))
    if seen == nil or day < seen then seen = day end
  end
  if seen then redis.call('ZADD', K_SEEN, seen, song) else redis.call('ZREM', K_SEEN, song) end
end

-- the repeats of one song at one show (every play there but the first), from its packed plays `s`
local function fix_repeats(song, s, sk)
  local here = {}
  for entry in entries(s, cut(s, sk .. ' ', false), cut(s, sk .. ' ', true)) do here[#here + 1] = entry end
  local prefix = song .. ' ' .. sk
  redis.call('ZREMRANGEBYLEX', K_REPEATS, lo(prefix), hi(prefix))
  for i = 2, #here do
    local _, pos4 = play_parts(here[i])
    redis.call('ZADD', K_REPEATS, 0, prefix .. ' ' .. pos4)
  end
end

-- the plays at one show, from its slots: their song_ids by position; none unless the show is
-- live and countable
local function show_plays(show_id)
  local show = get_show(show_id)
  if not (is_live(show) and show.counts) then return {} end
  local slots_, positions = show_slots(show_id), {}
  for pos4, slot in pairs(slots_) do
    if slot and slot[2] and is_play(show, slot) then positions[#positions + 1] = pos4 end
  end
  table.sort(positions)
  local songs = {}
  for i, pos4 in ipairs(positions) do songs[i] = slots_[pos4][3] end
  return songs
end

-- add (or remove) one live slot of a live show to (from) the indexes
local function index_slot(add, show, show_id, sk, pos4, slot)
  local song = slot[3]
  if is_play(show, slot) then
    months[string.sub(sk, 1, 7)] = true
    tallies[show_id] = true
    play_changes[song] = play_changes[song] or {}
    play_changes[song][sk .. ' ' .. pos4 .. ' ' .. slot[2]] = add
  else
    local extra = song .. ' ' .. sk .. ' ' .. pos4
    if add then redis.call('ZADD', K_EXTRAS, 0, extra) else redis.call('ZREM', K_EXTRAS, extra) end
  end
  dirty[song] = true
end

-- add (or remove) a live show and all its live slots to (from) the indexes, under its showkey
local function index_show_as(add, show_id, show)
  local sk = showkey(show, show_id)
  if show.counts then
    if add then redis.call('ZADD', K_ORDER, 0, sk) else redis.call('ZREM', K_ORDER, sk) end
    months[string.sub(sk, 1, 7)] = true
  end
  for pos4, slot in pairs(show_slots(show_id)) do
    if slot and slot[2] then index_slot(add, show, show_id, sk, pos4, slot) end
  end
end

-- give a show its code (see showkey in lib.lua) if it has none: written to its stored record at
-- once (and nothing else of this call with it), so that a retry of a failed call finds it
local function give_code(show_id, show)
  if show.c then return end
  local stored = hget_json(K_SHOWS, show_id) or {}
  if not stored.c then
    stored.c = base62(redis.call('HINCRBY', K_META, 'shows', 1) - 1)
    redis.call('HSET', K_SHOWS, show_id, cjson.encode(stored), '!' .. stored.c, show_id)
  end
  show.c = stored.c
  SHOW_OF[stored.c] = show_id
end

-- the showkeys of the countable shows of a show's date and show order (itself included, if indexed)
local function same_day_and_order(show)
  local head = show.date .. ' ' .. string.format(ORDER_FORMAT, show.ord)
  return redis.call('ZRANGEBYLEX', K_ORDER, lo(head), hi(head))
end

-- make the countable show of showkey `sk` take its long showkey (`long`) or its code's: if its
-- record says otherwise, it is taken out of the indexes under the showkey its record gives
-- and indexed again under the other (what a failed call left of either is mended so)
local function rekey(sk, long)
  local show_id = sk_show(sk)
  local show = get_show(show_id)
  if (show.long or false) == long then return end
  index_show_as(false, show_id, show)
  show.long = long or nil
  index_show_as(true, show_id, show)
  put_show(show_id, show)
end

-- add (or remove) a show and all its live slots to (from) the indexes, if the show is live; a
-- countable show whose date and show order another has too takes its long showkey, and so
-- do the others; one left alone by a removal takes its code's again
local function index_show(add, show_id, show)
  if not is_live(show) then return end
  if add then
    give_code(show_id, show)
    show.long = nil
    if show.counts then
      local mine, others = {[showkey(show, show_id)] = true}, {}
      show.long = true
      mine[showkey(show, show_id)] = true
      for _, sk in ipairs(same_day_and_order(show)) do
        if not mine[sk] then others[#others + 1] = sk end  -- (a failed call's may be there)
      end
      show.long = #others > 0 or nil
      for _, sk in ipairs(others) do rekey(sk, true) end
    end
  end
  index_show_as(add, show_id, show)
  if not add and show.counts then
    local others = same_day_and_order(show)
    if #others == 1 then rekey(others[1], false) end
  end
end

local function show_recorded(e)
  local renamed = 0  -- the band's name is a change of its own, even when the show's is not
  if e.name then
    local name_v = redis.call('HGET', K_META, 'name_v') or nil
    if vless(name_v, e.v) then
      redis.call('HSET', K_META, 'name', e.name, 'name_v', e.v)
      renamed = 1
    end
  end
  local old = get_show(e.id)
  if old and (not vless(old.v, e.v) or not vless(old.rm, e.v)) then return renamed end
  local new = {v = e.v, rm = old and old.rm, date = e.date, ord = e.ord, counts = e.counts, d = e.d,
               c = old and old.c, long = old and old.long}
  local moved = not (is_live(old) and old.date == new.date and old.ord == new.ord and old.counts == new.counts)
  if moved and old then index_show(false, e.id, old) end
  if moved then index_show(true, e.id, new) end
  put_show(e.id, new)
  return 1
end

local function show_removed(e)
  local show = get_show(e.id)
  if show and not vless(show.rm, e.v) then return 0 end
  if show then index_show(false, e.id, show) else show = {} end
  show.rm = e.v
  for pos4, slot in pairs(show_slots(e.id)) do
    if slot and vless(slot[1], e.v) then put_slot(e.id, pos4, false) end
  end
  index_show(true, e.id, show)
  put_show(e.id, show)
  return 1
end

-- PerformanceAdded (e.t == 'P') and PerformanceRemoved (e.t == 'X') share one path
local function slot_written(e)
  if e.t == 'P' then
    song_code(e.song)  -- given in log order, however the log is cut into calls
    local t = titles[e.song]
    if t == nil or vless(t.v, e.v) then titles[e.song] = {v = e.v, title = e.title, slug = e.slug} end
  end
  local show = get_show(e.id)
  if show and not vless(show.rm, e.v) then return 0 end
  local pos4 = string.format(POSITION_FORMAT, e.pos)
  local old = show_slots(e.id)[pos4]
  if old and not vless(old[1], e.v) then return 0 end
  local new
  if e.t == 'P' then
    new = {e.v, e.set, e.song, e.counts and 1 or 0, e.tr or '', e.rep and 1 or 0, e.foot or ''}
  else
    new = {e.v}
  end
  local live = is_live(show)
  local sk = live and showkey(show, e.id)
  if live and old and old[2] then index_slot(false, show, e.id, sk, pos4, old) end
  if live and new[2] then index_slot(true, show, e.id, sk, pos4, new) end
  put_slot(e.id, pos4, new)
  return 1
end

local HANDLERS = {S = show_recorded, R = show_removed, P = slot_written, X = slot_written}

local changed = 0
for i = 1, #ARGV do
  local e = cjson.decode(ARGV[i])
  changed = changed + HANDLERS[e.t](e)
end
for song in pairs(dirty) do
  local changes = play_changes[song]
  if changes then
    local s, tail, whole = write_plays(song, changes)
    -- the shows whose repeats may have changed: every show touched when the string was
    -- rewritten; when plays were only appended, a show that got two of them, or the show
    -- they were appended after (the only one whose stored plays can be there too)
    local touched = {}
    for entry in pairs(changes) do
      local sk = string.match(entry, '^%S+ %S+ %S+')
      touched[sk] = (touched[sk] or 0) + 1
    end
    for sk, n in pairs(touched) do
      if tail == false or n > 1 or tail == sk then fix_repeats(song, s, sk) end
    end
    if whole then
      refresh_song(song, first_and_last(s))
    else  -- appended to a long string: `s` ends it; its first entry is read from its start
      refresh_song(song, first_entry(song), entry_before(s, #s))
    end
  else
    refresh_song(song, end_entries(song))
  end
end
-- a show's setlist is kept under its showkey's tail (sk_tail): under the other, if it was
-- indexed again under its other showkey, none is left
for show_id in pairs(tallies) do
  local songs, show = show_plays(show_id), get_show(show_id)
  redis.call('HDEL', K_SETLISTS, show.c, '~' .. show_id)
  if #songs > 0 then
    for i, song in ipairs(songs) do songs[i] = song_code(song) end
    redis.call('HSET', K_SETLISTS, sk_tail(showkey(show, show_id)), table.concat(songs, ' '))
  end
end
for month in pairs(months) do
  local shows_n, plays_n = shows_and_plays('[' .. month .. '-', '(' .. month .. '~')
  if shows_n > 0 then
    redis.call('HSET', K_MONTHS, month, shows_n .. '|' .. plays_n)
  else
    redis.call('HDEL', K_MONTHS, month)
  end
end
-- the records last; a newer title is a change of its own, even from a performance whose
-- slot has changed since (its title is still the song's last appended one)
for song, t in pairs(titles) do
  local stored = redis.call('HGET', K_SONGS, song)
  if not stored or vless(string.match(stored, '"v":"([^"]+)"'), t.v) then
    redis.call('HSET', K_SONGS, song, cjson.encode(t))
    changed = changed + 1
  end
end
if changed > 0 then redis.call('INCR', K_STAMP) end
for show_id, positions in pairs(slots_dirty) do
  if next(positions) then
    local packed = pack_slots(slots[show_id])
    if packed then redis.call('HSET', K_SLOTS, show_id, packed) else redis.call('HDEL', K_SLOTS, show_id) end
  end
end
for show_id in pairs(shows_dirty) do redis.call('HSET', K_SHOWS, show_id, cjson.encode(shows[show_id])) end
return changed
