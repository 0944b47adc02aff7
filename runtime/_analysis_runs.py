"""Run one candidate over one window in the event-driven engine, in a worker process.

Each run is what `kinetic backtest` does, minus the store and the artifacts: the backtest config
loaded with the candidate's keys and the window as overrides (the same `load_config` path as the
backtest's `--duration-secs`), `build_sim`, `run_to_end`, and the strategy's metrics report. The
journal level is `off` (DESIGN.md §3: parameter sweeps): the metrics do not depend on it.

Workers are spawned, not forked: the parent runs a progress bar thread, and a fork copies a
process mid-thread. A task and its result are plain data, so they cross the process boundary
as pickles.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import msgspec

from runtime import _app
from runtime._analysis_config import ns_to_iso
from runtime._errors import ConfigError
from runtime.config import load_config

RunKey = tuple[int, int, str]
"""(candidate index, split index, "train" | "test" | "live")."""


class RunTask(msgspec.Struct, frozen=True, kw_only=True):
    """One event-driven run: which config, which overrides, whose metrics to keep."""

    key: RunKey
    backtest: str
    overrides: dict[str, Any]
    strategy: str


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    """The strategy's metrics (`BacktestMetrics` as builtins), risk denials and the run's cost."""

    key: RunKey
    metrics: dict[str, Any]
    denied: int | None
    """Orders the risk gate denied (None without a gate report)."""
    secs: float
    """Wall time of build + run in the worker (data parsing included: the feed reads lazily)."""


def init_worker(level: str) -> None:
    """Set up a worker: logs at `level` to stderr as JSON, a young-generation GC threshold."""
    from runtime.logging import configure_logging

    configure_logging(level=level, fmt="json")
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(_app.GC_GEN0_THRESHOLD, gen1, gen2)


def metrics_of(kernel: Any, strategy: str, /, *, source: str) -> tuple[list[Any], dict[str, Any]]:
    """Return a finished backtest's reports and `strategy`'s metrics (`metrics.json`) as a dict.

    Raises `ConfigError` naming `source` when no `performance` agent followed the strategy.
    """
    cell = kernel.cells.get(_app.REPORTS)
    reports: list[Any] = list(getattr(cell.actor, "reports", ())) if cell is not None else []
    metrics = next(
        (
            r
            for r in reports
            if type(r).artifact == "metrics.json" and getattr(r, "strategy", None) == strategy
        ),
        None,
    )
    if metrics is None:
        raise ConfigError(
            f"{source}: no metrics report for `{strategy}` (a `performance` agent following it)"
            f" - at `$.agents`"
        )
    data = msgspec.to_builtins(metrics)
    data.pop("type", None)
    return reports, data


def run_task(task: RunTask, /) -> RunResult:
    """Run `task` in this process and return its result."""
    started = time.perf_counter()
    cfg = load_config(task.backtest, overrides=task.overrides)
    run_id = f"analyze-{task.key[0]}-{task.key[1]}-{task.key[2]}"
    kernel = _app.build_sim(cfg, source=task.backtest, run_id=run_id, sink=None, level="off")
    kernel.run_to_end()
    secs = time.perf_counter() - started
    reports, data = metrics_of(kernel, task.strategy, source=task.backtest)
    denied = next((getattr(r, "denied", None) for r in reports if hasattr(r, "denied")), None)
    return RunResult(
        key=task.key,
        metrics=data,
        denied=denied if isinstance(denied, int) else None,
        secs=secs,
    )


def window_overrides(feed_index: int, start_ns: int, end_ns: int, /) -> dict[str, Any]:
    """Return the overrides that point a backtest at the bars stamped in `[start, end)`."""
    return {
        "backtest.start_ns": start_ns,
        "backtest.duration_secs": (end_ns - start_ns) / 1e9,
        f"adapters.{feed_index}.params.start": ns_to_iso(start_ns),
        f"adapters.{feed_index}.params.end": ns_to_iso(end_ns),
    }


__all__ = ["RunKey", "RunResult", "RunTask", "init_worker", "run_task", "window_overrides"]
