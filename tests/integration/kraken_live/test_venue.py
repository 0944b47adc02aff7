"""The Kraken venue in a live kernel: risk -> execution -> KrakenVenue -> fake Kraken -> tracker.

Real ccxt, real HTTP, the real kernel; only Kraken is the fake. Each test drives orders through
the pre-trade gate and reads the venue events the tracker publishes, and the fake's own books.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest

from adapters.venues.kraken import (
    KrakenBalances,
    KrakenOrderReport,
    KrakenTracker,
    KrakenVenue,
    KrakenVenueConfig,
    cl_ord_id,
)
from agents.execution.actor import Execution, ExecutionConfig
from agents.execution.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    RequestCancel,
    SubmitOrder,
    VenueEvent,
    VenueSnapshot,
)
from agents.execution.timeouts import TimeoutConfig
from agents.risk.actor import RiskGate
from agents.risk.messages import OrderIntent
from runtime import (
    Actor,
    ActorSpec,
    ConfigError,
    Envelope,
    Journal,
    LiveKernel,
    MemoryStore,
    Message,
    RunInfo,
)
from tests.integration.kraken_live.conftest import KEY, SECRET, balance, push_price

pytestmark = pytest.mark.anyio
D = Decimal


class Tape(Actor):
    """Keep every venue event and balance report."""

    def __init__(self) -> None:
        self.got: list[Message] = []

    def on_start(self) -> None:
        self.ctx.subscribe(VenueEvent)
        self.ctx.subscribe(KrakenBalances)
        self.ctx.subscribe(VenueSnapshot)

    def on_event(self, msg: VenueEvent) -> None:
        self.got.append(msg)

    def on_balances(self, msg: KrakenBalances) -> None:
        self.got.append(msg)

    def on_snapshot(self, msg: VenueSnapshot) -> None:
        self.got.append(msg)

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.got if isinstance(m, kind)]


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_API_KEY", KEY)
    monkeypatch.setenv("EXCHANGE_API_SECRET", SECRET)


def venue(url: str, **options: Any) -> KrakenVenue:
    return KrakenVenue(
        KrakenVenueConfig(api_url=url, poll_interval_ms=50, in_flight_ms=100, retries=0, **options)
    )


FAST = ExecutionConfig(timeouts=TimeoutConfig(ack_timeout_ms=300.0, backoff_ms=100.0))
"""Execution that asks about a silent order after 300 ms (the default waits 5 s)."""


@asynccontextmanager
async def trading(
    url: str, /, *, execution: ExecutionConfig = FAST, **options: Any
) -> AsyncIterator[tuple[LiveKernel, Tape]]:
    """Run a live kernel with the order path and the Kraken venue until the block ends."""
    store = MemoryStore()
    await store.open()
    await store.create_run(
        RunInfo(run_id="r", kernel="live", mode="live", level="full", seed=0, config="{}")
    )
    k = LiveKernel(store=store, journal=Journal(), run_id="r", effect_namespace="r:")
    k.add_actor(ActorSpec("risk", RiskGate, role="risk"))
    k.add_actor(ActorSpec("execution", lambda: Execution(execution), role="execution"))
    k.add_actor(ActorSpec("kraken_orders", KrakenTracker))
    tape = Tape()
    k.add_actor(ActorSpec("tape", lambda: tape))
    k.add_adapter("kraken", venue(url, **options))
    async with anyio.create_task_group() as tg:
        started = anyio.Event()
        tg.start_soon(lambda: k.run(started=started.set))
        await started.wait()
        try:
            yield k, tape
        finally:
            k.request_stop("test")


async def until(check: Callable[[], bool], *, secs: float = 10.0) -> None:
    with anyio.fail_after(secs):
        while not check():
            await anyio.sleep(0.02)


def intent(n: int, side: str, qty: str, price: str | None) -> OrderIntent:
    return OrderIntent(
        client_id=f"s-{n}", strategy="s", venue="kraken", instrument="BTC/USDT",
        side=side, qty=D(qty), price=None if price is None else D(price),  # type: ignore[arg-type]
    )  # fmt: skip


def add_orders(private: Any) -> list[str]:
    return [r.params.get("cl_ord_id", "") for r in private.requests if r.method == "AddOrder"]


async def test_orders_fill_once_each_and_the_books_agree_with_the_venue(
    kraken_url: str, private: Any
) -> None:
    usdt, btc = balance(private, "USDT"), balance(private, "XXBT")
    await push_price(kraken_url, "XBTUSDT", "50000.0")
    async with trading(kraken_url) as (k, tape):
        await k.inject("s", intent(1, "buy", "0.02", "49000.0"), dst="risk")  # rests
        await k.inject("s", intent(2, "buy", "0.01", None), dst="risk")  # market: takes
        await k.inject("s", intent(3, "sell", "0.03", "52000.0"), dst="risk")  # rests
        await until(lambda: len(tape.of(OrderAccepted)) == 3 and len(tape.of(OrderFilled)) == 1)
        await push_price(kraken_url, "XBTUSDT", "48900.0", "0.005")  # s-1 in part
        await push_price(kraken_url, "XBTUSDT", "48800.0")  # s-1 in full
        await until(lambda: len(tape.of(OrderFilled)) == 3)
        await k.inject("s", RequestCancel(client_id="s-3", strategy="s"), dst="execution")
        await until(lambda: len(tape.of(OrderCanceled)) == 1)
        await anyio.sleep(0.3)  # several more polls: they find nothing new
    fills = tape.of(OrderFilled)
    assert [(f.client_id, f.qty, f.liquidity) for f in fills] == [
        ("s-2", D("0.01"), "taker"),
        ("s-1", D("0.005"), "maker"),
        ("s-1", D("0.015"), "maker"),
    ]
    assert len({f.fill_id for f in fills}) == 3
    assert [f.leaves_qty for f in fills] == [0, D("0.015"), 0]
    [cancel] = tape.of(OrderCanceled)
    assert (cancel.client_id, cancel.leaves_qty) == ("s-3", D("0.03"))
    [bal] = tape.of(KrakenBalances)
    assert bal.total["USDT"] == usdt and bal.total["BTC"] == btc
    # Our fills, applied to the starting balances, give the venue's balances to the last digit.
    for f in fills:
        sign = 1 if f.side == "buy" else -1
        btc += sign * f.qty
        usdt -= sign * f.qty * f.price + f.fee
    assert (balance(private, "USDT"), balance(private, "XXBT")) == (usdt, btc)
    assert sorted(add_orders(private)) == ["s-1", "s-2", "s-3"], "each order sent once"


async def test_a_lost_reply_is_looked_up_not_resent(kraken_url: str, private: Any) -> None:
    private.lose_replies = 1  # Kraken places the order; the reply never arrives
    async with trading(kraken_url) as (k, tape):
        await k.inject("s", intent(1, "sell", "0.01", "60000.0"), dst="risk")
        await until(lambda: bool(tape.got and tape.of(VenueEvent)))
    assert [type(m) for m in tape.of(VenueEvent)] == [OrderAccepted]
    assert add_orders(private) == ["s-1"]
    lookups = [r for r in private.requests if r.params.get("cl_ord_id") == "s-1"]
    assert [r.method for r in lookups] == ["AddOrder", "OpenOrders"], "found open, by client id"


async def test_an_order_kraken_never_got_is_resubmitted_only_after_kraken_says_not_found(
    kraken_url: str, private: Any
) -> None:
    private.drop_requests = 1  # a 503 before Kraken's engine: the order never arrives
    async with trading(kraken_url) as (k, tape):
        await k.inject("s", intent(1, "buy", "0.01", "40000.0"), dst="risk")
        await until(lambda: bool(tape.of(OrderAccepted)))
    statuses = [m.status for m in tape.of(OrderStatusReport)]
    assert statuses[0] == "not_found", "execution asked, Kraken said it has no such order"
    assert tape.of(OrderRejected) == []
    assert add_orders(private) == ["s-1", "s-1"], "the same client id, sent again once"
    [order] = private.account(KEY).orders.values()
    assert order.cl_ord_id == "s-1", "one order at the venue"


async def test_execution_reconciles_with_a_snapshot_of_open_orders_and_balances(
    kraken_url: str, private: Any
) -> None:
    await push_price(kraken_url, "XBTUSDT", "50000.0")
    async with trading(kraken_url) as (k, tape):
        await k.inject("s", intent(1, "sell", "0.01", "61000.0"), dst="risk")
        await until(lambda: bool(tape.of(OrderAccepted)))
    config = ExecutionConfig(reconcile_venues=["kraken"])
    async with trading(kraken_url, execution=config) as (k, tape):
        await until(lambda: bool(tape.of(VenueSnapshot)))
    [snap] = tape.of(VenueSnapshot)
    [listed] = snap.open_orders
    assert (listed.client_id, listed.instrument, listed.side, listed.qty, listed.price) == (
        "s-1", "BTC/USDT", "sell", D("0.01"), D("61000.0"),
    )  # fmt: skip
    assert snap.balances["BTC"] == balance(private, "XXBT") and snap.complete


async def test_reconcile_asks_by_client_id_and_never_sends(kraken_url: str, private: Any) -> None:
    adapter = venue(kraken_url, reconcile_skew_secs=0.0)

    class Port:
        async def emit(self, msg: Message, /, *, corr: str = "", dst: str = "") -> None:
            pass

    adapter.name = "kraken"
    await adapter.start(Port())
    try:
        placed = SubmitOrder(
            client_id="s-1", strategy="s", venue="kraken", instrument="BTC/USDT", side="sell",
            qty=D("0.01"), price=D("60000.0"),
        )  # fmt: skip
        now = time.time_ns()
        env = Envelope(seq=5, ts=now, src="execution", msg=placed, dst="kraken")
        assert (await adapter.reconcile(placed, idem_key="s-1", env=env)).outcome == "not_done"
        await adapter.execute(placed, idem_key="s-1", env=env)
        rec = await adapter.reconcile(placed, idem_key="s-1", env=env)
        assert rec.outcome == "done"
        [report] = rec.messages
        assert isinstance(report, KrakenOrderReport) and report.status == "open"
        other = SubmitOrder(**{**_fields(placed), "qty": D("0.02")})
        assert (await adapter.reconcile(other, idem_key="s-1", env=env)).outcome == "unknown"
        # A command journaled after the order opened: the order under that id is not its own.
        later = Envelope(seq=9, ts=time.time_ns() + 10**8, src="execution", msg=placed)
        rec = await adapter.reconcile(placed, idem_key="s-1", env=later)
        assert rec.outcome == "unknown" and "another run" in rec.detail
    finally:
        await adapter.stop()
    assert add_orders(private) == ["s-1"], "reconciliation sent nothing"


def _fields(msg: SubmitOrder) -> dict[str, Any]:
    return {f: getattr(msg, f) for f in msg.__struct_fields__}


async def test_missing_credentials_name_the_variables_and_never_the_secret(
    kraken_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXCHANGE_API_SECRET")
    with pytest.raises(ConfigError, match="needs env vars: EXCHANGE_API_SECRET"):
        await venue(kraken_url).client.open()


def test_long_client_ids_become_short_uuids_and_short_ones_stay() -> None:
    assert cl_ord_id("mm-17") == "mm-17"
    long = cl_ord_id("a-strategy-with-a-long-name-123456")
    assert len(long) == 32 and int(long, 16) >= 0
    assert long == cl_ord_id("a-strategy-with-a-long-name-123456")


async def test_the_fake_admin_routes_answer(kraken_url: str) -> None:
    async with httpx.AsyncClient() as http:
        bad = await http.post(f"{kraken_url}/_fake/price", json={"pair": "NOPE", "price": "1"})
        assert bad.status_code == 400
        acct = (await http.get(f"{kraken_url}/_fake/accounts/{KEY}")).json()
    assert acct["balances"]["USDT"] == "1000000"
