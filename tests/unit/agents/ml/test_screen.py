"""The vectorized screen against the event-driven engine it stands in for.

The engine here is the real thing: the backtest of config/mm_binance.toml (feed, simulated venue
in relay mode, risk gate, execution, the market maker, the recorder) in the sim kernel, run the
way `kinetic analyze` runs it. The screen must give the same orders, fills, PnL, fees, cash and
inventory exactly, and the float statistics within `RTOL`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.ml.bar_quotes import BarQuoterConfig
from agents.ml.screen import BarArrays, BarMarketMakerScreen, Books, VenueTerms
from runtime import _app
from runtime._analysis_report import compare
from runtime._analysis_runs import RunTask, run_task
from runtime._errors import ConfigError
from runtime.config import load_config
from tests.conftest import shared_data

REPO = Path(__file__).resolve().parents[4]
BASE = str(REPO / "config" / "mm_binance.toml")
BTC_1M = "binance_btcusdt_1m_20250520_20250818.csv.gz"
MM = "agents.3.params.model"
VENUE = "agents.0.params"
PERF = "agents.4.params"


def feed(path: Path, *, start: str | None = None, end: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"adapters.0.params.path": str(path)}
    if start:
        out["adapters.0.params.start"] = start
        out["backtest.start_ns"] = _ns(start)
    if end:
        out["adapters.0.params.end"] = end
        out["backtest.duration_secs"] = (_ns(end) - _ns(start or end)) / 1e9
    return out


def _ns(iso: str) -> int:
    from runtime._analysis_config import iso_to_ns

    return iso_to_ns(iso, field="t")


def engine(base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    overrides = {**base, **{f"{MM}.{k}": v for k, v in params.items()}}
    result = run_task(
        RunTask(key=(0, 0, "test"), backtest=BASE, overrides=overrides, strategy="mm")
    )
    return result.metrics


def screened(base: dict[str, Any], candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cfg = load_config(BASE, overrides=base)
    actors = {s.name: s.factory() for s in _app.actor_specs(cfg, source="test")}
    screen = BarMarketMakerScreen.from_actors(actors, strategy="mm")
    source = dict(_app.adapter_instances(cfg, source="test"))["candles"]
    bars = [m for _, m in source.events()]  # type: ignore[attr-defined]
    return screen.run(screen.load(bars), candidates)


CANDIDATES = [
    {},  # the peers' market maker
    {"gamma": 0.002, "k": 0.5},
    {"gamma": 0.0001, "k": 2.0, "size": "0.05", "qmax": "0.2"},
    {"k": 0.25, "qmax": "0.03"},
    {"gamma": 0.01, "k": 0.1, "size": "0.02"},
]


def assert_agree(base: dict[str, Any], candidates: list[dict[str, Any]]) -> None:
    for params, got in zip(candidates, screened(base, candidates), strict=True):
        want = engine(base, params)
        assert want["fills"] > 0
        diff = compare(got, want)
        assert diff["agrees"], (params, diff, {k: (got[k], want[k]) for k in diff["off"]})
        assert got["fills"] == want["fills"]
        assert got["pnl"] == Decimal(want["pnl"])
        assert got["final_inventory"] == Decimal(want["final_inventory"])


def test_screen_matches_the_engine_on_real_candles() -> None:
    path = shared_data(BTC_1M)
    base = feed(path, start="2025-06-10T00:00:00Z", end="2025-06-12T06:00:00Z")  # 3,240 bars
    assert_agree(base, CANDIDATES)


def test_screen_matches_with_through_fills_split_fees_and_rounded_fees() -> None:
    path = shared_data(BTC_1M)
    base = {
        **feed(path, start="2025-07-01T00:00:00Z", end="2025-07-02T12:00:00Z"),
        f"{VENUE}.fill_model": "through",
        f"{VENUE}.maker_fee": "0.0002",
        f"{VENUE}.taker_fee": "0.00075",
        f"{PERF}.position": "10",  # the peers start with 10 BTC
    }
    candidates = [{}, {"size": "0.00033", "k": 0.3}, {"size": "0.0005", "qmax": "0.01"}]
    assert_agree(base, candidates)


def test_screen_reproduces_the_peers_over_the_whole_file() -> None:
    path = shared_data(BTC_1M)
    (got,) = screened(feed(path), [{}])
    # NautilusTrader and backtrader: 261,356 orders, 47,486 fills, 940,498.91 USDT, flat.
    assert got["bars"] == 130_708
    assert got["orders"] == 261_356
    assert got["fills"] == 47_486
    assert got["final_equity"] == Decimal("940498.91197850")
    assert got["final_inventory"] == 0


def synthetic_csv(tmp_path: Path, n: int = 1_500, seed: int = 7) -> Path:
    """Write candles with flat stretches (sigma 0), jumps and opens far from the last close."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 4_000, n)  # in ticks of 0.01
    steps[200:320] = 0  # flat: no variance, quotes one tick away
    steps[::97] *= 25  # jumps
    close = (5_000_000 + np.cumsum(steps)).round().astype(np.int64)
    gap = rng.normal(0, 3_000, n).round().astype(np.int64)
    gap[200:320] = 0
    open_ = np.concatenate([[close[0]], close[:-1]]) + gap  # open away from the last close
    high = np.maximum(open_, close) + rng.integers(0, 5_000, n)
    low = np.minimum(open_, close) - rng.integers(0, 5_000, n)
    high[200:320] = low[200:320] = close[200:320]
    rows = ["ts_ms,open,high,low,close,volume"]
    t0 = 1_747_699_200_000
    for i in range(n):
        o, h, lo, c = (f"{x / 100:.2f}" for x in (open_[i], high[i], low[i], close[i]))
        rows.append(f"{t0 + i * 60_000},{o},{h},{lo},{c},1.5")
    path = tmp_path / "synthetic.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_screen_matches_the_engine_on_synthetic_bars(tmp_path: Path) -> None:
    base = {**feed(synthetic_csv(tmp_path)), "backtest.duration_secs": 1_500 * 60.0 + 60}
    base["backtest.start_ns"] = 1_747_699_200_000_000_000
    assert_agree(base, [{}, {"gamma": 0.05, "k": 0.2, "qmax": "0.05"}, {"k": 3.0, "lam": 0.8}])


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("relay", False, "`relay` = True"),
        ("latency_ms", 5.0, "`latency_ms` = 0.0"),
        ("volume_share", "0.1", "`volume_share` = None"),
        ("fill_model", "poisson", "`fill_model` touch or through"),
    ],
)
def test_screen_refuses_a_venue_it_cannot_reproduce(key: str, value: Any, message: str) -> None:
    cfg = load_config(BASE, overrides={f"{VENUE}.{key}": value})
    actors = {s.name: s.factory() for s in _app.actor_specs(cfg, source="test")}
    with pytest.raises(ConfigError, match=message.replace("`", ".")):
        BarMarketMakerScreen.from_actors(actors, strategy="mm")


def _arrays(prices: list[int]) -> BarArrays:
    close = np.array(prices, dtype=np.float64)
    open_ = np.concatenate([[close[0]], close[:-1]])
    return BarArrays(
        end_ns=np.arange(len(prices), dtype=np.int64) * 60_000_000_000 + 60_000_000_000,
        open=open_,
        high=np.maximum(open_, close) + 700,
        low=np.minimum(open_, close) - 700,
        close=close,
        close_f=close / 100,
        tick=Decimal("0.01"),
    )


SCREEN = BarMarketMakerScreen(
    BarQuoterConfig(),
    VenueTerms(
        maker_fee=Decimal("0.001"),
        taker_fee=Decimal("0.001"),
        fee_quantum=Decimal("1e-8"),
        strict=False,
    ),
    Books(cash=Decimal(1_000_000), position=Decimal(0)),
)


@settings(max_examples=20, deadline=None)
@given(
    steps=st.lists(st.integers(-3_000, 3_000), min_size=40, max_size=400),
    gammas=st.lists(st.sampled_from([0.0, 0.0005, 0.01, 0.1]), min_size=1, max_size=4),
    cut=st.integers(0, 400),
)
def test_lanes_do_not_interact_and_windows_slice(
    steps: list[int], gammas: list[float], cut: int
) -> None:
    prices = list(np.cumsum([5_000_000, *steps]))
    data = _arrays(prices)
    cands = [{"gamma": g, "k": 0.5 + i / 4} for i, g in enumerate(gammas)]
    together = SCREEN.run(data, cands)
    alone = [SCREEN.run(data, [c])[0] for c in cands]
    # Exact money; float sums may be taken in another order when the lanes are fewer.
    for a, b in zip(together, alone, strict=True):
        assert compare(a, b)["agrees"], compare(a, b)
    # A sub-window is the same as the bars of that window alone.
    lo = int(data.end_ns[min(cut, len(data) - 1)])
    sliced = SCREEN.run(data, cands, start_ns=lo)
    assert sliced == SCREEN.run(data.window(lo, 2**62), cands)
    assert all(r["bars"] == len(data) - min(cut, len(data) - 1) for r in sliced)
