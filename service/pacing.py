"""How a consumer gives way to live events and to questions. The whole rule:

1. A consumer paces itself while the deployment is live (a write-through, in any process, in
   the last ``pace_live_window`` seconds: the key ``ss:live``) or while its own process has
   served a question or a write-through in the last ``pace_served_window`` seconds.
2. Pacing, it applies a backfill one short script call (``LIVE_CHUNK`` events) at a time,
   starts each once its process has served nothing for ``pace_grace`` seconds (or after
   ``pace_wait_max`` seconds of waiting for that), and rests after each ``pace_rest`` times
   as long as the call took.
3. A read of at most ``pace_live_batch`` entries is live events arriving one by one: applied
   at once, without pacing (they are what the questions asked meanwhile wait for).

Every tunable is a field of ``service.config.Settings`` (environment ``PACE_*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Pacing:
    #: seconds after a write-through during which every consumer paces itself (rule 1)
    live_window: float = 600.0
    #: seconds after this process last served something during which its consumer paces (rule 1)
    served_window: float = 1.0
    #: seconds with nothing served before a paced script call starts (rule 2): the question
    #: that follows a write-through comes about that soon
    grace: float = 0.005
    #: seconds a paced script call waits at most for that (rule 2): the backlog keeps moving
    #: under a steady stream of questions
    wait_max: float = 0.05
    #: seconds of rest per second of a paced script call (rule 2): 1.0 halves a backfill's pace
    rest: float = 1.0
    #: the most entries a read of live events holds (rule 3)
    live_batch: int = 20

    _serving: int = field(default=0, init=False)  # answers and write-throughs under way
    _served_at: float = field(default=-math.inf, init=False)  # when the last one ended
    _idle: asyncio.Event = field(default_factory=asyncio.Event, init=False)  # none under way

    def __post_init__(self) -> None:
        self._idle.set()

    @property
    def live_window_ms(self) -> int:
        return round(self.live_window * 1000)

    def paced(self, live: bool, entries: int) -> bool:
        """Whether a read of ``entries`` is applied paced (rules 1 and 3); ``live``: the
        deployment is live (``ss:live`` is set)."""
        return entries > self.live_batch and (live or self.served_lately())

    def served_lately(self) -> bool:
        return bool(self._serving) or time.perf_counter() - self._served_at < self.served_window

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """An answer or a write-through under way (what a paced call waits for)."""
        self._serving += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._serving -= 1
            self._served_at = time.perf_counter()
            if not self._serving:
                self._idle.set()

    async def turn(self) -> None:
        """Wait before a paced script call (rule 2)."""
        deadline = time.perf_counter() + self.wait_max
        while (left := deadline - time.perf_counter()) > 0:
            if self._serving:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self._idle.wait()
                continue
            quiet = self._served_at + self.grace - time.perf_counter()
            if quiet <= 0:
                return
            await asyncio.sleep(min(quiet, left))

    async def after(self, seconds: float) -> None:
        """Rest after a paced script call that took ``seconds`` (rule 2)."""
        await asyncio.sleep(seconds * self.rest)
