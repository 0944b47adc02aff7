"""`kinetic ledger` as a user runs it: a backtest, then its books rebuilt from the journal."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_data

pytestmark = pytest.mark.shared_data

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "tests" / "integration" / "ledger_mm.toml"
BTC_1M = "binance_btcusdt_1m_20250520_20250818.csv.gz"


def kinetic(data_dir: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", "--data-dir", str(data_dir), "--config", str(config),
         *args],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


Run = tuple[Path, Path, str, dict[str, Any]]


def backtest(tmp: Path, level: str) -> Run:
    """Run the market maker with its books at journal `level`; return where, and its outputs."""
    config = tmp / f"mm-{level}.toml"
    config.write_text(CONFIG.read_text().replace('level = "inputs"', f'level = "{level}"'))
    data_dir, out = tmp / "var", tmp / f"out-{level}"
    proc = kinetic(data_dir, config, "backtest", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    return (
        data_dir,
        config,
        run_id,
        json.loads((out / "metrics.json").read_text())
        | {"ledger": json.loads((out / "ledger.json").read_text())},
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    shared_data(BTC_1M)
    tmp = tmp_path_factory.mktemp("ledger")
    return {level: backtest(tmp, level) for level in ("inputs", "full")}  # full is the latest


def ledger(data_dir: Path, config: Path, *args: str) -> Any:
    proc = kinetic(data_dir, config, "ledger", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("level", ["inputs", "full"])
def test_the_rebuilt_books_equal_the_backtest(runs: dict[str, Run], level: str) -> None:
    data_dir, config, run_id, metrics = runs[level]
    assert metrics["fills"] > 100
    books = ledger(data_dir, config, "balances", "--run", run_id)
    sim = books["holders"]["sim"]
    # The same money three ways: the strategy's metrics, the keeper's report, the rebuilt books.
    assert Decimal(books["equity"]) == Decimal(metrics["final_equity"])
    assert Decimal(metrics["ledger"]["snapshot"]["equity"]) == Decimal(metrics["final_equity"])
    assert Decimal(sim["USDT"]["total"]) == Decimal(metrics["final_cash"])
    assert Decimal(sim["BTC"]["total"]) == 1 + Decimal(metrics["final_inventory"])
    assert metrics["ledger"]["refused"] == 0 and metrics["ledger"]["fills"] == metrics["fills"]

    verified = ledger(data_dir, config, "verify", "--run", run_id)
    assert verified["ok"] and verified["head"] == metrics["ledger"]["head"]
    assert verified["rebuilt"] == ("redelivered" if level == "full" else "re-executed")
    if level == "inputs":
        return  # each command re-executes the run: the rest is read from the `full` one
    trades = ledger(data_dir, config, "trades", "--run", run_id)["trades"]
    assert len(trades) == metrics["ledger"]["trades"] > 0
    realized = sum(Decimal(t["pnl"]) for t in trades)
    lots = ledger(data_dir, config, "lots", "--run", run_id)
    (pos,) = lots["positions"]
    assert Decimal(pos["realized"]) == realized
    assert sum(Decimal(x["qty"]) for x in pos["lots"]) == Decimal(sim["BTC"]["total"])
    assert trades[0]["closes"][0]["lot_fill_id"] == "opening:sim:BTC"  # the opening lot first


def test_tables_for_people_and_one_line_errors(runs: dict[str, Run]) -> None:
    data_dir, config, run_id, _ = runs["full"]
    proc = kinetic(data_dir, config, "ledger", "verify")  # the latest run
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"ledger ok run={run_id} transactions=")
    proc = kinetic(data_dir, config, "ledger", "balances", "--all")
    assert proc.returncode == 0, proc.stderr
    assert "venue:sim/asset:USDT/wallet:main" in proc.stdout and "equity " in proc.stdout
    proc = kinetic(data_dir, config, "ledger", "lots", "--run", "bt-nope")
    assert proc.returncode == 2 and proc.stderr.strip() == "kinetic: unknown run `bt-nope`"
    proc = kinetic(data_dir, config, "ledger", "trades", "--keeper", "perf")
    assert proc.returncode == 2
    assert "agent `perf` keeps no `runtime.Ledger`" in proc.stderr
