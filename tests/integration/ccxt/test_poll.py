"""The `ccxt_poll` feed against the fake Kraken (real Kraken replies, real ccxt, no network).

It polls trades then the ticker, emits each new trade once, survives an outage with a log line
and resumes, and refuses an unknown symbol at start. A last test runs `config/paper_kraken.toml`
as a daemon against the fake: it polls, quotes nothing while cold, and stops cleanly.
"""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from adapters.ccxt import VenueRequestError
from adapters.ccxt.poll import CcxtPollConfig, CcxtPollFeed
from adapters.kraken_fake import FakeKraken
from agents.data.messages import Quote, Trade
from runtime import Message
from tests.integration.daemon import REPO, Daemon

pytestmark = [pytest.mark.anyio, pytest.mark.shared_data]

PAIR = "XBTUSDT"


class Port:
    """Collect what the feed emits, as the kernel's port would take it."""

    def __init__(self) -> None:
        self.got: list[tuple[Message, str]] = []

    async def emit(self, msg: Message, /, *, corr: str = "", dst: str = "") -> None:
        self.got.append((msg, dst))

    def trades(self) -> list[Trade]:
        return [m for m, _ in self.got if isinstance(m, Trade)]

    def quotes(self) -> list[Quote]:
        return [m for m, _ in self.got if isinstance(m, Quote)]


def feed(url: str, **options: Any) -> CcxtPollFeed:
    params = {"exchange": "kraken", "api_url": url, "symbol": "BTC/USDT", "retries": 1,
              "retry_backoff_ms": 5.0, "interval_ms": 20, **options}  # fmt: skip
    return CcxtPollFeed(CcxtPollConfig(**params))


def new_rows(fake: FakeKraken, n: int, *, start_id: int) -> list[list[Any]]:
    """Trades after the recording's last one, as Kraken rows (strings, like the replies)."""
    last = fake.recordings.trades[PAIR].rows[-1]
    t0 = Decimal(str(last[2]))
    return [
        [f"{105900 + i}.10000", "0.00100000", t0 + 1 + Decimal(i) / 10, "b" if i % 2 else "s",
         "l", "", start_id + i]
        for i in range(n)
    ]  # fmt: skip


async def test_the_first_poll_skips_history_then_each_new_trade_is_emitted_once(
    fake: FakeKraken, kraken_url: str
) -> None:
    ad, port = feed(kraken_url), Port()
    await ad.start(port)
    try:
        assert await ad.poll() == 1  # the latest 1000 trades are history: only the ticker
        assert len(port.quotes()) == 1 and not port.trades()
        top = port.quotes()[0]
        assert top.instrument == "BTC/USDT" and 0 < top.bid < top.ask
        rows = new_rows(fake, 5, start_id=10219300)
        fake.recordings.add_trades(PAIR, rows)
        assert await ad.poll() == 6
        trades = port.trades()
        assert [t.trade_id for t in trades] == [str(r[6]) for r in rows]  # oldest first
        assert [t.price for t in trades] == [Decimal(r[0]) for r in rows]  # exact
        assert [t.side for t in trades] == ["sell", "buy", "sell", "buy", "sell"]
        assert isinstance(port.got[-1][0], Quote), "trades first, then the book top"
        # `since` is inclusive: the same trades come back, and are not emitted again.
        assert await ad.poll() == 1 and len(port.trades()) == 5
        fake.recordings.add_trades(PAIR, new_rows(fake, 2, start_id=10219400))
        assert await ad.poll() == 3 and len(port.trades()) == 7
        assert len({t.trade_id for t in port.trades()}) == 7
        sinces = [p.get("since") for m, p in fake.requests if m == "Trades"]
        assert sinces[0] is None and all(s is not None for s in sinces[1:])
    finally:
        await ad.stop()


async def test_history_renaming_and_sending_to_an_actor(kraken_url: str) -> None:
    ad, port = feed(kraken_url, history=True, instrument="BTC-USDT", to="sim"), Port()
    await ad.start(port)
    try:
        await ad.poll()
        trades = port.trades()
        assert len(trades) == 1000 and len({t.trade_id for t in trades}) == 1000
        assert {m.instrument for m, _ in port.got} == {"BTC-USDT"}
        assert {dst for _, dst in port.got} == {"sim"}
    finally:
        await ad.stop()


async def test_an_outage_is_logged_and_retried_and_the_feed_resumes(
    fake: FakeKraken, kraken_url: str
) -> None:
    ad, port = feed(kraken_url, max_backoff_ms=50.0), Port()
    await ad.start(port)
    try:
        with capture_logs() as logs:
            async with anyio.create_task_group() as tg:
                tg.start_soon(ad.run)
                with anyio.fail_after(10):
                    while ad.polls < 2:
                        await anyio.sleep(0.01)
                # Down for 6 requests: more than one poll's retries, so polls fail.
                fake.fail_after, fake.fail_count = fake.served, 6
                with anyio.fail_after(10):
                    while ad.failures == 0:
                        await anyio.sleep(0.01)
                fake.recordings.add_trades(PAIR, new_rows(fake, 3, start_id=10219500))
                with anyio.fail_after(10):
                    # The trades are emitted inside the poll that then logs the recovery.
                    while len(port.trades()) < 3 or ad.failures:
                        await anyio.sleep(0.01)
                tg.cancel_scope.cancel()
        failed = [e for e in logs if e["event"] == "ccxt_poll_failed"]
        assert failed and all("503" in e["error"] or "Unavailable" in e["error"] for e in failed)
        assert failed[0]["log_level"] == "warning" and failed[0]["symbol"] == "BTC/USDT"
        assert [e for e in logs if e["event"] == "ccxt_poll_recovered"]
        assert [t.trade_id for t in port.trades()] == ["10219500", "10219501", "10219502"]
        assert ad.failures == 0
    finally:
        await ad.stop()


async def test_an_unknown_symbol_fails_the_start(kraken_url: str) -> None:
    ad = feed(kraken_url, symbol="NOPE/USDT")
    with pytest.raises(VenueRequestError, match="`symbol` 'NOPE/USDT' is not listed"):
        await ad.start(Port())
    await ad.stop()


def test_the_kraken_paper_profile_polls_the_fake_and_stops_cleanly(
    tmp_path: Path, kraken_url: str
) -> None:
    env = {
        "KINETIC_ADAPTERS__0__PARAMS__API_URL": kraken_url,
        "KINETIC_ADAPTERS__0__PARAMS__INTERVAL_MS": "100",
        "KINETIC_CONTROL_API__ENABLED": "false",
        "KINETIC_SERVICES__0__PARAMS__OUT_DIR": str(tmp_path / "artifacts"),
    }
    d = Daemon(REPO / "config" / "paper_kraken.toml", tmp_path / "var", env=env)
    try:
        run_id = d.wait_for("runtime_started", timeout=60)["run_id"]
        d.wait_for("runtime_ready", timeout=30)
        deadline = eventually(d, lambda: _rows(tmp_path, run_id, "data.Quote") >= 3)
        assert deadline, d.log_path.read_text()
    finally:
        code = d.stop()
    assert code == 0
    assert _rows(tmp_path, run_id, "ml.QuoteUpdate") == 0  # cold: no new trades on the fake
    events = {e["event"] for e in d.events()}
    assert "ccxt_poll_failed" not in events and "actor_failed" not in events
    assert (tmp_path / "artifacts" / run_id / "quotes.jsonl").exists()


def eventually(d: Daemon, cond: Any, *, timeout: float = 20) -> bool:
    """Wait (blocking: the daemon is another process) until `cond()` holds or the daemon ends."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if d.proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def _rows(tmp: Path, run_id: str, type_: str) -> int:
    db = tmp / "var" / "paper_kraken.db"
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        (n,) = c.execute(
            "SELECT count(*) FROM journal WHERE run_id = ? AND type = ?", (run_id, type_)
        ).fetchone()
    return int(n)
