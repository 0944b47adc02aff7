"""Measure the screen of `kinetic analyze` against the event-driven engine it stands in for.

`agents/ml/screen.py` replays the bar market maker for many parameter sets at once; the engine
(the SimKernel backtest of config/mm_binance.toml, journal off, as `kinetic analyze`'s workers
run it) replays one. Both run here, in this process, over the same real Binance BTC/USDT 1m
candles (quick: the first 10,000; full: all 130,708), on a grid of 1,024 candidates
(gamma x k x size x qmax = 8 x 8 x 4 x 4, the peers' parameters among them).

Figures:

- `analyze.screen_speedup`: parameter sets per second through the screen (its run plus turning
  the bars into arrays, over 1,024 candidates) against the engine's (build + run, the feed
  parsing the file as it goes), each the best of its rounds, rounds interleaved. The ratio is the
  speedup per parameter set; goal (issue #4) >= 1,000x.
- `analyze.screen_exact_runs`: engine runs whose orders, fills, PnL, fees, final cash and final
  inventory the screen reproduces exactly, over the runs compared (3 candidates, the peers'
  parameters first); goal: all of them.
- `analyze.screen_float_gap`: the largest relative gap of a float statistic (Sharpe, Sortino,
  drawdown, turnover, inventory stats, fill rate, quote uptime, return) over those runs, in
  parts per billion; goal <= 1 (1e-9), the tolerance `kinetic analyze` checks.

The speedup grows with the number of candidates: the screen pays a fixed cost per bar (about
25 numpy calls) shared by all of them; with a handful of candidates it is only tens of times
faster. The note says how many candidates and bars the figure is for.
"""

from __future__ import annotations

import gc
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from bench._measure import Figure, figure
from runtime import _app
from runtime.config import load_config

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "binance_btcusdt_1m_20250520_20250818.csv.gz"
BASE = REPO / "config" / "mm_binance.toml"
GOAL_SPEEDUP = 1000.0
GOAL_FLOAT_GAP = 1.0
"""Parts per billion: the 1e-9 relative tolerance `kinetic analyze` checks."""
GRID: dict[str, list[Any]] = {
    "gamma": [0.0, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01],
    "k": [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0],
    "size": ["0.005", "0.01", "0.02", "0.05"],
    "qmax": ["0.1", "0.25", "0.5", "1"],
}
PEERS: dict[str, Any] = {"gamma": 0.0005, "k": 1.0, "size": "0.01", "qmax": "1"}
"""The peers' market maker (../shared/peers/README.md), a point of the grid."""


def candidates() -> list[dict[str, Any]]:
    """Return the grid in key order (1,024 parameter sets)."""
    keys = list(GRID)
    return [dict(zip(keys, c, strict=True)) for c in itertools.product(*GRID.values())]


def overrides(bars: int | None, params: dict[str, Any]) -> dict[str, Any]:
    """Return the config overrides of one run: the data file, the bar limit, the params."""
    out: dict[str, Any] = {"adapters.0.params.path": str(DATA)}
    if bars is not None:
        out["adapters.0.params.limit"] = bars
    out.update({f"agents.3.params.model.{k}": v for k, v in params.items()})
    return out


def engine(bars: int | None, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Run one parameter set through the engine; return its seconds and metrics."""
    gc.collect()
    t0 = time.perf_counter()
    cfg = load_config(BASE, overrides=overrides(bars, params))
    kernel = _app.build_sim(cfg, source="bench", run_id="bench-analyze", sink=None, level="off")
    kernel.run_to_end()
    secs = time.perf_counter() - t0
    reports = kernel.cells[_app.REPORTS].actor.reports  # type: ignore[attr-defined]
    metrics = next(r for r in reports if type(r).artifact == "metrics.json")
    data = msgspec.to_builtins(metrics)
    return secs, data


def screen(bars: int | None, grid: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    """Screen the whole grid; return its seconds (bars to arrays included) and metrics."""
    from agents.ml.screen import BarMarketMakerScreen

    cfg = load_config(BASE, overrides=overrides(bars, {}))
    actors = {s.name: s.factory() for s in _app.actor_specs(cfg, source="bench")}
    feed = dict(_app.adapter_instances(cfg, source="bench"))["candles"]
    messages = [m for _, m in feed.events()]  # type: ignore[attr-defined]
    scr = BarMarketMakerScreen.from_actors(actors, strategy="mm")
    gc.collect()
    t0 = time.perf_counter()
    data = scr.load(messages)
    results = scr.run(data, grid)
    return time.perf_counter() - t0, results


def run(quick: bool) -> list[Figure]:
    """Time screen and engine in interleaved rounds; compare their metrics."""
    if not DATA.exists():
        print(f"analyze: skipped, {DATA} is not here", file=sys.stderr)
        return []
    from runtime._analysis_report import compare

    bars = 10_000 if quick else None
    grid = candidates()
    picks = [grid.index(PEERS), 300, len(grid) - 1]
    rounds = 2  # the first round of the screen also pays numpy's first-call costs
    best_screen = float("inf")
    best_engine = float("inf")
    screened: list[dict[str, Any]] = []
    ran: dict[int, dict[str, Any]] = {}
    for r in range(rounds):
        secs, screened = screen(bars, grid)
        best_screen = min(best_screen, secs)
        for i in picks[: 1 if quick and r else None]:  # quick: one engine run in round 2
            secs, ran[i] = engine(bars, grid[i])
            best_engine = min(best_engine, secs)
    n = int(ran[picks[0]]["bars"])
    per_screen = best_screen / len(grid)
    diffs = [compare(screened[i], m) for i, m in ran.items()]
    exact = sum(1 for d in diffs if not [k for k in d["off"] if k not in FLOAT_KEYS])
    gap = max(d["worst_rel"] for d in diffs)
    peers = ran[picks[0]]
    note = (
        f"{len(grid):,} candidates x {n:,} bars: screen {best_screen:.2f} s "
        f"({per_screen * 1e3:.2f} ms per set, {per_screen / n * 1e9:.0f} ns per set-bar); "
        f"engine {best_engine:.2f} s per set ({best_engine / n * 1e6:.0f} us/bar)"
    )
    return [
        figure(
            "analyze.screen_speedup",
            1 / per_screen,
            "sets/s",
            baseline=1 / best_engine,
            goal=GOAL_SPEEDUP,
            goal_on="ratio",
            better="higher",
            note=note,
        ),
        figure(
            "analyze.screen_exact_runs",
            float(exact),
            "runs",
            baseline=float(len(diffs)),
            goal=1.0,
            goal_on="ratio",
            better="higher",
            note=(
                f"orders, fills, pnl, fees, final cash and inventory; peers' params: "
                f"{peers['orders']:,} orders, {peers['fills']:,} fills, final equity "
                f"{peers['final_equity']}, max pnl gap {max(d['pnl_gap'] for d in diffs)}"
            ),
        ),
        figure(
            "analyze.screen_float_gap",
            gap * 1e9,
            "ppb",
            baseline=None,
            goal=GOAL_FLOAT_GAP,
            goal_on="value",
            better="lower",
            note=f"largest relative gap of a float statistic over the runs compared: {gap:.2e}",
        ),
    ]


FLOAT_KEYS = frozenset(
    (
        "fill_rate", "return_pct", "sharpe", "sortino", "max_drawdown", "turnover",
        "inventory_mean", "inventory_std", "inventory_max", "quote_uptime",
    )
)  # fmt: skip
