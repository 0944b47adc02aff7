"""Describe a parameter sweep for `kinetic analyze`: the backtest it varies, the walk-forward
splits, the grid, the screen and the readiness thresholds.

An analysis config is its own TOML file, not a section of a backtest config: it names a backtest
config (`backtest`) that every candidate runs through unchanged except for the swept keys and
the time window, so the event-driven numbers are exactly what `kinetic backtest` would print.
Errors read as config errors do: the file, the path, what was expected.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import Meta

from runtime._errors import ConfigError
from runtime.config import (
    ConfigBase,
    NonEmptyStr,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    load_toml_as,
)

IsoTime = Annotated[str, Meta(min_length=1)]
Share = Annotated[float, Meta(ge=0.0, le=1.0)]
RankBy = Literal["sharpe", "sortino", "pnl", "return_pct"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NS_PER_DAY = 86_400 * 1_000_000_000


def iso_to_ns(text: str, /, *, field: str) -> int:
    """Return ISO 8601 `text` (no zone: UTC) as ns since the epoch."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"`{field}` must be an ISO 8601 time, got {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def ns_to_iso(ns: int, /) -> str:
    """Return whole-second ns since the epoch as `YYYY-MM-DDTHH:MM:SSZ`."""
    if ns % 1_000_000_000:
        raise ValueError(f"time {ns} ns is not a whole second")
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AnalysisWindowConfig(ConfigBase, frozen=True, kw_only=True):
    """The span of data the analysis uses: bars stamped in `[start, end)`."""

    start: IsoTime
    """First bar stamp, ISO 8601 (`2025-05-20T00:00:00Z`; no zone means UTC), inclusive."""
    end: IsoTime
    """Stamp to stop before, exclusive."""

    def __post_init__(self) -> None:
        if self.end_ns <= self.start_ns:
            raise ValueError(f"`end` must be after `start`, got {self.start} .. {self.end}")

    @property
    def start_ns(self) -> int:
        """Return `start` in ns."""
        return iso_to_ns(self.start, field="start")

    @property
    def end_ns(self) -> int:
        """Return `end` in ns."""
        return iso_to_ns(self.end, field="end")


class WalkForwardConfig(ConfigBase, frozen=True, kw_only=True):
    """Rolling train/test windows: choose on `train_days`, judge on the `test_days` after it."""

    train_days: PositiveFloat
    """In-sample span before each test window (where candidates are ranked)."""
    test_days: PositiveFloat
    """Out-of-sample span (where the ranked candidates are judged)."""
    step_days: PositiveFloat | None = None
    """How far each split moves on; default `test_days` (test windows tile the window).
    Must be at least `test_days`, so test windows never overlap."""
    anchored: bool = False
    """Train from the window's start every time (an expanding window) instead of rolling."""

    def __post_init__(self) -> None:
        for name in ("train_days", "test_days", "step_days"):
            value = getattr(self, name)
            if value is not None and (value * 86_400) % 1:
                raise ValueError(f"`{name}` must be a whole number of seconds, got {value}")
        if self.step_days is not None and self.step_days < self.test_days:
            raise ValueError(
                f"`step_days` must be >= `test_days` (test windows must not overlap), "
                f"got {self.step_days} < {self.test_days}"
            )

    @property
    def train_ns(self) -> int:
        """Return the train span in ns."""
        return round(self.train_days * NS_PER_DAY)

    @property
    def test_ns(self) -> int:
        """Return the test span in ns."""
        return round(self.test_days * NS_PER_DAY)

    @property
    def step_ns(self) -> int:
        """Return the step in ns."""
        return round((self.step_days or self.test_days) * NS_PER_DAY)


class ScreenConfig(ConfigBase, frozen=True, kw_only=True):
    """The vectorized screen: a kind that replays the strategy for many candidates at once."""

    kind: NonEmptyStr
    """Entry-point name in group `kinetic.screens`, or `module:Class`."""
    top: NonNegativeInt = 3
    """Candidates per split the event-driven engine runs, best in-sample first
    (`--screen-top`); 0 runs no screen: the engine runs every candidate, in and out of sample."""


class ReadinessConfig(ConfigBase, frozen=True, kw_only=True):
    """What the out-of-sample walk-forward results must show before `ready_for_live` is true."""

    min_positive_share: Share = 0.6
    """Share of splits whose out-of-sample PnL is > 0."""
    max_drawdown: Share | None = None
    """Largest out-of-sample drawdown allowed in any split (fraction of the peak). Unset: the
    first drawdown tier of the backtest's risk gate (where it starts cutting size), else 0.05."""
    min_sharpe: float = 0.0
    """Mean out-of-sample Sharpe (annualised) over the splits."""
    min_fills: NonNegativeInt = 20
    """Fills in every split's test window: fewer and the statistics mean little."""


class AnalyzeConfig(ConfigBase, frozen=True, kw_only=True):
    """Configure one `kinetic analyze` sweep (the root of an analysis config file)."""

    backtest: NonEmptyStr
    """The backtest config every candidate runs through, relative to the working directory."""
    strategy: NonEmptyStr
    """The agent whose params the sweep sets."""
    feed: NonEmptyStr
    """The feed adapter whose `start`/`end` each run sets to its window."""
    target: NonEmptyStr = "params.model"
    """Where in the strategy's agent table the swept keys go (`params.model.gamma`)."""
    window: AnalysisWindowConfig
    walk_forward: WalkForwardConfig
    sweep: dict[str, list[Any]]
    """Key -> values; the candidates are every combination, in key order."""
    screen: ScreenConfig | None = None
    readiness: ReadinessConfig = ReadinessConfig()
    rank_by: RankBy = "sharpe"
    """The in-sample metric that ranks candidates (higher is better)."""
    workers: PositiveInt = 2
    """Processes running event-driven backtests (`--workers`)."""
    out_dir: NonEmptyStr = "artifacts/analysis"
    """Artifacts go to `<out_dir>/<analysis id>/` (`--out` overrides)."""

    def __post_init__(self) -> None:
        if not self.sweep:
            raise ValueError("`sweep` must name at least one key - at `$.sweep`")
        for key, values in self.sweep.items():
            if not values:
                raise ValueError(f"`sweep.{key}` must list at least one value - at `$.sweep`")

    def candidates(self) -> Iterator[dict[str, Any]]:
        """Yield every combination of the sweep's values, as key -> value, in key order."""
        keys = list(self.sweep)
        for combo in itertools.product(*(self.sweep[k] for k in keys)):
            yield dict(zip(keys, combo, strict=True))

    @property
    def size(self) -> int:
        """Return the number of candidates."""
        n = 1
        for values in self.sweep.values():
            n *= len(values)
        return n


def name_index(
    names: list[str], name: str, /, *, key: str, what: str, source: str, backtest: str
) -> int:
    """Return where `name` (the `key` of a config at `source`) stands among `backtest`'s agents
    or adapters (`what`); a `ConfigError` that lists the names it has when it is not there."""
    if name not in names:
        raise ConfigError(
            f"{source}: `{key}` names {what} `{name}`, which {backtest} does not have (it has: "
            f"{', '.join(names) or 'none'}) - at `$.{key}`"
        )
    return names.index(name)


def load_analyze_config(path: str | Path, /) -> AnalyzeConfig:
    """Read and validate an analysis config; errors name the file and the key path."""
    return load_toml_as(path, AnalyzeConfig)


__all__ = [
    "NS_PER_DAY",
    "AnalysisWindowConfig",
    "AnalyzeConfig",
    "ReadinessConfig",
    "ScreenConfig",
    "WalkForwardConfig",
    "iso_to_ns",
    "load_analyze_config",
    "ns_to_iso",
]
