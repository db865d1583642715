"""The benchmark's scale phase: many synthetic bands (tours, rotations, rarities, seeded)
beside a real one."""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_common import QUERIES, Consumer, latencies, latencies_in_turn, lines, ready
from redis.asyncio import Redis

from service.cli import freeze_heap
from service.ingest import publish, wait_settled


def synthetic(bands: int, plays_per_band: int, seed: int = 7) -> list[dict[str, Any]]:
    """Many bands of generated shows, 20 plays a show, rotating a repertoire as real bands do:
    each show draws from the 150 songs that debuted last (each with a popularity of its own),
    debuts a new song one time in three, brings one back from the whole catalogue one time in
    two and plays a one-off (a cover) one time in five. A script call of 1,000 events then
    touches about as many distinct songs as one of the real histories (0.16 per play, where
    Phish's touch 0.17, the Grateful Dead's 0.12 and Goose's 0.19), and that is what the
    apply's cost follows."""
    rng = random.Random(seed)
    events = []
    for b in range(bands):
        band = f"synthetic-{b:02d}"
        day = dt.date(1990, 1, 1)
        popularity = [rng.random() ** 2 + 0.05 for _ in range(60)]  # the songs, in debut order
        for s in range(plays_per_band // 20):
            day += dt.timedelta(days=rng.choice((1, 1, 2, 3, 30)))
            show_id = f"{b}-{s}"
            events.append(
                {
                    "type": "ShowRecorded",
                    "event_id": f"{band}-s{s}",
                    "band": band,
                    "show_id": show_id,
                    "date": day.isoformat(),
                    "band_name": band.title(),
                }
            )
            songs: list[str] = []
            if rng.random() < 1 / 3:
                popularity.append(rng.random() ** 2 + 0.05)
                songs.append(f"s{len(popularity) - 1}")
            if rng.random() < 1 / 5:
                songs.append(f"cover-{s}")
            if rng.random() < 1 / 2:
                songs.append(f"s{rng.randrange(len(popularity))}")
            rotation = range(max(0, len(popularity) - 150), len(popularity))
            weights = [popularity[k] for k in rotation]
            while len(songs) < 20:
                song = f"s{rng.choices(rotation, weights)[0]}"
                if song not in songs:
                    songs.append(song)
            rng.shuffle(songs)
            for pos, song in enumerate(songs, start=1):
                events.append(
                    {
                        "type": "PerformanceAdded",
                        "event_id": f"{band}-p{s}-{pos}",
                        "band": band,
                        "show_id": show_id,
                        "position": pos,
                        "set": "1" if pos < 10 else "2",
                        "song_id": song,
                        "song_title": f"Song {song}",
                    }
                )
    return events


async def scale_phase(
    server_url: str, redis: Redis, phish: list[dict[str, Any]], last_show: str, n: int, quick: bool
) -> dict[str, Any]:
    """1,000,000 plays (100,000 with --quick) over 50 synthetic bands, a Phish-sized band
    beside them: ingest end to end, and per-band answers against Phish's, asked in turn."""
    plays_per_band = 2_000 if quick else 20_000
    print(f"scale: 50 bands x {plays_per_band} plays", file=sys.stderr)
    events = synthetic(50, plays_per_band)
    freeze_heap()
    await redis.flushall()
    consumer = Consumer(server_url)
    try:
        await ready(server_url)
        ids = await publish(redis, lines(phish))  # beside them, the Phish-sized band
        await wait_settled(redis, ids, timeout=600)
        started = time.perf_counter()
        ids = await publish(redis, lines(events))
        await wait_settled(redis, ids, timeout=7200)
        elapsed = time.perf_counter() - started
        synthetic_last = max(e["date"] for e in events if e["band"] == "synthetic-25" and e["type"] == "ShowRecorded")
        # `song` answers list every play: compare like with like, the synthetic song whose
        # play count is nearest to that of the Phish song asked about above
        phish_song = next(p["song_id"] for q, p in QUERIES if q == "song")
        phish_plays = sum(1 for e in phish if e["type"] == "PerformanceAdded" and e["song_id"] == phish_song)
        counts = Counter(e["song_id"] for e in events if e["band"] == "synthetic-25" and "song_id" in e)
        song, song_plays = min(counts.items(), key=lambda item: (abs(item[1] - phish_plays), item[0]))
        # per-band queries: a synthetic band and Phish in the same Redis, asked in turn
        per_band = [(q, p) for q, p in QUERIES if q not in ("setlist", "bands")]
        subjects = [("synthetic-25", synthetic_last, {"song": {"song_id": song}}), ("phish", last_show, {})]
        scale, beside = await latencies_in_turn(server_url, subjects, 1, n // 2, per_band)
        scale_cold, beside_cold = await latencies_in_turn(server_url, subjects, 1, n // 2, per_band, cold=True)
        # and `bands`, over the 51 (cold: after a change to the synthetic band)
        for figures, cold in ((scale, False), (scale_cold, True)):
            bands = await latencies(server_url, "synthetic-25", synthetic_last, 1, n // 2, [("bands", {})], cold)
            figures.update(bands)
        return {
            "plays": sum(1 for e in events if e["type"] == "PerformanceAdded"),
            "bands": 50,
            "song": {"song_id": song, "plays": song_plays, "phish_song_plays": phish_plays},
            "end_to_end_events_per_s": round(len(events) / elapsed),
            "queries_c1": scale,
            "queries_c1_cold": scale_cold,
            "phish_beside_c1": beside,
            "phish_beside_c1_cold": beside_cold,
            "per_band_ratio_c1": {q: round(scale[q]["p50_ms"] / beside[q]["p50_ms"], 2) for q in beside},
            "per_band_ratio_c1_cold": {
                q: round(scale_cold[q]["p50_ms"] / beside_cold[q]["p50_ms"], 2) for q in beside_cold
            },
        }
    finally:
        consumer.stop()
