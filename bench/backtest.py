"""Backtest the peers' three strategies over real candles, beside NautilusTrader and backtrader.

The strategies of `../shared/peers/README.md` (null, EMA 10/30 cross, the bar market maker) run as
Kinetic agents through the whole order path: the file feed, the simulated venue (relay mode),
the risk gate, execution, the performance recorder, journal level `inputs` into SQLite; each as
its own `kinetic backtest` process, as a user runs it. A figure is microseconds per bar of the
run itself (`run.json`'s `wall_secs`, which excludes interpreter start and writing artifacts),
over the 130,708 Binance BTC/USDT 1m candles (quick: the first 20,000).

Baselines: the peers' figures recorded on this machine class on 2026-11-22
(`../shared/peers/README.md`, median of 3, full file), not measured in this run: their setup
builds a virtualenv per framework, too slow for a benchmark run. Goals from issue #4: market
maker <= 54 us/bar (10x NautilusTrader) with peak RSS <= 300 MiB, EMA <= 21.6 us/bar (2x),
null <= 5.17 us/bar (3x), each also 6x backtrader.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._measure import Figure, figure

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "binance_btcusdt_1m_20250520_20250818.csv.gz"
NAUTILUS_US = {"null": 15.5, "ema": 43.2, "mm": 539.0}
BACKTRADER_US = {"null": 52.3, "ema": 70.5, "mm": 339.0}
GOAL_US = {"null": 15.5 / 3, "ema": 43.2 / 2, "mm": 53.9}
STRATEGY = {
    "null": 'kind = "null_strategy"\nparams = { instrument = "BTC/USDT" }',
    "ema": 'kind = "ema_cross"\nparams = { instrument = "BTC/USDT", venue = "sim" }',
    "mm": 'kind = "bar_market_maker"\nparams = { instrument = "BTC/USDT", venue = "sim" }',
}


def config(strategy: str, bars: int | None) -> str:
    """Return the backtest config of `strategy` over the first `bars` candles (None: all)."""
    base = (REPO / "config" / "mm_binance.toml").read_text()
    head, _, _ = base.partition('[[agents]]\nname = "mm"')
    head = head.replace('path = "../shared/data/', f'path = "{DATA.parent}/')
    if bars is not None:
        head = head.replace("timeframe_secs = 60\n", f"timeframe_secs = 60\nlimit = {bars}\n", 1)
    return (
        head
        + f'[[agents]]\nname = "mm"\nrole = "ml"\n{STRATEGY[strategy]}\n\n'
        + '[[agents]]\nname = "perf"\nkind = "performance"\nrole = "reports"\n'
        + 'params = { strategy = "mm", instrument = "BTC/USDT" }\n'
    )


def backtest(strategy: str, bars: int | None, tmp: Path) -> tuple[dict[str, object], float]:
    """Run one backtest process; return its run.json and metrics.json, and its peak RSS MiB."""
    cfg = tmp / f"{strategy}.toml"
    cfg.write_text(config(strategy, bars))
    out = tmp / f"out-{strategy}"
    cmd = [sys.executable, "-m", "runtime", "--data-dir", str(tmp / "var"), "backtest"]
    proc = subprocess.Popen(
        [*cmd, "--config", str(cfg), "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, in KiB on Linux
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"backtest {strategy} failed: {err[-2000:]}")
    rss = usage.ru_maxrss / 1024
    run = json.loads((out / "run.json").read_text())
    run["metrics"] = json.loads((out / "metrics.json").read_text())
    return run, rss


def run(quick: bool) -> list[Figure]:
    """Run null, ema and mm, each in its own process."""
    if not DATA.exists():
        print(f"backtest: skipped, {DATA} is not here", file=sys.stderr)
        return []
    bars = 20_000 if quick else None
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("KINETIC_BENCH_DIR")) as d:
        for name in ("null", "ema", "mm"):
            result, rss = backtest(name, bars, Path(d))
            m = result["metrics"]
            assert isinstance(m, dict)
            n = int(m["bars"])
            us = float(result["wall_secs"]) / n * 1e6  # type: ignore[arg-type]
            note = (
                f"{n:,} bars; orders {m['orders']:,}, fills {m['fills']:,}, final equity "
                f"{m['final_equity']}, inventory {m['final_inventory']}; backtrader "
                f"{BACKTRADER_US[name]} us/bar (ratio {us / BACKTRADER_US[name]:.3f}, goal 1/6)"
            )
            figures.append(
                figure(
                    f"backtest.{name}.us_per_bar",
                    us,
                    "us/bar",
                    baseline=NAUTILUS_US[name],
                    goal=round(GOAL_US[name], 2),
                    goal_on="value",
                    better="lower",
                    note=note,
                )
            )
            if name == "mm":
                figures.append(
                    figure(
                        "backtest.mm.peak_rss_mib",
                        rss,
                        "MiB",
                        baseline=1593.0,
                        goal=300.0,
                        goal_on="value",
                        better="lower",
                        note="baseline: NautilusTrader's peak RSS (recorded)",
                    )
                )
    return figures
