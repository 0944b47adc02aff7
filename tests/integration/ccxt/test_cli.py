"""`kinetic data` as operators run it: real subprocesses, a SIGKILL mid-backfill, real HTTP."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.kraken_fake import FakeKraken
from tests.conftest import SHARED_DATA, shared_data
from tests.integration.daemon import REPO, kinetic

pytestmark = pytest.mark.shared_data

USDC = ("--symbol", "BTC/USDC", "--timeframe", "1m", "--since", "2023-01-01T00:00Z")


def stored(db: Path) -> tuple[int, int]:
    """Return (rows, distinct open times) of the candle store, 0s before it exists."""
    if not db.exists():
        return 0, 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT count(*), count(DISTINCT ts) FROM candles").fetchone()
        except sqlite3.OperationalError:  # the schema is not there yet
            return 0, 0


@pytest.mark.parametrize("command", ["backfill", "sync", "gaps"])
def test_every_data_command_has_help(command: str, tmp_path: Path) -> None:
    proc = kinetic("data", command, "--help", data_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--json" in proc.stdout


def test_a_killed_backfill_resumes_and_the_gaps_of_the_sparse_file_are_reported(
    tmp_path: Path, fake: FakeKraken, kraken_url: str
) -> None:
    data_dir = tmp_path / "var"
    db = data_dir / "candles.db"
    fake.latency_ms = 40  # ~80 pages: a few seconds, time to kill it mid-way
    args = ["data", "backfill", *USDC, "--api-url", kraken_url, "--json"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime",
            "--data-dir",
            str(data_dir),
            "--log-format",
            "json",
            *args,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while stored(db)[0] < 5 * 720:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the backfill stored nothing in 60 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err
    rows, distinct = stored(db)
    assert 5 * 720 <= rows < 56_717
    assert rows == distinct

    fake.latency_ms = 0
    done = kinetic(*args, data_dir=data_dir, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["resumed_ns"] is not None
    assert report["candles"] == 56_717 - rows
    assert stored(db) == (56_717, 56_717)

    gaps = kinetic("data", "gaps", "--symbol", "BTC/USDC", "--json", data_dir=data_dir)
    assert gaps.returncode == 0, gaps.stderr
    (line,) = gaps.stdout.strip().splitlines()
    found = json.loads(line)
    assert (found["count"], found["missing"], found["candles"]) == (26_746, 72_883, 56_717)
    assert found["gaps"][0] == {
        "start_ns": 1_672_531_260 * 10**9,  # 00:01, after the first candle at 00:00
        "end_ns": 1_672_531_740 * 10**9,  # 00:09, the next candle present
        "missing": 8,
    }
    table = kinetic("data", "gaps", "--limit", "2", "--check", data_dir=data_dir)
    assert table.returncode == 1  # --check: there are gaps
    assert "26746" in table.stdout and "72883" in table.stdout


def test_sync_continues_every_stored_series(tmp_path: Path, kraken_url: str) -> None:
    data_dir = tmp_path / "var"
    kinetic("data", "sync", "--api-url", kraken_url, data_dir=data_dir, check=True)
    kinetic(
        "data",
        "backfill",
        "--symbol",
        "BTC/USD",
        "--timeframe",
        "5m",
        "--since",
        "2023-01-01",
        "--until",
        "2023-02-01",
        "--api-url",
        kraken_url,
        data_dir=data_dir,
        check=True,
    )
    assert stored(data_dir / "candles.db")[0] == 8928 - 2  # January, less its 2 gaps
    proc = kinetic("data", "sync", "--api-url", kraken_url, "--json", data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr
    (report,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert report["series"] == {"exchange": "kraken", "symbol": "BTC/USD", "timeframe": "5m"}
    assert stored(data_dir / "candles.db")[0] == 25_901


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--symbol", "DOGE/EUR", "--since", "2023-01-01"], 2, "`symbol` 'DOGE/EUR' is not listed"),
        (["--symbol", "BTC/USD", "--since", "yesterday"], 2, "must be an ISO 8601 time"),
        (
            ["--symbol", "BTC/USD", "--since", "2023-02-01", "--until", "2023-01-01"],
            2,
            "`--until` must be after `--since`",
        ),
        (
            ["--symbol", "BTC/USD", "--timeframe", "7m", "--since", "2023-01-01"],
            2,
            "`timeframe` must be one of",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, kraken_url: str, args: list[str], code: int, message: str
) -> None:
    proc = kinetic("data", "backfill", *args, "--api-url", kraken_url, data_dir=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr


def test_an_unreachable_venue_is_exit_1(tmp_path: Path) -> None:
    proc = kinetic(
        "data",
        "backfill",
        *USDC,
        "--api-url",
        "http://127.0.0.1:1",
        "--retries",
        "0",
        data_dir=tmp_path,
    )
    assert proc.returncode == 1
    assert "kinetic: `kraken` failed to load markets after 1 attempts" in proc.stderr


def test_the_fake_runs_as_a_program_and_stops_on_sigterm(tmp_path: Path) -> None:
    shared_data("kraken_rest_ohlc_xbtusdt_1m.json")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adapters.kraken_fake",
            "--port",
            "0",
            "--data-dir",
            str(SHARED_DATA),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        backfill = kinetic(
            "data",
            "backfill",
            "--symbol",
            "BTC/USDT",
            "--since",
            "2025-11-10",
            "--api-url",
            url,
            "--json",
            data_dir=tmp_path,
            check=True,
        )
        assert json.loads(backfill.stdout)["candles"] == 721
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=15)
    bad = subprocess.run(
        [sys.executable, "-m", "adapters.kraken_fake", "--port", "-1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "kraken_fake: Expected `int` >= 0" in bad.stderr
