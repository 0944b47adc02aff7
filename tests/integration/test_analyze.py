"""`kinetic analyze` as a user runs it: a small real-data sweep, two workers, the artifacts."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime._analysis_config import load_analyze_config
from runtime._analyze_cmd import run_analysis
from tests.conftest import shared_data

pytestmark = pytest.mark.shared_data

REPO = Path(__file__).resolve().parents[2]
BTC_1M = "binance_btcusdt_1m_20250520_20250818.csv.gz"

CONFIG = """
backtest = "{backtest}"
strategy = "mm"
feed = "candles"
workers = 2
out_dir = "{out}"
[window]
start = "2025-05-20T00:00:00Z"
end = "2025-05-21T00:00:00Z"
[walk_forward]
train_days = 0.25
test_days = 0.125
[sweep]
gamma = [0.0001, 0.002]
k = [1.0, 2.0]
size = ["0.01", "0.02"]
[screen]
kind = "agents.ml.screen:BarMarketMakerScreen"
top = 2
[readiness]
min_positive_share = 0.5
min_fills = 5
"""


def backtest_config(tmp_path: Path) -> Path:
    """Return config/mm_binance.toml with the data path made absolute (tests run anywhere)."""
    data = shared_data(BTC_1M)
    text = (REPO / "config" / "mm_binance.toml").read_text()
    path = tmp_path / "mm.toml"
    path.write_text(text.replace("../shared/data/" + BTC_1M, str(data)))
    return path


def kinetic(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", "--data-dir", str(cwd / "var"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_analyze_writes_results_and_a_readiness_verdict(tmp_path: Path) -> None:
    cfg = tmp_path / "analyze.toml"
    cfg.write_text(CONFIG.format(backtest=backtest_config(tmp_path), out=tmp_path / "runs"))
    out = tmp_path / "out"
    started = time.perf_counter()
    proc = kinetic("analyze", "--config", str(cfg), "--workers", "2", "--out", str(out),
                   cwd=tmp_path)  # fmt: skip
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 40
    assert Path(proc.stdout.strip().splitlines()[-1]) == out  # the last line is the directory
    analysis = json.loads((out / "analysis.json").read_text())
    splits = analysis["splits"]
    assert len(splits) == 6  # (24 h - 6 h train - 3 h test) / 3 h + 1
    assert analysis["candidates"] == 8
    assert analysis["workers"] == 2
    assert all(len(s["engine_ran"]) == 2 for s in splits)  # --screen-top from the config
    # The screen chose; the engine's numbers agree with it on every run they share.
    agree = analysis["agreement"]
    assert agree["pairs"] == 12 and agree["agree"] == 12
    assert agree["max_pnl_gap"] in ("0", "0E-10")
    # Readiness: a verdict, with a reason per check, judged on the walk-forward picks.
    rd = analysis["readiness"]
    assert isinstance(rd["ready_for_live"], bool)
    names = {c["check"] for c in rd["checks"]}
    assert names == {"positive_oos_share", "max_drawdown", "mean_sharpe", "min_fills",
                     "screen_agrees"}  # fmt: skip
    assert rd["ready_for_live"] == all(c["passed"] for c in rd["checks"])
    assert rd["reasons"] and all(r.startswith(("ok: ", "FAIL: ")) for r in rd["reasons"])
    picks = analysis["walk_forward"]["picks"]
    assert [p["split"] for p in picks] == list(range(6))
    assert all(p["pick"] == s["engine_ran"][0] for p, s in zip(picks, splits, strict=True))
    # results.csv: one row per candidate x split; the engine's columns where it ran.
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 * 6
    ran = [r for r in rows if r["engine_ran"] == "True"]
    assert len(ran) == 12
    assert all(r["engine_test_pnl"] and r["screen_agrees"] == "True" for r in ran)
    assert all(r["engine_test_pnl"] == "" for r in rows if r["engine_ran"] == "False")
    assert sum(r["pick"] == "True" for r in rows) == 6
    for r in ran:  # the screen's out-of-sample PnL is the engine's, to the last digit
        assert float(r["screen_test_pnl"]) == float(r["engine_test_pnl"])
    assert (out / "oos.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "walk-forward picks" in proc.stderr and "ready_for_live" in proc.stderr


def test_a_swept_value_that_does_not_build_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "analyze.toml"
    text = CONFIG.format(backtest=backtest_config(tmp_path), out=tmp_path / "runs")
    cfg.write_text(text.replace('size = ["0.01", "0.02"]', 'size = ["0.01", "lots"]'))
    proc = kinetic("analyze", "--config", str(cfg), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("kinetic: ")
    assert "`sweep.size[1]`" in proc.stderr and proc.stderr.count("\n") == 1


def test_without_a_screen_the_engine_ranks_and_judges(tmp_path: Path) -> None:
    text = CONFIG.format(backtest=backtest_config(tmp_path), out=tmp_path / "runs")
    text = text.replace('end = "2025-05-21T00:00:00Z"', 'end = "2025-05-20T12:00:00Z"')
    text = text.replace("gamma = [0.0001, 0.002]", "gamma = [0.0001]")
    text = text.replace('size = ["0.01", "0.02"]', 'size = ["0.01"]')
    cfg = tmp_path / "analyze.toml"
    cfg.write_text(text)
    out = run_analysis(load_analyze_config(cfg), source=str(cfg), workers=1, screen_top=0,
                       out=str(tmp_path / "noscreen"))  # fmt: skip
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["screen"] is None and analysis["agreement"] is None
    assert analysis["speed"]["engine_runs"] == 2 * 2  # every candidate on both test windows
    assert {c["check"] for c in analysis["readiness"]["checks"]} == {
        "positive_oos_share", "max_drawdown", "mean_sharpe", "min_fills",
    }  # fmt: skip
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 and all(r["engine_train_pnl"] for r in rows)
