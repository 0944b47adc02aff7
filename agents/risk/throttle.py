"""Throttle order rates on the kernel clock, so a backtest throttles exactly as it did last time.

A window is an exact sliding window: it admits an order when fewer than `count` orders were
admitted in the last `window_ns` nanoseconds of kernel time (`ctx.now`), never the wall clock.
It keeps the times of the last `count` admissions in a ring, so its memory is bounded by the
limit, and one check is a comparison.
"""

from __future__ import annotations

import msgspec

from agents.risk.checks import Denial


class RateWindow(msgspec.Struct, kw_only=True):
    """The kernel times (ns) of the most recent admissions, oldest at `head` once full."""

    stamps: list[int] = msgspec.field(default_factory=list)
    head: int = 0

    def admits(self, now: int, count: int, window_ns: int, /) -> bool:
        """Return whether one more order at `now` keeps `count` or fewer in any window."""
        stamps = self.stamps
        if len(stamps) < count:
            return True
        if len(stamps) > count:  # the limit shrank since this ring was filled (a new config)
            self.stamps = sorted(stamps)[-count:]
            self.head = 0
            stamps = self.stamps
        return now - stamps[self.head] >= window_ns

    def record(self, now: int, count: int, /) -> None:
        """Note an admission at `now` (after `admits` said yes)."""
        stamps = self.stamps
        if len(stamps) < count:
            stamps.append(now)
            return
        # Invariant: len(stamps) == count and stamps[head] is the oldest admission.
        stamps[self.head] = now
        self.head = (self.head + 1) % count


def check_rate(
    window: RateWindow, now: int, count: int, window_ns: int, code: str, what: str, /
) -> Denial | None:
    """Deny an order when its window already holds `count` admissions younger than `window_ns`."""
    if window.admits(now, count, window_ns):
        return None
    return code, (f"{what} rate limit of {count} per {window_ns // 1_000_000} ms reached")
