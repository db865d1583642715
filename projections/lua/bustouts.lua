--[[ bustouts.lua: plays dated in a window whose gap since the song's previous play reaches a threshold.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: first day of the window; ARGV[2]: as_of (last day); ARGV[3]: unit 'days' or 'shows';
ARGV[4]: threshold in that unit.
Returns: {{song record JSON, song_id, showkey, previous play's showkey, gap in days, gap in shows,
          show record JSON}, ...} in show order.
]]
local from, as_of, by_days, threshold = ARGV[1], ARGV[2], ARGV[3] == 'days', tonumber(ARGV[4])
local index = show_indexes(as_of)

-- the window's plays in show order; a play's previous play is the song's preceding play in
-- the window, or, for its first play there, one read of the song's plays before it
local latest = {}  -- song -> showkey of its latest play seen in the window
local rows = {}
for _, m in ipairs(redis.call('ZRANGEBYLEX', K_DPLAYS, '[' .. from, '(' .. as_of .. '~')) do
  local sk, pos4, song = string.match(m, '^(%S+ %S+ %S+) (%S+) (%S+)$')
  local prev = latest[song]
  if prev == nil then
    local member = previous_play(song, sk, pos4)
    prev = member and play_parts(member) or false
  end
  latest[song] = sk
  if prev then
    local gap_shows = index[sk] - index[prev]
    local gap_days = ordinal(sk) - ordinal(prev)
    if (by_days and gap_days or gap_shows) >= threshold then
      rows[#rows + 1] = {redis.call('HGET', K_SONGS, song), song, sk, prev, gap_days, gap_shows,
                         redis.call('HGET', K_SHOWS, sk_show(sk))}
    end
  end
end
return rows
