--[[ setlist.lua: one show and its performances, each play with its previous play of the song.

KEYS: the band's keys (projections.keys.BAND_KEYS order).
ARGV[1]: show_id; ARGV[2]: as_of 'YYYY-MM-DD'.
Returns: false when the show is not recorded (or dated after as_of), else {show record JSON,
         {position, slot record JSON, song record JSON, is a play (0/1), previous play's showkey
         or false, gap in shows or false}, ...} by position.
]]
local show_id, as_of = ARGV[1], ARGV[2]

local raw_show = redis.call('HGET', K_SHOWS, show_id)
local show = raw_show and cjson.decode(raw_show)
if not is_live(show) or show.date > as_of then return false end
local sk = showkey(show, show_id)
local slots = read_slots(redis.call('HGET', K_SLOTS, show_id))
local positions = {}
for pos4 in pairs(slots) do positions[#positions + 1] = pos4 end
table.sort(positions)
local rows = {}
for _, pos4 in ipairs(positions) do
  local slot = slots[pos4]
  if slot[2] then
    local song = slot[3]
    local play = show.counts and slot[4] == 1 and slot[2] ~= 's'
    local prev, gap = false, false
    if play then
      local m = previous_play(song, sk, pos4)
      if m then
        prev = play_parts(m)
        gap = show_index(sk) - show_index(prev)
      end
    end
    rows[#rows + 1] = {tonumber(pos4), cjson.encode(slot), redis.call('HGET', K_SONGS, song), play and 1 or 0, prev, gap}
  end
end
return {raw_show, rows}
