"""Backtest the peers' three strategies over real candles, beside NautilusTrader and backtrader.

The strategies of `../shared/peers/README.md` (null, EMA 10/30 cross, the bar market maker) run as
Kinetic agents through the whole order path: the file feed, the simulated venue (relay mode),
the risk gate, execution, the performance recorder, journal level `inputs` into SQLite; each as
its own `kinetic backtest` process, as a user runs it. A figure is microseconds per bar of the
run itself (`run.json`'s `wall_secs`, which excludes interpreter start and writing artifacts),
over the 130,708 Binance BTC/USDT 1m candles (quick: the first 20,000).

Baselines: NautilusTrader and backtrader run the same strategy over the same bars in this run,
through `../shared/peers/run_all.py` (one process each, `--reps 1`), when their virtualenvs exist
(`../shared/peers/setup.sh`; `$PEERS_VENVS`, default `../shared/peers/.venvs`). Goals are then
ratios to NautilusTrader measured here (issue #4: market maker <= 0.1, EMA <= 0.5, null <= 1/3),
since a peer's per-bar cost on 20,000 bars is not its cost on 130,708 (its start-up spreads over
fewer bars). Without the venvs, and in `--quick` unless `KINETIC_BENCH_PEERS=1` (the peers take
about 45 s on 20,000 bars), the baselines are their figures recorded on this machine class on
2026-11-22 (`../shared/peers/README.md`, median of 3, full file) and the goals absolute:
market maker <= 54 us/bar with peak RSS <= 300 MiB, EMA <= 21.6, null <= 5.17; each also 6x
backtrader (in the note).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from bench._measure import Figure, figure

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "binance_btcusdt_1m_20250520_20250818.csv.gz"
PEERS = REPO.parent / "shared" / "peers"
NAUTILUS_US = {"null": 15.5, "ema": 43.2, "mm": 539.0}
BACKTRADER_US = {"null": 52.3, "ema": 70.5, "mm": 339.0}
GOAL_US = {"null": 15.5 / 3, "ema": 43.2 / 2, "mm": 53.9}
GOAL_RATIO = {"null": 1 / 3, "ema": 1 / 2, "mm": 1 / 10}
"""Kinetic's us/bar over NautilusTrader's, both measured in this run."""
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


def peers(bars: int | None, tmp: Path) -> dict[str, dict[str, Any]] | None:
    """Run NautilusTrader and backtrader on the same bars; None when their venvs are missing.

    Returns `run_all.py`'s results by label (`nautilus/mm`, `backtrader/null`, ...).
    """
    venvs = Path(os.environ.get("PEERS_VENVS", PEERS / ".venvs"))
    if not all((venvs / v / "bin" / "python").exists() for v in ("venv_nautilus", "venv_bt")):
        print(f"backtest: peers not measured, no venvs in {venvs} (run {PEERS}/setup.sh)",
              file=sys.stderr)  # fmt: skip
        return None
    out = tmp / "peers"
    cmd = [sys.executable, str(PEERS / "run_all.py"), "--only", "nautilus,backtrader"]
    cmd += ["--reps", "1", "--out", str(out)] + (["--bars", str(bars)] if bars else [])
    env = {**os.environ, "PEERS_VENVS": str(venvs)}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=PEERS, env=env, check=False)
    if proc.returncode:
        raise RuntimeError(f"peers failed: {proc.stderr[-2000:]}")
    results: dict[str, dict[str, Any]] = json.loads(out.with_suffix(".json").read_text())["results"]
    return results


def run(quick: bool) -> list[Figure]:
    """Run null, ema and mm, each in its own process."""
    if not DATA.exists():
        print(f"backtest: skipped, {DATA} is not here", file=sys.stderr)
        return []
    bars = 20_000 if quick else None
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("KINETIC_BENCH_DIR")) as d:
        measured = None
        if not quick or os.environ.get("KINETIC_BENCH_PEERS") == "1":
            measured = peers(bars, Path(d))
        for name in ("null", "ema", "mm"):
            result, rss = backtest(name, bars, Path(d))
            m = result["metrics"]
            assert isinstance(m, dict)
            n = int(m["bars"])
            us = float(result["wall_secs"]) / n * 1e6  # type: ignore[arg-type]
            ours = f"{n:,} bars; orders {m['orders']:,}, fills {m['fills']:,}, final equity "
            ours += f"{m['final_equity']}, inventory {m['final_inventory']}"
            goal_on: Literal["value", "ratio"]
            if measured is None:
                nt, bt, nt_rss, how = NAUTILUS_US[name], BACKTRADER_US[name], 1593.0, "recorded"
                goal, goal_on = round(GOAL_US[name], 2), "value"
                peer = ""
            else:
                nt_r, bt_r = measured[f"nautilus/{name}"], measured[f"backtrader/{name}"]
                nt, bt, nt_rss = nt_r["us_per_bar"], bt_r["us_per_bar"], nt_r["peak_rss_mib"]
                how, goal, goal_on = "measured in this run", round(GOAL_RATIO[name], 4), "ratio"
                same = all(
                    (r["orders"], r["fills"]) == (m["orders"], m["fills"]) for r in (nt_r, bt_r)
                )
                if "balance_usdt" in nt_r:
                    same = same and Decimal(str(nt_r["balance_usdt"])).quantize(
                        Decimal("0.01")
                    ) == Decimal(str(m["final_cash"])).quantize(Decimal("0.01"))
                peer = (
                    f"; NautilusTrader orders {nt_r['orders']:,}, fills {nt_r['fills']:,}; "
                    f"backtrader orders {bt_r['orders']:,}, fills {bt_r['fills']:,}; "
                    f"orders, fills and cash {'match' if same else 'DIFFER from'} the peers'"
                )
            note = (
                f"{ours}{peer}; baseline NautilusTrader ({how}); backtrader {bt:.1f} us/bar "
                f"(ratio {us / bt:.3f}, goal <= 0.167)"
            )
            figures.append(
                figure(
                    f"backtest.{name}.us_per_bar",
                    us,
                    "us/bar",
                    baseline=nt,
                    goal=goal,
                    goal_on=goal_on,
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
                        baseline=nt_rss,
                        goal=300.0,
                        goal_on="value",
                        better="lower",
                        note=f"baseline: NautilusTrader's peak RSS ({how})",
                    )
                )
    return figures
