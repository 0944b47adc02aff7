"""The simulated venue as a counterparty: status queries, duplicate client ids, open orders and
balances for reconciliation, and the faults a test asks for (seeded, so reproducible)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from adapters.venues.simulated import SimulatedVenue, SimulatedVenueConfig
from adapters.venues.simulated.config import VenueFaultsConfig
from agents.data.messages import Bar
from agents.execution.messages import (
    CancelOrder,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    QueryOrder,
    ReconcileRequest,
    SubmitOrder,
    VenueEvent,
    VenueSnapshot,
)
from runtime import Actor, ActorSpec, Message, SimKernel

D = Decimal
MIN = 60 * 10**9


class Tape(Actor):
    def __init__(self) -> None:
        self.got: list[tuple[int, Message]] = []
        self.corr: dict[int, str] = {}
        """id() of a message -> the corr it arrived under."""

    def on_start(self) -> None:
        self.ctx.subscribe(VenueEvent)
        self.ctx.subscribe(VenueSnapshot)

    def on_any(self, msg: Message) -> None:
        env = self.ctx.current
        self.got.append((self.ctx.now, msg))
        self.corr[id(msg)] = env.corr if env is not None else ""


def venue(seed: int = 0, **params: Any) -> tuple[SimKernel, SimulatedVenue, Tape]:
    k = SimKernel(start_ns=0, seed=seed)
    v = SimulatedVenue(SimulatedVenueConfig(relay=True, **params))
    tape = Tape()
    k.add_actor(ActorSpec("sim", lambda: v))
    k.add_actor(ActorSpec("tape", lambda: tape))
    return k, v, tape


def submit(
    k: SimKernel, cid: str, side: str = "buy", qty: str = "1", price: str = "99", *,
    instrument: str = "BTC/USDT", corr: str = "", tif: str = "gtc",
) -> None:  # fmt: skip
    k.emit_input("execution", SubmitOrder(client_id=cid, strategy="s", venue="sim",
                                          instrument=instrument, side=side, qty=D(qty),  # type: ignore[arg-type]
                                          price=D(price), tif=tif), dst="sim", corr=corr)  # type: ignore[arg-type]  # fmt: skip


def query(k: SimKernel, cid: str, n: int = 1) -> None:
    k.emit_input("execution", QueryOrder(client_id=cid, strategy="s", venue="sim",
                                         instrument="BTC/USDT", query_no=n), dst="sim")  # fmt: skip


def bar(
    k: SimKernel, i: int, low: str, high: str, volume: str = "100", *,
    instrument: str = "BTC/USDT", corr: str = "",
) -> None:  # fmt: skip
    k.emit_input("feed", Bar(instrument=instrument, start_ns=i * MIN, end_ns=(i + 1) * MIN,
                             open=D(100), high=D(high), low=D(low), close=D(100),
                             volume=D(volume), trades=0), dst="sim", corr=corr)  # fmt: skip


def reports(tape: Tape) -> list[OrderStatusReport]:
    return [m for _, m in tape.got if isinstance(m, OrderStatusReport)]


def test_a_query_reports_a_resting_order_with_what_it_filled() -> None:
    k, _, tape = venue(volume_share=D("0.1"))
    submit(k, "c1", qty="2")
    bar(k, 1, "98", "100", volume="5")  # 0.5 fills
    query(k, "c1", 3)
    k.run()
    (r,) = reports(tape)
    assert (r.query, r.status, r.venue_order_id) == ("query:c1:3", "open", "sim-1")
    assert (r.filled_qty, r.leaves_qty) == (D("0.5"), D("1.5"))


@pytest.mark.parametrize(
    ("steps", "status", "filled"),
    [("fill", "filled", "1"), ("cancel", "canceled", "0"), ("invalid", "rejected", "0"),
     ("never", "not_found", "0")],
)  # fmt: skip
def test_a_query_reports_how_an_order_ended_or_that_it_never_arrived(
    steps: str, status: str, filled: str
) -> None:
    k, _, tape = venue()
    if steps == "invalid":
        submit(k, "c1", qty="-1")
    elif steps != "never":
        submit(k, "c1")
    if steps == "fill":
        bar(k, 1, "98", "100")
    if steps == "cancel":
        k.emit_input("execution", CancelOrder(client_id="c1", strategy="s", venue="sim",
                                              instrument="BTC/USDT"), dst="sim")  # fmt: skip
    query(k, "c1")
    k.run()
    (r,) = reports(tape)
    assert (r.status, r.filled_qty) == (status, D(filled))


def test_the_venue_forgets_ended_orders_past_its_history_and_says_unknown() -> None:
    k, v, tape = venue(history=2)
    for n in range(6):
        submit(k, f"c{n}")
        k.emit_input("execution", CancelOrder(client_id=f"c{n}", strategy="s", venue="sim",
                                              instrument="BTC/USDT"), dst="sim")  # fmt: skip
    for n in range(6):
        query(k, f"c{n}")
    k.run()
    got = [r.status for r in reports(tape)]
    assert got == ["unknown"] * 2 + ["canceled"] * 4  # at least the last `history` are known
    assert len(v.state.ended) + len(v.state.ended_before) <= 4


def test_a_duplicate_client_id_creates_nothing_and_is_answered_with_the_order_held() -> None:
    k, v, tape = venue()
    submit(k, "c1", price="99")
    submit(k, "c1", price="98")
    k.run()
    assert sum(isinstance(m, OrderAccepted) for _, m in tape.got) == 1
    (r,) = reports(tape)
    assert (r.query, r.status, r.venue_order_id) == ("", "open", "sim-1")
    assert v.state.duplicates == 1 and v.state.book.find("c1").price == D(99)  # type: ignore[union-attr]


def test_a_snapshot_lists_open_orders_and_the_account_after_fills_and_fees() -> None:
    k, _, tape = venue(balances={"USDT": D(1000), "BTC": D(0)}, maker_fee=D("0.002"))
    submit(k, "buy", "buy", "2", "99")
    submit(k, "sell", "sell", "1", "120")
    bar(k, 1, "98", "100")  # the buy fills at 99 (maker)
    k.emit_input("execution", ReconcileRequest(venue="sim", request_id="q1"), dst="sim")
    k.run()
    (snap,) = [m for _, m in tape.got if isinstance(m, VenueSnapshot)]
    assert snap.request_id == "q1" and snap.complete
    assert [(o.client_id, o.side, o.qty, o.filled_qty) for o in snap.open_orders] == [
        ("sell", "sell", D(1), D(0))
    ]
    fee = D(2) * D(99) * D("0.002")
    assert snap.balances == {"BTC": D(2), "USDT": D(1000) - D(198) - fee}


def test_faults_are_drawn_from_the_seed_and_strike_as_often_as_asked() -> None:
    def run(seed: int) -> tuple[int, int, int]:
        k, v, tape = venue(seed=seed, faults=VenueFaultsConfig(drop_ack=0.3, lose_submit=0.2))
        for n in range(400):
            submit(k, f"c{n}")
        k.run()
        accepted = sum(isinstance(m, OrderAccepted) for _, m in tape.got)
        return v.state.submitted, accepted, v.state.lost

    a = run(1)
    assert a == run(1)  # the same seed misbehaves the same way
    assert a != run(2)
    arrived, accepted, lost = a
    assert accepted + lost == 400  # each submit arrived and was acknowledged, or was lost
    assert 280 < arrived < 360  # ~20% never arrived
    assert 60 < arrived - accepted < 130  # ~30% of the rest had their ack dropped


def test_a_delayed_ack_arrives_late_and_a_doubled_one_twice() -> None:
    k, _, tape = venue(faults=VenueFaultsConfig(delay_ack=1.0, ack_delay_ms=250))
    submit(k, "c1")
    k.run()
    assert [t for t, m in tape.got if isinstance(m, OrderAccepted)] == [250_000_000]
    k, _, tape = venue(faults=VenueFaultsConfig(duplicate_ack=1.0))
    submit(k, "c1")
    k.run()
    assert sum(isinstance(m, OrderAccepted) for _, m in tape.got) == 2


def test_fault_probabilities_outside_zero_one_are_refused_naming_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.drop_ack"):
        msgspec.convert({"drop_ack": 1.5}, VenueFaultsConfig)


def test_an_orders_fills_expiry_and_late_ack_come_under_the_orders_corr() -> None:
    k, _, tape = venue(volume_share=D("0.25"),
                       faults=VenueFaultsConfig(delay_ack=1.0, ack_delay_ms=5))  # fmt: skip
    submit(k, "rest", qty="2", corr="sig-a")
    submit(k, "ioc", qty="5", price="101", corr="sig-b", tif="ioc")
    bar(k, 1, "98", "100", volume="4", corr="bar-1")  # both take the bar's 1 of volume
    bar(k, 2, "98", "100", volume="4", corr="bar-2")
    k.run()
    got = [(type(m).__name__, getattr(m, "client_id", ""), tape.corr[id(m)]) for _, m in tape.got]
    assert got == [
        ("OrderFilled", "rest", "sig-a"),  # a bar filled it: still the order's corr
        ("OrderExpired", "ioc", "sig-b"),  # the IOC met the market, nothing left for it
        ("OrderFilled", "rest", "sig-a"),
        ("OrderAccepted", "rest", "sig-a"),  # held back by the fault, released by a timer
        ("OrderAccepted", "ioc", "sig-b"),
    ]


def test_fees_are_in_the_quote_asset_and_a_symbol_without_one_is_rejected() -> None:
    k, v, tape = venue(balances={"USD": D(1000)})
    submit(k, "perp", instrument="BTC-PERP")
    submit(k, "ccxt", instrument="BTC/USD:USD")
    bar(k, 1, "98", "100", instrument="BTC/USD:USD")
    k.run()
    (rejected,) = [m for _, m in tape.got if isinstance(m, OrderRejected)]
    assert (rejected.client_id, rejected.code) == ("perp", "UNKNOWN_INSTRUMENT")
    assert rejected.detail.startswith("`instrument` must be BASE/QUOTE, got 'BTC-PERP'")
    (fill,) = [m for _, m in tape.got if isinstance(m, OrderFilled)]
    assert (fill.client_id, fill.fee_asset, fill.fee) == ("ccxt", "USD", D("0.099"))
    assert v.state.balances == {"BTC": D(1), "USD": D(1000) - D(99) - D("0.099")}
    assert v.state.book.find("perp") is None
    query(k, "perp")
    k.run()
    assert reports(tape)[-1].status == "rejected"


def test_a_venue_restored_from_its_snapshot_matches_and_fills_its_resting_orders() -> None:
    """A restart or a recovery restores the venue without `on_start`: it must still match."""
    k, v, _ = venue()
    submit(k, "c1", qty="1", price="99")
    bar(k, 1, "99.5", "100")  # does not reach 99: the order rests
    k.run()
    saved = v.snapshot()

    k2 = SimKernel(start_ns=2 * MIN, seed=0)
    fresh = SimulatedVenue(SimulatedVenueConfig(relay=True))
    tape = Tape()
    k2.add_actor(ActorSpec("sim", lambda: fresh))
    k2.add_actor(ActorSpec("tape", lambda: tape))
    fresh.ctx = k2.cells["sim"].ctx
    fresh.restore(saved)
    k2.cells["tape"].actor.ctx.subscribe(VenueEvent)
    k2.started = True  # as after a recovery: no `on_start` for the restored venue
    bar(k2, 2, "98", "100")
    k2.run()
    fills = [m for _, m in tape.got if isinstance(m, OrderFilled)]
    assert [(f.client_id, f.qty, f.price) for f in fills] == [("c1", D("1"), D("99"))]
