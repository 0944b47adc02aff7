"""The analysis config: the shipped profile loads, bad input names its key, the grid is complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime._analysis_config import load_analyze_config
from runtime._errors import ConfigError

REPO = Path(__file__).resolve().parents[3]

GOOD = """
backtest = "config/mm_binance.toml"
strategy = "mm"
feed = "candles"
[window]
start = "2025-05-20T00:00:00Z"
end = "2025-05-21T00:00:00Z"
[walk_forward]
train_days = 0.25
test_days = 0.125
[sweep]
gamma = [0.0001, 0.002]
k = [1.0, 2.0, 3.0]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "a.toml"
    path.write_text(text)
    return path


def test_the_shipped_profile_loads() -> None:
    cfg = load_analyze_config(REPO / "config" / "analyze_mm.toml")
    assert cfg.size == 480
    assert cfg.screen is not None and cfg.screen.top == 3
    assert cfg.walk_forward.step_ns == cfg.walk_forward.test_ns


def test_candidates_are_every_combination_in_key_order(tmp_path: Path) -> None:
    cfg = load_analyze_config(write(tmp_path, GOOD))
    got = list(cfg.candidates())
    assert len(got) == cfg.size == 6
    assert got[0] == {"gamma": 0.0001, "k": 1.0}
    assert got[1] == {"gamma": 0.0001, "k": 2.0}
    assert got[-1] == {"gamma": 0.002, "k": 3.0}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("train_days = 0.25", "train_days = -1"), "Expected `float` > 0.0 - at `$.walk_forward"),
        (("test_days = 0.125", "test_days = 0.125\nstep_days = 0.1"), "`step_days` must be >="),
        (("k = [1.0, 2.0, 3.0]", "k = []"), "`sweep.k` must list at least one value"),
        (('end = "2025-05-21T00:00:00Z"', 'end = "2025-05-19"'), "`end` must be after `start`"),
        (('feed = "candles"', 'feed = "candles"\nworkerz = 3'), "unknown field `workerz`"),
        (('start = "2025-05-20T00:00:00Z"', 'start = "yesterday"'), "ISO 8601"),
    ],
)
def test_bad_input_names_the_key(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("$", r"\$").replace("[", r"\[")):
        load_analyze_config(write(tmp_path, GOOD.replace(*edit)))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_analyze_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('strategy = "mm"', 'strategy = "mmm"'), "`strategy` names agent `mmm`, which"),
        (('feed = "candles"', 'feed = "bars"'), "`feed` names adapter `bars`, which"),
    ],
)
def test_a_strategy_or_feed_the_backtest_lacks_is_named_with_what_it_has(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    from runtime._analysis import Plan

    text = GOOD.replace("config/mm_binance.toml", str(REPO / "config" / "mm_binance.toml"))
    path = write(tmp_path, text.replace(*edit))
    with pytest.raises(ConfigError, match=r"\(it has: .*\) - at `\$\.") as err:
        Plan(load_analyze_config(path), source=str(path))
    assert message in str(err.value) and str(path) in str(err.value)
