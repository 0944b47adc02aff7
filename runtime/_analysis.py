"""Run a `kinetic analyze` sweep: plan it, screen it, run the best in the event-driven engine.

The order of work, per the analysis config (`runtime/_analysis_config.py`):

1. **Plan.** Load the backtest config, check that the strategy and the feed exist and that every
   swept value builds (so a typo fails in a second, not after an hour), cut the walk-forward
   splits, list the candidates (the grid).
2. **Screen** (when configured): the screen kind (found by name, like agents) replays the
   strategy for every candidate at once over each split's train and test windows. Candidates are
   ranked in sample (train) by `rank_by`; the `top` of each split go on.
3. **Event-driven runs**, in worker processes: each chosen candidate over its split's test window
   through the real `SimKernel` backtest (`_analysis_runs.py`). Without a screen every candidate
   runs in and out of sample, and the ranking uses the engine's train numbers.
4. **Report** (`_analysis_report.py`): the walk-forward picks (per split, the best in sample)
   judged out of sample, readiness, how far screen and engine agree, the artifacts.

Only the engine's numbers are reported as results; the screen only chooses what the engine runs,
and every screened pair that the engine also ran is compared field by field.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from decimal import Decimal
from typing import Any

import msgspec

from runtime import _app
from runtime._analysis_config import AnalyzeConfig, name_index
from runtime._analysis_runs import RunKey, RunResult, RunTask, init_worker, run_task
from runtime._analysis_runs import window_overrides as _window
from runtime._analysis_splits import live_window, walk_forward
from runtime._errors import ConfigError
from runtime.config import load_config

SCREENS = "kinetic.screens"
"""Entry-point group of screen kinds (`module:Class` works too)."""
DEFAULT_MAX_DRAWDOWN = 0.05
"""Readiness drawdown bound when neither the config nor the risk gate names one."""

Progress = Callable[[str, int, int], None]
"""`progress(stage, done, total)`: stage is "screen" or "engine"."""


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """One parameter set of the sweep."""

    id: str
    params: dict[str, Any]


class Plan:
    """Everything fixed before the first run: base config, candidates, splits, limits."""

    def __init__(
        self,
        cfg: AnalyzeConfig,
        /,
        *,
        source: str,
        screen_top: int | None = None,
        workers: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.source = source
        try:
            self.base = load_config(cfg.backtest)
        except ConfigError as exc:
            message = f"{source}: `backtest` does not load: {exc} - at `$.backtest`"
            raise ConfigError(message) from exc
        self.strategy_index = self._index(
            [a.name for a in self.base.agents], cfg.strategy, "strategy", "agent"
        )
        self.feed_index = self._index(
            [a.name for a in self.base.adapters], cfg.feed, "feed", "adapter"
        )
        feed = self.base.adapters[self.feed_index]
        if feed.params.get("limit") is not None:
            raise ConfigError(
                f"{cfg.backtest}: the feed `{cfg.feed}` has a `limit`; the analysis window "
                f"chooses the data - at `$.adapters[{self.feed_index}].params.limit`"
            )
        self.prefix = f"agents.{self.strategy_index}.{cfg.target}"
        self.candidates = [
            Candidate(id=f"c{i:04d}", params=p) for i, p in enumerate(cfg.candidates())
        ]
        wf = cfg.walk_forward
        start, end = cfg.window.start_ns, cfg.window.end_ns
        self.splits = walk_forward(
            start, end, train_ns=wf.train_ns, test_ns=wf.test_ns, step_ns=wf.step_ns,
            anchored=wf.anchored,
        )  # fmt: skip
        self.live = live_window(start, end, train_ns=wf.train_ns, anchored=wf.anchored)
        top = screen_top if screen_top is not None else (cfg.screen.top if cfg.screen else 0)
        self.use_screen = cfg.screen is not None and top > 0
        self.top = min(top, len(self.candidates)) if self.use_screen else len(self.candidates)
        self.workers = workers or cfg.workers
        self.actors = {
            s.name: s.factory() for s in _app.actor_specs(self.base, source=cfg.backtest)
        }

    def _index(self, names: list[str], name: str, key: str, what: str) -> int:
        return name_index(names, name, key=key, what=what, source=self.source,
                          backtest=self.cfg.backtest)  # fmt: skip

    def validate(self) -> None:
        """Build the backtest once per swept value, so a bad value fails before any run."""
        for key, values in self.cfg.sweep.items():
            for j, value in enumerate(values):
                try:
                    cfg = load_config(self.cfg.backtest, overrides={f"{self.prefix}.{key}": value})
                    _app.actor_specs(cfg, source=self.cfg.backtest)
                except ConfigError as exc:
                    raise ConfigError(
                        f"{self.source}: `sweep.{key}[{j}]` = {value!r} does not build: {exc} "
                        f"- at `$.sweep.{key}[{j}]`"
                    ) from exc

    def task(self, candidate: int, split: int, phase: str, start_ns: int, end_ns: int) -> RunTask:
        """Return the event-driven run of `candidate` over `[start_ns, end_ns)`."""
        overrides = _window(self.feed_index, start_ns, end_ns)
        for key, value in self.candidates[candidate].params.items():
            overrides[f"{self.prefix}.{key}"] = value
        return RunTask(
            key=(candidate, split, phase),
            backtest=self.cfg.backtest,
            overrides=overrides,
            strategy=self.cfg.strategy,
        )

    def max_drawdown(self) -> tuple[float, str]:
        """Return the readiness drawdown bound and where it comes from."""
        if self.cfg.readiness.max_drawdown is not None:
            return self.cfg.readiness.max_drawdown, "readiness.max_drawdown"
        for name, actor in self.actors.items():
            tiers = getattr(getattr(actor, "params", None), "drawdown_tiers", ())
            if tiers:
                return float(tiers[0].at_pct) / 100, f"the first drawdown tier of `{name}`"
        return DEFAULT_MAX_DRAWDOWN, "the default"


def score(metrics: Mapping[str, Any], key: str, /) -> float:
    """Return `metrics[key]` as a float to rank by (higher is better; NaN ranks last)."""
    value = metrics.get(key)
    try:
        x = float(value) if value is not None else -math.inf
    except (TypeError, ValueError):
        return -math.inf
    return -math.inf if math.isnan(x) else x


def ranked(results: Sequence[Mapping[str, Any]], key: str, /) -> list[int]:
    """Return candidate indices best first by `key`; ties keep the grid's order."""
    return sorted(range(len(results)), key=lambda i: (-score(results[i], key), i))


class ScreenPass(msgspec.Struct, kw_only=True):
    """The screen's metrics per split and candidate, in and out of sample, and what it cost."""

    kind: str
    train: list[list[dict[str, Any]]]
    test: list[list[dict[str, Any]]]
    live: list[dict[str, Any]]
    load_secs: float
    test_secs: float
    """Seconds the screen spent on the test windows (all candidates)."""
    secs: float
    bars: int
    """Bars in the analysis window."""


def load_window_bars(plan: Plan, /) -> list[Any]:
    """Return the analysis window's bars, read by the backtest's own feed adapter."""
    cfg = plan.cfg
    windowed = load_config(
        cfg.backtest, overrides=_window(plan.feed_index, cfg.window.start_ns, cfg.window.end_ns)
    )
    adapters = dict(_app.adapter_instances(windowed, source=cfg.backtest))
    events: Any = getattr(adapters[cfg.feed], "events", None)
    if not callable(events):
        raise ConfigError(f"{cfg.backtest}: adapter `{cfg.feed}` is not a feed - at `feed`")
    return [msg for _, msg in events()]


def run_screen(plan: Plan, /, *, progress: Progress | None = None) -> ScreenPass:
    """Screen every candidate over every split's train and test window, and the live window."""
    cfg = plan.cfg
    assert cfg.screen is not None
    started = time.perf_counter()
    cls = _app.load_kind(SCREENS, cfg.screen.kind, where="$.screen.kind", source=plan.source)
    screen = cls.from_actors(plan.actors, strategy=cfg.strategy, target=cfg.target)
    data = screen.load(load_window_bars(plan))
    load_secs = time.perf_counter() - started
    params = [c.params for c in plan.candidates]
    train, test = [], []
    test_secs = 0.0
    total = len(plan.splits) + 1
    for i, sp in enumerate(plan.splits):
        train.append(screen.run(data, params, start_ns=sp.train_start_ns, end_ns=sp.train_end_ns))
        t = time.perf_counter()
        test.append(screen.run(data, params, start_ns=sp.test_start_ns, end_ns=sp.test_end_ns))
        test_secs += time.perf_counter() - t
        if progress is not None:
            progress("screen", i + 1, total)
    live = screen.run(data, params, start_ns=plan.live[0], end_ns=plan.live[1])
    if progress is not None:
        progress("screen", total, total)
    return ScreenPass(
        kind=cfg.screen.kind,
        train=train,
        test=test,
        live=live,
        load_secs=load_secs,
        test_secs=test_secs,
        secs=time.perf_counter() - started,
        bars=len(data),
    )


def run_engine(
    tasks: Sequence[RunTask],
    /,
    *,
    workers: int,
    log_level: str = "warning",
    progress: Progress | None = None,
) -> dict[RunKey, RunResult]:
    """Run `tasks` in `workers` spawned processes (in this one when 1); results by key.

    The first failing run cancels the rest and raises its error.
    """
    out: dict[RunKey, RunResult] = {}
    total = len(tasks)
    if progress is not None:
        progress("engine", 0, total)
    if workers <= 1 or total <= 1:
        for task in tasks:
            out[task.key] = run_task(task)
            if progress is not None:
                progress("engine", len(out), total)
        return out
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, total), mp_context=ctx, initializer=init_worker,
        initargs=(log_level,),
    ) as pool:  # fmt: skip
        pending: set[Future[RunResult]] = {pool.submit(run_task, t) for t in tasks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    result = fut.result()  # re-raises a worker's error here
                    out[result.key] = result
                if progress is not None:
                    progress("engine", len(out), total)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return out


def engine_tasks(plan: Plan, screened: ScreenPass | None, /) -> list[RunTask]:
    """Return the event-driven runs: the screen's top per split, or everything without one."""
    tasks: list[RunTask] = []
    for sp in plan.splits:
        if screened is not None:
            chosen = ranked(screened.train[sp.index], plan.cfg.rank_by)[: plan.top]
        else:
            chosen = list(range(len(plan.candidates)))
            tasks.extend(
                plan.task(c, sp.index, "train", sp.train_start_ns, sp.train_end_ns) for c in chosen
            )
        tasks.extend(
            plan.task(c, sp.index, "test", sp.test_start_ns, sp.test_end_ns) for c in chosen
        )
    return tasks


def split_rankings(
    plan: Plan, screened: ScreenPass | None, runs: Mapping[RunKey, RunResult], /
) -> list[list[int]]:
    """Return, per split, the candidates the engine ran out of sample, best in sample first."""
    out = []
    n = len(plan.candidates)
    for sp in plan.splits:
        if screened is not None:
            out.append(ranked(screened.train[sp.index], plan.cfg.rank_by)[: plan.top])
        else:
            train = [runs[(c, sp.index, "train")].metrics for c in range(n)]
            out.append(ranked(train, plan.cfg.rank_by))
    return out


def speed(
    plan: Plan, screened: ScreenPass | None, runs: Mapping[RunKey, RunResult], /
) -> dict[str, Any]:
    """Compare the screen's and the engine's cost per candidate and bar, on the test windows."""
    tests = [r for r in runs.values() if r.key[2] == "test"]
    bars = sum(int(r.metrics.get("bars", 0)) for r in tests)
    event = sum(r.secs for r in tests) / bars if bars else None
    out: dict[str, Any] = {
        "engine_runs": len(tests),
        "engine_us_per_candidate_bar": None if event is None else round(event * 1e6, 3),
    }
    if screened is not None:
        test_bars = sum(int(m[0]["bars"]) for m in screened.test if m)
        lanes = test_bars * len(plan.candidates)
        per = screened.test_secs / lanes if lanes else None
        out["screen_us_per_candidate_bar"] = None if per is None else round(per * 1e6, 4)
        out["speedup"] = round(event / per, 1) if event and per else None
        out["note"] = (
            "engine: wall time of build + run per test window in a worker (parsing included); "
            "screen: its test-window passes over all candidates, over candidates x bars; "
            "python -m bench analyze measures it without the machine's other work"
        )
    return out


def as_decimal(value: Any, /) -> Decimal:
    """Return a metric value (Decimal, or its string from JSON) as a Decimal."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


__all__ = [
    "SCREENS",
    "Candidate",
    "Plan",
    "ScreenPass",
    "as_decimal",
    "engine_tasks",
    "load_window_bars",
    "ranked",
    "run_engine",
    "run_screen",
    "score",
    "speed",
    "split_rankings",
]
