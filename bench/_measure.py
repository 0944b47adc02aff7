"""Time code and judge figures the same way in every benchmark, so their numbers compare.

Throughput: the cases of one figure (the kernel and its baselines) run in interleaved rounds after
one warm-up round, and each keeps its best round. On a shared machine noise only ever slows a
round down, so the best round is the closest to what the code costs, and interleaving exposes the
kernel and its baseline to the same background load. Latency: samples are interleaved the same
way and summarised by percentiles. The garbage collector stays on: production runs with it.
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

Figure = dict[str, Any]
"""One figure: `name`, `value`, `unit`, `baseline`, `ratio`, `goal`, `met` (the JSON keys), plus
`goal_on` ("value" or "ratio"), `better` ("higher" or "lower") and `note` for the readable table."""

JSON_KEYS = ("name", "value", "unit", "baseline", "ratio", "goal", "met")
"""The keys `--json` prints, in this order."""


def daemon_loop() -> dict[str, Any]:
    """Return `anyio.run`'s backend options for the event loop a default daemon runs on, so the
    live benchmarks (ours and their baselines alike) measure what `kinetic run` does."""
    from runtime._app import loop_options
    from runtime.config import KernelConfig

    return loop_options(KernelConfig().event_loop)


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None,
    goal: float,
    goal_on: Literal["value", "ratio"],
    better: Literal["higher", "lower"],
    note: str = "",
) -> Figure:
    """Return a figure; `ratio` is value / baseline, and `met` compares `goal_on` with `goal`.

    `note` says what the readable table should add (the run's shape); `--json` leaves it out.
    """
    ratio = value / baseline if baseline else None
    judged = value if goal_on == "value" else ratio
    if judged is None:
        raise ValueError(f"figure `{name}` judges its ratio but has no baseline")
    met = judged >= goal if better == "higher" else judged <= goal
    return {
        "name": name,
        "value": _round(value),
        "unit": unit,
        "baseline": _round(baseline) if baseline is not None else None,
        "ratio": round(ratio, 4) if ratio is not None else None,
        "goal": goal,
        "met": met,
        "goal_on": goal_on,
        "better": better,
        "note": note,
    }


def _round(x: float) -> float:
    return round(x, 1) if abs(x) >= 100 else round(x, 4)


def best_rates(cases: dict[str, Callable[[], float]], /, *, rounds: int) -> dict[str, float]:
    """Run every case once to warm up, then `rounds` interleaved times; return each best rate.

    A case measures itself (so its setup stays out of the timing) and returns items per second.
    """
    best = dict.fromkeys(cases, 0.0)
    for i in range(rounds + 1):
        for name, case in cases.items():
            gc.collect()
            rate = case()
            if i:
                best[name] = max(best[name], rate)
    return best


async def best_rates_async(
    cases: dict[str, Callable[[], Awaitable[float]]], /, *, rounds: int
) -> dict[str, float]:
    """Do what `best_rates` does for cases that run on the event loop. A cancellation point."""
    best = dict.fromkeys(cases, 0.0)
    for i in range(rounds + 1):
        for name, case in cases.items():
            gc.collect()
            rate = await case()
            if i:
                best[name] = max(best[name], rate)
    return best


def percentile(samples: Sequence[float], q: float, /) -> float:
    """Return the `q`-th percentile (0-100) of `samples`, nearest rank."""
    if not samples:
        raise ValueError("`samples` must not be empty")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def bench_dir() -> str | None:
    """Return where benchmarks put their files: `KINETIC_BENCH_DIR`, else the system temp dir.

    Point it at the disk the daemon would use: on tmpfs an fsync costs nothing.
    """
    return os.environ.get("KINETIC_BENCH_DIR") or None
