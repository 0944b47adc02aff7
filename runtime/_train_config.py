"""Describe a `kinetic train` run: the trainer, the backtest it learns from, the three windows.

A train config is its own TOML file, like an analysis config: it names a backtest config
(`backtest`) whose strategy the trainer learns for, and the windows of that backtest's data to
train on, to choose with (validation) and to judge on (test, out of sample, in the
event-driven engine). The trainer's own settings are the `[params]` table, decoded by the
trainer's `Params` type, so its errors point into it (`$.params.episodes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from runtime._analysis_config import AnalysisWindowConfig
from runtime.config import ConfigBase, NonEmptyStr, load_toml_as

ModelName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]


class TrainConfig(ConfigBase, frozen=True, kw_only=True):
    """Configure one `kinetic train` run (the root of a train config file)."""

    trainer: NonEmptyStr
    """Entry-point name in group `kinetic.trainers` (`bar_market_maker_rl`), or `module:Class`."""
    backtest: NonEmptyStr
    """The backtest config the trainer learns from and the report runs, relative to the
    working directory."""
    strategy: NonEmptyStr
    """The agent the policy is for."""
    feed: NonEmptyStr
    """The feed adapter whose window each run sets (it must have no `limit`)."""
    name: ModelName
    """The model's name: versions go to `<out_dir>/<name>/v<N>/`."""
    out_dir: NonEmptyStr = "artifacts/models"
    """Where models live (`--out-dir` overrides)."""
    seed: int = 0
    """Seeds the trainer's random generator (`--seed` overrides): same seed, same artifact."""
    train: AnalysisWindowConfig
    """Bars the policy learns from."""
    validation: AnalysisWindowConfig
    """Bars that choose among training episodes (after `train`)."""
    test: AnalysisWindowConfig
    """Bars of the out-of-sample report (after `validation`), run by the event-driven engine."""
    report: bool = True
    """Backtest the policy against the baseline on `test` (`--no-report` skips it)."""
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    """The trainer's settings, checked by its own params type."""

    def __post_init__(self) -> None:
        if self.validation.start_ns < self.train.end_ns:
            raise ValueError(
                f"`validation.start` must not be before `train.end`, got {self.validation.start} "
                f"< {self.train.end} - at `$.validation.start`"
            )
        if self.test.start_ns < self.validation.end_ns:
            raise ValueError(
                f"`test.start` must not be before `validation.end`, got {self.test.start} "
                f"< {self.validation.end} - at `$.test.start`"
            )


def load_train_config(path: str | Path, /) -> TrainConfig:
    """Read and validate a train config; errors name the file and the key path."""
    return load_toml_as(path, TrainConfig)


__all__ = ["TrainConfig", "load_train_config"]
