--[[ song.lua: one song's plays up to a date, each with the index of its show in show order.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: song_id; ARGV[2]: as_of 'YYYY-MM-DD'.
Returns: false for an unknown song, else {song record JSON, countable shows up to as_of,
         {showkey, position, set, show index (from 0)}, ...} in show order.
]]
local song, as_of = ARGV[1], ARGV[2]

local record = redis.call('HGET', K_SONGS, song)
if not record then return false end
local s = packed_plays(song)
local upto_as_of = {}
for entry in entries(s, 0, cut(s, as_of, true)) do upto_as_of[#upto_as_of + 1] = entry end
-- a show's index: one show_index each for a few plays, one read of the whole show order for many
local index, total
if #upto_as_of > 64 then index, total = show_indexes(as_of) end
local plays = {}
for _, entry in ipairs(upto_as_of) do
  local sk, pos4, set = play_parts(entry)
  plays[#plays + 1] = {sk, tonumber(pos4), set, index and index[sk] or show_index(sk)}
end
local sks = {}
for i, play in ipairs(plays) do sks[i] = play[1] end
for i, sk in ipairs(full_showkeys(sks)) do plays[i][1] = sk end
return {record, total or redis.call('ZLEXCOUNT', K_ORDER, '-', '(' .. as_of .. '~'), plays}
