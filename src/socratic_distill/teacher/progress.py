"""A one-line progress bar on stderr: done/total, rate, ETA, kept ratio, tokens.

On a terminal the line is redrawn in place a few times a second; elsewhere (a log file, CI) a
plain line is printed every `log_every` seconds, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _count(value: float) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return str(int(value))


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True,
                 refresh: float = 0.2, log_every: float = 10.0):
        self.total, self.enabled = total, enabled and total > 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = refresh if self.tty else log_every
        self.done = self.kept = self.tokens = 0
        self.start = self._last = time.monotonic()

    def update(self, kept: bool, tokens: int = 0) -> None:
        self.done += 1
        self.kept += kept
        self.tokens += tokens
        now = time.monotonic()
        if self.enabled and (now - self._last >= self.interval or self.done == self.total):
            self._last = now
            self._draw(now)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def line(self, now: float | None = None) -> str:
        elapsed = max(1e-9, (now or time.monotonic()) - self.start)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0
        filled = int(20 * self.done / self.total) if self.total else 20
        kept = f"{100 * self.kept / self.done:.0f}%" if self.done else "-"
        return (f"annotate [{'#' * filled}{'.' * (20 - filled)}] {self.done}/{self.total} "
                f"{rate:.1f}/s ETA {_clock(eta)} kept {kept} tokens {_count(self.tokens)}")

    def _draw(self, now: float) -> None:
        if self.tty:
            self.stream.write("\r" + self.line(now) + "\x1b[K")
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()
