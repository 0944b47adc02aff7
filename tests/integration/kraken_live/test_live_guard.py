"""`kinetic run --mode live` as an operator meets it: credentials, the guard, then the venue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.daemon import Daemon, kinetic
from tests.integration.kraken_live.live import CREDENTIALS, FakeProcess, live_config


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeProcess]:
    proc = FakeProcess(tmp_path)
    try:
        yield proc
    finally:
        proc.stop()


def test_live_without_credentials_exits_naming_both_variables(
    tmp_path: Path, fake: FakeProcess
) -> None:
    cfg = live_config(tmp_path, fake.url)
    proc = kinetic("--config", str(cfg), "run", "--mode", "live", data_dir=tmp_path / "var")
    assert proc.returncode != 0
    assert proc.stderr.strip() == (
        "kinetic: mode=live requires env vars: EXCHANGE_API_KEY, EXCHANGE_API_SECRET"
    )
    one = kinetic(
        "--config", str(cfg), "run", "--mode", "live", data_dir=tmp_path / "var",
        env={"EXCHANGE_API_KEY": "k"},
    )  # fmt: skip
    assert one.returncode != 0
    assert one.stderr.strip() == "kinetic: mode=live requires env vars: EXCHANGE_API_SECRET"
    assert fake.requests() == [], "nothing reached the venue"


def test_live_with_credentials_but_the_guard_on_refuses_in_one_line(
    tmp_path: Path, fake: FakeProcess
) -> None:
    cfg = live_config(tmp_path, fake.url, paper_only=True)
    proc = kinetic(
        "--config", str(cfg), "run", "--mode", "live", data_dir=tmp_path / "var", env=CREDENTIALS
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "paper-only guard is on" in lines[0]
    assert "paper_only = false" in lines[0], "it says how to turn it off"
    assert CREDENTIALS["EXCHANGE_API_SECRET"] not in proc.stderr
    assert fake.requests() == []


def test_a_live_venue_in_a_paper_daemon_is_refused(tmp_path: Path, fake: FakeProcess) -> None:
    cfg = live_config(tmp_path, fake.url, mode="paper")
    proc = kinetic("--config", str(cfg), "run", data_dir=tmp_path / "var", env=CREDENTIALS)
    assert proc.returncode != 0
    assert proc.stderr.strip() == (
        "kinetic: adapter `kraken` (kind `kraken`) trades live and runs only with mode=live, "
        "not paper - at `$.adapters[0]`"
    )
    assert fake.requests() == []


def test_live_with_credentials_and_the_guard_off_trades_and_never_logs_the_secret(
    tmp_path: Path, fake: FakeProcess
) -> None:
    cfg = live_config(tmp_path, fake.url, interval_ms=50)
    d = Daemon(cfg, tmp_path / "var", env=CREDENTIALS, args=("--mode", "live"))
    d.wait_for("kraken_venue_started")
    d.wait_for("kraken_order_placed")
    assert d.stop() == 0
    log = d.log_path.read_text()
    assert CREDENTIALS["EXCHANGE_API_SECRET"] not in log
    assert CREDENTIALS["EXCHANGE_API_KEY"] not in log
    methods = {r["method"] for r in fake.requests()}
    assert {"BalanceEx", "OpenOrders", "AddOrder"} <= methods
