"""A small progress bar on stderr (a redrawn line on a terminal, a line every 10% elsewhere)."""

from __future__ import annotations

import sys
import time
from types import TracebackType


class Progress:
    def __init__(self, label: str, total: int, width: int = 30) -> None:
        self.label, self.total, self.width = label, max(total, 1), width
        self.done = 0
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self._last_decile = -1

    def advance(self, n: int) -> None:
        self.update(self.done + n)

    def update(self, done: int) -> None:
        self.done = min(done, self.total)
        fraction = self.done / self.total
        if self.tty:
            filled = int(fraction * self.width)
            rate = self.done / max(time.monotonic() - self.started, 1e-9)
            sys.stderr.write(
                f"\r{self.label:<10} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{self.done}/{self.total} {fraction:4.0%} {rate:,.0f}/s"
            )
            sys.stderr.flush()
        elif int(fraction * 10) > self._last_decile:
            self._last_decile = int(fraction * 10)
            print(f"{self.label}: {self.done}/{self.total} ({fraction:.0%})", file=sys.stderr)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.tty:
            sys.stderr.write("\n")
