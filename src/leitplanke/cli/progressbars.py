"""A progress bar for long scans, on stderr: shown once a scan has run for a second.

Used by ``scan`` around ``engine.scan``; the engine reports one step per source (file, chart or
host), and the bar is redrawn at most ten times a second, so it costs the scan nothing measurable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

DELAY_SECONDS = 1.0  # a scan that ends sooner shows no bar
_REDRAW_SECONDS = 0.1


class ProgressBar:
    """``with ProgressBar(total, enabled=...) as advance``: ``advance(n)`` after each ``n`` sources;
    ``advance`` is None when the bar is off (not a terminal, ``--quiet``)."""

    def __init__(self, total: int, *, enabled: bool, delay: float = DELAY_SECONDS) -> None:
        self.total = total
        self.enabled = enabled
        self.delay = delay
        self.done = 0
        self._bar: Any = None  # rich.progress.Progress, once shown
        self._task: Any = None
        self._redrawn = 0.0
        self._lock = threading.Lock()
        self._closed = False
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Callable[[int], None] | None:
        if not self.enabled or self.total < 2:
            return None
        self._timer = threading.Timer(self.delay, self._show)
        self._timer.daemon = True
        self._timer.start()
        return self._advance

    def _advance(self, steps: int) -> None:
        self.done += steps
        bar = self._bar
        if bar is None:
            return
        now = time.monotonic()
        if now - self._redrawn >= _REDRAW_SECONDS or self.done >= self.total:
            self._redrawn = now
            bar.update(self._task, completed=self.done)

    def _show(self) -> None:
        from rich.console import Console  # only for a scan that lasts
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with self._lock:
            if self._closed:
                return
            bar = Progress(
                TextColumn("scanning"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = bar.add_task("scanning", total=self.total, completed=self.done)
            bar.start()
            self._bar = bar

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self._bar is not None:
                self._bar.stop()
