"""The campaign strategy over real candles: campaigns a person can read, exact money, replayable.

`config/campaign_binance.toml` runs the whole Binance BTC/USDT 1m file; the test runs it over
eight days (2025-06-08..16, 11,520 bars) that hold two campaigns of the full run, one with
partial exits and re-entries, so two backtests and a replay stay well under 30 s.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_data

pytestmark = pytest.mark.shared_data

REPO = Path(__file__).resolve().parents[2]
BTC_1M = "binance_btcusdt_1m_20250520_20250818.csv.gz"
START_NS = 1_749_340_800_000_000_000  # 2025-06-08T00:00Z
DAYS = 8
BARS = DAYS * 1440
CASH = Decimal(100_000)


def kinetic(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", "--data-dir", str(data_dir), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def backtest(tmp: Path, name: str) -> tuple[Path, Path]:
    cfg = (REPO / "config" / "campaign_binance.toml").read_text()
    cfg = cfg.replace("start_ns = 1_747_699_200_000_000_000", f"start_ns = {START_NS}", 1)
    cfg = cfg.replace("duration_secs = 7_862_400.0", f"duration_secs = {DAYS * 86_400}.0", 1)
    window = 'start = "2025-06-08T00:00:00Z"\nend = "2025-06-16T00:00:00Z"\n'
    cfg = cfg.replace("timeframe_secs = 60\n", f"timeframe_secs = 60\n{window}", 1)
    path = tmp / f"{name}.toml"
    path.write_text(cfg)
    data_dir = tmp / "var"
    out = tmp / name
    proc = kinetic(data_dir, "backtest", "--config", str(path), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip().splitlines()[-1]) == out
    return data_dir, out


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def run_a(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    shared_data(BTC_1M)
    return backtest(tmp_path_factory.mktemp("campaign"), "a")


def test_campaigns_scale_out_and_back_in_and_end_with_a_final_exit(
    run_a: tuple[Path, Path],
) -> None:
    _, out = run_a
    report = json.loads((out / "campaign_report.json").read_text())
    assert report["bars"] == BARS
    assert report["campaigns"] >= 2
    assert report["with_partial_exit"] >= 1 and report["with_re_entry"] >= 1
    campaigns: list[dict[str, Any]] = json.loads((out / "campaigns.json").read_text())
    assert len(campaigns) == report["campaigns"]
    fills = rows(out / "trades.csv")
    for c in campaigns:
        actions = [s["action"] for s in c["steps"]]
        assert actions[0] == "entry"
        assert c["partial_exits"] == actions.count("scale_out")
        assert c["re_entries"] == actions.count("scale_in")
        if c["end_ns"]:
            assert actions[-1] == "exit" and Decimal(c["bought"]) == Decimal(c["sold"])
        # The fills inside the campaign's span are its own: entries, partial exits, re-entries.
        mine = [f for f in fills if c["start_ns"] <= int(f["ts_ns"]) <= (c["end_ns"] or 2**63)]
        assert sum(f["side"] == "buy" for f in mine) == c["buys"]
        assert sum(f["side"] == "sell" for f in mine) == c["sells"]
    rich = [c for c in campaigns if c["partial_exits"] and c["re_entries"]]
    assert rich, "no campaign both scaled out and re-entered"
    for c in rich:
        assert c["buys"] >= 2 and c["sells"] >= 2  # the re-entries and partial exits traded
    # Sizing: volatility-scaled, within the exposure cap at entry, in whole lots.
    for c in campaigns:
        size = Decimal(c["size"])
        assert size % Decimal("0.00001") == 0
        assert size * Decimal(c["entry_close"]) <= CASH * Decimal("0.95") * 2  # equity < 2x cash


def test_no_leverage_and_equity_is_exactly_the_trades(run_a: tuple[Path, Path]) -> None:
    data_dir, out = run_a
    metrics = json.loads((out / "metrics.json").read_text())
    report = json.loads((out / "campaign_report.json").read_text())
    fills = rows(out / "trades.csv")
    assert len(fills) == metrics["fills"] > 0
    cash, position = CASH, Decimal(0)
    for f in fills:
        qty, price, fee = Decimal(f["qty"]), Decimal(f["price"]), Decimal(f["fee"])
        # 0.1% of every fill, rounded half-even to the venue's fee quantum (1e-8).
        assert fee == (qty * price * Decimal("0.001")).quantize(Decimal("1e-8"), ROUND_HALF_EVEN)
        if f["side"] == "buy":
            cash -= qty * price + fee
            position += qty
        else:
            cash += qty * price - fee
            position -= qty
        assert cash >= 0 and position >= 0  # never spends cash it lacks, never short
        assert (Decimal(f["cash"]), Decimal(f["inventory"])) == (cash, position)
    assert cash == Decimal(metrics["final_cash"]) == Decimal(report["cash"])
    assert position == Decimal(metrics["final_inventory"]) == Decimal(report["position"])
    last_close = Decimal(rows(out / "market_data.csv")[-1]["close"])
    assert Decimal(metrics["final_equity"]) == cash + position * last_close
    # Every unit of PnL belongs to a campaign: the closed ones exactly, the open one marked.
    pnl = Decimal(report["realized_pnl"]) + Decimal(report["open_pnl"])
    assert pnl == Decimal(metrics["pnl"])
    by_row = sum((Decimal(r["pnl"]) for r in rows(out / "campaigns.csv")), Decimal(0))
    assert by_row == pnl
    assert Decimal(report["fees"]) == Decimal(metrics["fees"])
    # The strategy never asked the gate for more than it allows.
    risk = json.loads((out / "risk_report.json").read_text())
    assert risk["approved"] == metrics["orders"] and risk["denied"] == 0
    run = json.loads((out / "run.json").read_text())
    proc = kinetic(data_dir, "replay", run["run_id"], "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"head={run['head']}" in proc.stdout


def test_the_same_backtest_twice_gives_the_same_metrics_campaigns_and_head(
    run_a: tuple[Path, Path], tmp_path: Path
) -> None:
    _, a = run_a
    _, b = backtest(tmp_path, "b")
    for name in ("metrics.json", "trades.csv", "campaigns.json", "campaign_report.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    head_a = json.loads((a / "run.json").read_text())["head"]
    head_b = json.loads((b / "run.json").read_text())["head"]
    assert head_a == head_b
