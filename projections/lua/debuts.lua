--[[ debuts.lua: songs whose first play falls in a window, with their plays up to its end.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: ordinal of the window's first day; ARGV[2]: ordinal of as_of; ARGV[3]: as_of 'YYYY-MM-DD'.
Returns: {band name or false, {{song record JSON, song_id, debut showkey, plays up to as_of,
          show record JSON}, ...}}.
]]
local as_of = ARGV[3]

local rows, firsts = {}, {}
for i, song in ipairs(redis.call('ZRANGEBYSCORE', K_FIRST, ARGV[1], ARGV[2])) do
  local count, first_sk, last_sk = parse_summary(redis.call('HGET', K_SUMMARY, song))
  rows[i] = {redis.call('HGET', K_SONGS, song), song, first_sk, (plays_upto(song, count, last_sk, as_of))}
  firsts[i] = first_sk
end
local shows = hmget(K_SHOWS, sk_ids(firsts))
for i, sk in ipairs(full_showkeys(firsts)) do rows[i][3], rows[i][5] = sk, shows[i] end
return {redis.call('HGET', K_META, 'name'), rows}
