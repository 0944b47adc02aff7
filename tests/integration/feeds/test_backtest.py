"""A `candles_file` feed drives `kinetic backtest`, and the run replays from the same file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.feeds.config import CandlesFileConfig
from adapters.feeds.data import CandlesFileFeed
from runtime import ConfigError
from runtime.config import decode_params
from tests.conftest import shared_data

pytestmark = pytest.mark.shared_data

REPO = Path(__file__).resolve().parents[3]
BTC_1M = "binance_btcusdt_1m_20250520_20250818.csv.gz"
START_NS = 1_747_699_200_000_000_000  # 2025-05-20T00:00Z, the first candle's open


def kinetic(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", "--data-dir", str(data_dir), *args],
        cwd=REPO,  # relative feed paths resolve against the working directory
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_candles_file_backtest_runs_and_replays(tmp_path: Path) -> None:
    shared_data(BTC_1M)
    cfg = tmp_path / "bt.toml"
    cfg.write_text(
        f"""
mode = "backtest"
[backtest]
start_ns = {START_NS}
duration_secs = 3600.0
out_dir = "{tmp_path / "artifacts"}"
[[adapters]]
name = "candles"
kind = "candles_file"
[adapters.params]
path = "../shared/data/{BTC_1M}"  # relative to the working directory: the repo
format = "binance_csv"
instrument = "BTC/USDT"
timeframe_secs = 60
limit = 30
[[agents]]
name = "rec"
kind = "runtime.testing:Recorder"
params = {{ tags = ["data.Bar"] }}
"""
    )
    data_dir = tmp_path / "var"
    proc = kinetic(data_dir, "backtest", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip().splitlines()[-1])
    run = json.loads((out / "run.json").read_text())
    assert run["actors"]["rec"]["handled"] == 30  # the row limit
    assert run["events"] == 30 + 2  # the bars, Start and Stop
    proc = kinetic(data_dir, "replay", run["run_id"], "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"head={run['head']}" in proc.stdout


def test_window_and_limit_select_by_close_time() -> None:
    path = str(shared_data(BTC_1M))
    params = CandlesFileConfig(
        path=path,
        format="binance_csv",
        instrument="BTC/USDT",
        timeframe_secs=60,
        start="2025-05-20T00:10:00Z",
        end="2025-05-20T01:00:00",
        limit=1_000,
    )
    events = list(CandlesFileFeed(params).events())
    assert len(events) == 50  # closes 00:10 .. 00:59
    assert events[0][0] == START_NS + 10 * 60 * 10**9
    assert events[0][1].start_ns == START_NS + 9 * 60 * 10**9  # opened 00:09, closed 00:10
    limited = CandlesFileConfig(
        path=path, format="binance_csv", instrument="BTC/USDT", timeframe_secs=60, limit=3
    )
    assert len(list(CandlesFileFeed(limited).events())) == 3


def test_bad_params_read_like_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"`start` must be an ISO 8601 time, got 'soon'"):
        decode_params(
            {
                "path": "x.csv",
                "format": "binance_csv",
                "instrument": "BTC/USDT",
                "timeframe_secs": 60,
                "start": "soon",
            },
            CandlesFileConfig,
            where="$.adapters[0].params",
            source="cfg.toml",
        )
    with pytest.raises(ConfigError, match=r"at `\$.adapters\[0\].params.format`"):
        decode_params(
            {"path": "x.csv", "format": "csv", "instrument": "X", "timeframe_secs": 60},
            CandlesFileConfig,
            where="$.adapters[0].params",
            source="cfg.toml",
        )
