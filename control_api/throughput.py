"""Measure each actor's handled messages per second over the last few seconds.

A counter says how much happened since the start; an operator wants to know what happens now.
One background task samples the kernel's counters every second and keeps a short window, so
`/status` answers with a rate without doing any work of its own.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import anyio

SAMPLE_SECS = 1.0
WINDOW = 6
"""Samples kept: the rate spans the last `WINDOW - 1` seconds."""


class Throughput:
    """Keep a short window of (time, handled per actor) samples."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=WINDOW)

    def sample(self, kernel: Any, /) -> None:
        """Record the kernel's handled counters now."""
        handled = {name: cell.handled for name, cell in kernel.cells.items()}
        self._samples.append((time.monotonic(), handled))

    async def run(self, kernel: Any, /) -> None:
        """Sample every second until cancelled. A cancellation point."""
        while True:
            self.sample(kernel)
            await anyio.sleep(SAMPLE_SECS)

    def rates(self) -> dict[str, float]:
        """Return handled messages per second per actor over the window (0 before two samples)."""
        if len(self._samples) < 2:
            return {}
        (t0, first), (t1, last) = self._samples[0], self._samples[-1]
        span = t1 - t0
        if span <= 0:
            return {}
        return {name: round((n - first.get(name, 0)) / span, 1) for name, n in last.items()}
