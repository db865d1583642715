"""Progress of long work on stderr: rich's bar (count, rate, time left) on a terminal, a line
every 10% elsewhere (a log, CI), so that a backfill of hours says how far it is."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Bar
from rich.text import Text


class RateColumn(ProgressColumn):
    """Things per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f}/s" if task.speed else "", style="progress.data.speed")


def stderr_console() -> Console:
    return Console(stderr=True)


def bar(console: Console | None = None) -> Bar:
    """A rich progress display on stderr (disabled when stderr is not a terminal)."""
    console = console or stderr_console()
    return Bar(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )


class Progress:
    """One counted piece of work (``label``: ``total`` things), as a context manager."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, max(total, 1)
        self.done = 0
        self._decile = -1
        self._bar = bar()
        self._task = self._bar.add_task(label, total=self.total)

    def advance(self, n: int) -> None:
        self.update(self.done + n)

    def update(self, done: int) -> None:
        self.done = min(done, self.total)
        if not self._bar.disable:
            self._bar.update(self._task, completed=self.done)
        elif (decile := self.done * 10 // self.total) > self._decile:
            self._decile = decile
            print(f"{self.label}: {self.done}/{self.total} ({self.done / self.total:.0%})", file=sys.stderr)

    def __enter__(self) -> Progress:
        self._bar.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()
