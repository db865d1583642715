"""The Redis key layout: every key the service reads or writes is described here.

All keys of one band share the hash tag ``{band}``, so every key that one atomic update
touches lives in one Redis Cluster hash slot (an id holding ``{`` or ``}`` cannot move it:
Redis hashes the text between the *first* ``{`` and the ``}`` after it, which is the band's).

Ids are stored escaped (``stored``): a space, ``!`` and ``"`` become ``""``, ``"#`` and ``"$``.
The escape keeps byte order (so the contract's show order holds), is one-to-one (two ids never
share a key or a member), and leaves every byte of a stored id above ``!`` and no whitespace
in it. Members of the lexicographic sorted sets and the packed records are space-separated,
so ``[<id> `` .. ``(<id>!`` is exactly one stored id's range. Ids are unescaped (``unstored``)
only where an answer names them.

Per band ``b`` and projection generation ``g`` (prefix ``ss:{b}:g:``; ``setlist-stats rebuild``
builds generation g + 1 from the log beside g, then switches):

=============  ======  ==================================================================
key            type    contents
=============  ======  ==================================================================
meta           hash    ``name``/``name_v``: band name, last-appended wins; ``shows``: the codes
                       given to shows
shows          hash    show_id -> show record (JSON: version, removal tombstone, details, code,
                       long); "!" + code -> show_id (a stored id holds no "!")
songs          hash    song_id -> song record (JSON: title, slug, version)
order          zset    lex "showkey": countable shows in show order
plays          hash    song_id -> the song's plays packed: "showkey pos4 set n\\n" each (n counts
                       from 1), ascending (see lua/plays.lua)
marks          hash    song_id -> "YYYY offset n\\n" for each year the song was played in: where
                       in its packed plays that year's first play is, and how many plays
                       came before it (a read of the years asked about instead of the whole
                       string; velocity's plays up to a date; see lua/plays.lua)
setlists       hash    the show's code (or "~" + show_id: its showkey's end) -> the song codes
                       of its plays by position, space-separated (countable live shows with a
                       play): what the windows of velocity and bustouts read, a show at a
                       time, and how many plays a show had
hiatuses       zset    lex "song_id showkey n" for each play (the n-th of the song) followed by
                       the song's next play HIATUS_DAYS (180) or more days later; score: the
                       play's year x 10^7 + the next play's ordinal day. What a historical
                       ``gaps`` reads for the songs played again after as_of: one range per
                       year gives exactly the stretches that hold as_of (see lua/gaps.lua);
                       and ``bustouts``, the play before a song's first in its scan
repeats        zset    lex "song_id showkey pos4": plays of a song after its first in one show
extras         zset    lex "song_id showkey pos4": live performances that are not plays
first          zset    song_id -> ordinal day of its first play (debuts)
seen           zset    song_id -> ordinal day of its first live performance (catalogue)
summary        hash    song_id -> "plays first-play-showkey last-play-showkey" (space-separated: a
                       stored id holds no space, so a ``|`` in a show id splits nothing)
last           zset    song_id -> day and show order of its last play (ordinal day x 10^6 +
                       show_order): every song with a play, least recently played first
                       (gaps, velocity and bustouts read only the songs they need)
regulars       zset    the same, for the songs with REGULAR_PLAYS (5, gaps' default
                       min_plays) plays or more: a ``gaps`` with min_plays 5 or more passes
                       over none of the songs played only a few times, long ago
months         hash    "YYYY-MM" -> "countable shows|plays" that month (recomputed, not counted)
stamp          string  bumped by every apply that changes the band: answers cached under it
slots          hash    show_id -> a JSON array: the milliseconds (base 62) of most of the show's
                       versions, then its slot records by position, [position, version, set,
                       song code, transition, counts, reprise, footnote] ([position,
                       version]: a tombstone), the version a number (its seq) when it has
                       those milliseconds, those at their defaults ("", 1, 0, "") left off the
                       end (see lua/lib.lua)
codes          hash    song_id -> the song's code, and "!" + code -> song_id: a song is named by
                       its code (base 62, given in the order songs first appear) in the slots
                       and the setlists, where it stands once a play
=============  ======  ==================================================================

``showkey`` is ``"YYYY-MM-DD OOOOOO code"`` (show_order zero-padded to six digits; code: the
show's, base 62, given when it is first indexed), or ``"YYYY-MM-DD OOOOOO ~show_id"`` for a
countable show while another countable show has the same date and show order (``long`` in its
record), so lexicographic order is the contract's show order ``(date, show_order, show_id)``
(see lua/lib.lua). The answers name shows by ``"YYYY-MM-DD OOOOOO show_id"``.

Per band and source, the import checkpoint (``import_key``); per band, the highlights pushed
(``pushed_key``). Global keys: the events stream,
its consumer group, the dead-letter stream and its index,
the highlights stream, the set of known bands, the generations (hash: ``current``, ``next`` while a rebuild runs,
and ``layout:<g>``: the ``LAYOUT`` that generation g was built with) and the live marker
(a string with an expiry, set by every write-through publish: while it exists, consumers
apply in short script calls).
"""

from __future__ import annotations

import re

PREFIX = "ss"

EVENTS_STREAM = f"{PREFIX}:events"
CONSUMER_GROUP = "setlist-stats"
DEAD_STREAM = f"{PREFIX}:{{dead}}:stream"
DEAD_INDEX = f"{PREFIX}:{{dead}}:index"
BANDS = f"{PREFIX}:bands"
GENERATION = f"{PREFIX}:generation"
LIVE = f"{PREFIX}:live"
#: The number of the event log's partitions (see projections/streams.py), recorded once.
PARTITIONS = f"{PREFIX}:partitions"
#: The highlights of live plays, every band's (JSON in ``__data__``; see projections/highlights.py).
HIGHLIGHTS = f"{PREFIX}:highlights"
FIRST_GENERATION = 1

#: The version of this key layout: raised by every change that needs the projections rebuilt
#: from the log (``setlist-stats rebuild``); the service refuses to start on another one.
LAYOUT = 10
# The formats the scripts share with Python, each defined here once and handed to every script
# as Lua constants (``scripts.header``).
#: Digits of a show's order in its showkey ("YYYY-MM-DD OOOOOO show_id") and of a position in
#: the plays' entries ("showkey pos4 set n"): zero-padded, so that text order is number order.
ORDER_WIDTH, POSITION_WIDTH = 6, 4
#: The largest show order and position the events may carry (``events.ShowOrder``, ``Position``).
ORDER_MAX, POSITION_MAX = 10**ORDER_WIDTH - 1, 10**POSITION_WIDTH - 1
#: Where a showkey's show_id begins: ``showkey[SHOWKEY_ID:]`` here, ``string.sub(sk,
#: SHOWKEY_ID)`` in the scripts (counted from 1 there).
SHOWKEY_ID = len("YYYY-MM-DD ") + ORDER_WIDTH + 1
#: A play's score in the last-play and first-play indexes: its ordinal day x DAY_SCORE + its
#: show's order (so the day is ``score // DAY_SCORE``).
DAY_SCORE = 10**ORDER_WIDTH
#: A song's mark (``marks``): "YYYY offset n\n" for each year it was played in, the offset (of
#: the year's first entry in its packed plays) and n (the plays before it) zero-padded to fixed
#: widths, so that every mark is MARK_WIDTH bytes and a song's marks are read by bisection:
#: room for 10 GB of a song's plays and ten million of them.
MARK_OFFSET_WIDTH, MARK_COUNT_WIDTH = 10, 7
MARK_FORMAT = f"%s %0{MARK_OFFSET_WIDTH}d %0{MARK_COUNT_WIDTH}d\n"
MARK_WIDTH = len("YYYY ") + MARK_OFFSET_WIDTH + 1 + MARK_COUNT_WIDTH + 1
#: A stretch's score in ``hiatuses``: the year of its first play x YEAR_SCORE + the ordinal
#: day of its next play (an ordinal day is below 10**7 until the year 27,000).
YEAR_SCORE = 10**7
#: The least number of days between two plays of a song for the stretch to be indexed
#: (``hiatuses``; ``HIATUS`` in the scripts, handed to them by scripts.py).
HIATUS_DAYS = 180
#: The least number of plays for a song to be in the last-play index of regulars
#: (``regulars``; ``REGULAR`` in the scripts, handed to them by scripts.py): gaps' default
#: min_plays.
REGULAR_PLAYS = 5

#: The band keys, in the order every script receives them as KEYS (see lua/lib.lua): every
#: key a script reads or writes is one of these (the highlights script gets the band's outbox
#: and pushed highlights after them).
BAND_KEYS = (
    "meta",
    "shows",
    "songs",
    "order",
    "plays",
    "repeats",
    "extras",
    "first",
    "seen",
    "summary",
    "last",
    "months",
    "stamp",
    "marks",
    "setlists",
    "hiatuses",
    "regulars",
    "slots",
    "codes",
)


_ESCAPE = str.maketrans({" ": '""', "!": '"#', '"': '"$'})
_UNESCAPE = {'"': " ", "#": "!", "$": '"'}
_ESCAPED = re.compile(r'"(.)')


def stored(an_id: str) -> str:
    """An id as the projections store it: no space, every byte above ``!``, order kept."""
    return an_id.translate(_ESCAPE)


def unstored(stored_id: str | bytes) -> str:
    """The id a stored one stands for (``stored``'s inverse)."""
    text = stored_id.decode() if isinstance(stored_id, bytes) else stored_id
    return _ESCAPED.sub(lambda m: _UNESCAPE[m.group(1)], text) if '"' in text else text


def band_tag(band: str) -> str:
    """The hash tag every key of a band carries (its Redis Cluster slot is the band's)."""
    return f"{{{band}}}"


def band_key(band: str, name: str, generation: int = FIRST_GENERATION) -> str:
    """One key of a band's projection, e.g. ``ss:{phish}:1:order``."""
    if name not in BAND_KEYS:
        raise ValueError(f"unknown band key {name!r}")
    return f"{PREFIX}:{{{band}}}:{generation}:{name}"


def band_keys(band: str, generation: int = FIRST_GENERATION) -> list[str]:
    """All keys of a band's projection, in ``BAND_KEYS`` order."""
    return [f"{PREFIX}:{{{band}}}:{generation}:{name}" for name in BAND_KEYS]


def import_key(band: str, source: str) -> str:
    """A band's import checkpoint for one source (hash): ``show:<show_id>`` -> "digest positions"
    for each show imported, ``cursor`` (JSON) after the last complete run, ``resume`` (JSON)
    during an unfinished one (see service/importers/core.py). Outside the generations: a
    rebuild replays the log and keeps it."""
    return f"{PREFIX}:{{{band}}}:import:{source}"


def pushed_key(band: str) -> str:
    """A band's pushed highlights (hash): highlight id -> the highlight's JSON, for the live
    window's shows only (see lua/highlights.lua). Outside the generations: a rebuild keeps it."""
    return f"{PREFIX}:{{{band}}}:highlighted"


def outbox_key(band: str) -> str:
    """A band's highlights not yet copied to ``HIGHLIGHTS`` (list of JSON, oldest first): the
    highlights script writes them here, in the band's slot, and the service moves them on
    (``batch.flush_outboxes``; ``<outbox>:lock`` while one process does). Outside the
    generations."""
    return f"{PREFIX}:{{{band}}}:outbox"


def layout_field(generation: int) -> str:
    """The field of ``GENERATION`` holding the layout a generation was built with."""
    return f"layout:{generation}"


def generation_pattern(generation: int) -> str:
    """A SCAN pattern matching every key of one projection generation."""
    return f"{PREFIX}:{{*}}:{generation}:*"
