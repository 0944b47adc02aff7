"""The bar market maker over real candles: artifacts a person reads, deterministic, replayable."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import shared_data

pytestmark = pytest.mark.shared_data

REPO = Path(__file__).resolve().parents[2]
BTC_1M = "binance_btcusdt_1m_20250520_20250818.csv.gz"
BARS = 3_000


def kinetic(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", "--data-dir", str(data_dir), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def backtest(tmp_path: Path, name: str) -> tuple[Path, Path]:
    cfg = (REPO / "config" / "mm_binance.toml").read_text()
    cfg = cfg.replace("timeframe_secs = 60\n", f"timeframe_secs = 60\nlimit = {BARS}\n", 1)
    path = tmp_path / f"{name}.toml"
    path.write_text(cfg)
    data_dir = tmp_path / "var"
    out = tmp_path / name
    proc = kinetic(data_dir, "backtest", "--config", str(path), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip().splitlines()[-1]) == out  # the last line is the directory
    return data_dir, out


def test_market_maker_writes_its_artifacts_and_replays(tmp_path: Path) -> None:
    shared_data(BTC_1M)
    data_dir, out = backtest(tmp_path, "a")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["bars"] == BARS
    assert metrics["orders"] > BARS  # two quotes a bar once warm
    assert 0 < metrics["fills"] < metrics["orders"]
    assert 0 < metrics["quote_uptime"] <= 1
    # Money is exact: the final equity is cash plus inventory marked at the last close.
    with (out / "market_data.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == BARS
    last_close = Decimal(rows[-1]["close"])
    final = Decimal(metrics["final_cash"]) + Decimal(metrics["final_inventory"]) * last_close
    assert final == Decimal(metrics["final_equity"])
    # Fees: 0.1% of every fill, exactly.
    with (out / "trades.csv").open() as f:
        fills = list(csv.DictReader(f))
    assert len(fills) == metrics["fills"]
    assert sum(Decimal(r["fee"]) for r in fills) == Decimal(metrics["fees"])
    for r in fills[:50]:
        assert Decimal(r["fee"]) == (Decimal(r["qty"]) * Decimal(r["price"]) * Decimal("0.001"))
    # The inventory never passes the model's cap by more than one order.
    assert metrics["inventory_max"] <= 1.01
    for png in ("price.png", "inventory.png", "equity.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    risk = json.loads((out / "risk_report.json").read_text())
    assert risk["approved"] == metrics["orders"] and risk["denied"] == 0
    run = json.loads((out / "run.json").read_text())
    proc = kinetic(data_dir, "replay", run["run_id"], "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"head={run['head']}" in proc.stdout


def test_the_same_backtest_twice_gives_the_same_metrics_and_head(tmp_path: Path) -> None:
    shared_data(BTC_1M)
    _, a = backtest(tmp_path, "a")
    _, b = backtest(tmp_path, "b")
    assert (a / "metrics.json").read_bytes() == (b / "metrics.json").read_bytes()
    assert (a / "trades.csv").read_bytes() == (b / "trades.csv").read_bytes()
    head_a = json.loads((a / "run.json").read_text())["head"]
    head_b = json.loads((b / "run.json").read_text())["head"]
    assert head_a == head_b
