--[[ highlights.lua: the highlights of a band's live plays (one a play at most: its most notable
kind, see projections/highlights.py), each pushed once; a highlight
that no longer holds (its play removed, its show removed, an earlier play of the song added)
is retracted.

KEYS: the band's keys (projections.keys.BAND_KEYS order), then the band's outbox and its
      pushed-highlights hash (projections.keys.outbox_key, pushed_key): every key in the band's slot.
ARGV[1], ARGV[2]: the live window 'YYYY-MM-DD' (first and last day, both included);
ARGV[3]: a bustout's least gap in shows; ARGV[4]: in days; ARGV[5]: the band's slug.
Returns: {pushed, retracted, highlights waiting in the outbox}. The service moves what waits in
the outbox to the highlights stream (projections.batch.flush_outboxes), which lives in a slot
of its own on a Redis Cluster.

Run after every apply of the band (and only then: a rebuild never runs it), it compares what
the live plays deserve now with what was pushed (the hash: highlight id -> its JSON), so it
converges whatever came before: a redelivery, a crash between the apply and this, the
write-through and the consumer both applying one event, each finds the highlight pushed and
pushes nothing. A play is live when its show is dated in the window; highlights of shows
that left the window are forgotten (never retracted, never pushed again).
]]
local K_OUTBOX, K_PUSHED = KEYS[#KEYS - 1], KEYS[#KEYS]
local first_day, last_day, min_shows, min_days = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local band = ARGV[5]
local MILESTONES = {[50] = true, [100] = true, [250] = true, [500] = true, [1000] = true}

-- an id as its events name it (keys.unstored: the stored escape undone)
local UNESCAPE = {['"'] = ' ', ['#'] = '!', ['$'] = '"'}
local function unstored(id)
  return (string.gsub(id, '"(.)', UNESCAPE))
end

local deserved = {}  -- highlight id -> its payload (a table)
local order = {}     -- highlight id -> where it sorts: show, position, kind
local function deserve(kind, sk, pos4, song, n, prev, gap_shows, gap_days)
  local show_id = unstored(sk_show(sk))
  local position = tonumber(pos4)
  local id = band .. ':' .. show_id .. ':' .. position .. ':' .. kind
  order[id] = sk .. ' ' .. pos4 .. ' ' .. kind
  deserved[id] = {
    type = 'Highlight', id = id, kind = kind, band = band, show_id = show_id, position = position,
    song_id = unstored(song), song_title = song_title(redis.call('HGET', K_SONGS, song) or '{}'),
    date = string.sub(sk, 1, 10), play_number = n,
    previous_play = prev and string.sub(prev, 1, 10) or cjson.null,
    gap_shows = gap_shows or cjson.null, gap_days = gap_days or cjson.null,
  }
end

for _, sk in ipairs(redis.call('ZRANGEBYLEX', K_ORDER, '[' .. first_day, '(' .. last_day .. '~')) do
  local done = {}
  for _, song in ipairs(setlist_songs(redis.call('HGET', K_SETLISTS, sk_tail(sk)))) do
    if not done[song] then
      done[song] = true
      local key = sk .. ' '
      local t = plays_span(song, key, key)
      local from = cut(t, key, false)
      local prev = entry_before(t, from)
      local here = show_index(sk)
      for entry in entries(t, from, cut(t, key, true)) do
        local _, pos4 = play_parts(entry)
        local n = entry_number(entry)
        -- one highlight a play: its most notable kind
        if not prev then
          deserve('debut', sk, pos4, song, n)
        else
          local prev_sk = play_parts(prev)
          local gap_shows = here - show_index(prev_sk)
          local gap_days = ordinal(string.sub(sk, 1, 10)) - ordinal(string.sub(prev_sk, 1, 10))
          local kind = (gap_shows >= min_shows and 'bustout') or (gap_days >= min_days and 'bustout_days')
            or (MILESTONES[n] and 'milestone') or (string.sub(prev_sk, 1, 4) < string.sub(sk, 1, 4) and 'first_of_year')
          if kind then deserve(kind, sk, pos4, song, n, prev, gap_shows, gap_days) end
        end
        prev = entry
      end
    end
  end
end

local pushed, retracted = 0, 0
local had = redis.call('HGETALL', K_PUSHED)
for i = 1, #had, 2 do
  local id, raw = had[i], had[i + 1]
  local date = string.match(raw, '"date":"(%d%d%d%d%-%d%d%-%d%d)"')
  if deserved[id] then
    deserved[id] = nil  -- pushed already
  elseif date and date < first_day then
    redis.call('HDEL', K_PUSHED, id)  -- its show left the window: forgotten
  else
    local h = cjson.decode(raw)
    local gone = {type = 'HighlightRetracted', id = id, kind = h.kind, band = band, show_id = h.show_id,
                  position = h.position, song_id = h.song_id, date = h.date}
    redis.call('RPUSH', K_OUTBOX, cjson.encode(gone))
    redis.call('HDEL', K_PUSHED, id)
    retracted = retracted + 1
  end
end
local ids = {}
for id in pairs(deserved) do ids[#ids + 1] = id end
table.sort(ids, function(a, b) return order[a] < order[b] end)  -- in show and position order
for _, id in ipairs(ids) do
  local raw = cjson.encode(deserved[id])
  redis.call('RPUSH', K_OUTBOX, raw)
  redis.call('HSET', K_PUSHED, id, raw)
  pushed = pushed + 1
end
return {pushed, retracted, redis.call('LLEN', K_OUTBOX)}
