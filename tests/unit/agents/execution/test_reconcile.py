"""Reconciliation at start: our open orders and the books' balances against what a venue says,
as a pure comparison, then in the sim kernel (at start, on request, after a recovery)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.venues.simulated import SimulatedVenueConfig
from agents.execution.messages import (
    BalanceMismatch,
    Balances,
    OrderCanceled,
    OrderMismatch,
    OrderRejected,
    QueryOrder,
    ReconcileRequest,
    ReconciliationReport,
    SubmitOrder,
    VenueOrder,
)
from agents.execution.orders import Order
from agents.execution.reconcile import compare_balances, compare_orders
from agents.execution.timeouts import TimeoutConfig
from runtime import MemoryStore, RunInfo
from runtime._app import ListSink
from runtime._recovery import recover
from tests.unit.agents.execution.rig import Rig, logs

D = Decimal


def ours(
    cid: str, qty: str = "1", filled: str = "0", vid: str = "", status: str = "ACCEPTED"
) -> Order:
    o = Order(client_id=cid, strategy="s", venue="v", instrument="BTC/USDT", side="buy",
              qty=D(qty), price=D(99), filled=D(filled), venue_order_id=vid)  # fmt: skip
    o.status = status  # type: ignore[assignment]
    return o


def theirs(cid: str, qty: str = "1", filled: str = "0", vid: str = "x") -> VenueOrder:
    return VenueOrder(client_id=cid, venue_order_id=vid, instrument="BTC/USDT", side="buy",
                      qty=D(qty), filled_qty=D(filled), price=D(99))  # fmt: skip


# -- the pure comparison ----------------------------------------------------------------------


def test_orders_match_by_client_id_or_venue_id_and_the_rest_is_listed_sorted() -> None:
    got = compare_orders(
        [ours("b"), ours("a", vid="v-a"), ours("c"), ours("held", status="NEW")],
        [theirs("zz", vid="v-z"), theirs("", vid="v-a"), theirs("b"), theirs("", vid="v-q")],
    )
    assert got.matched == ["a", "b"]
    assert got.missing_at_venue == ["c"]  # a replacement still in NEW was never sent: not missing
    assert [(v.client_id, v.venue_order_id) for v in got.unknown_at_venue] == [
        ("", "v-q"),
        ("zz", "v-z"),
    ]
    assert got.mismatches == []


def test_an_order_both_sides_know_but_see_differently_is_a_mismatch() -> None:
    got = compare_orders([ours("a", qty="2", filled="0.5")], [theirs("a", qty="2", filled="0.75")])
    assert got.matched == ["a"]
    assert got.mismatches == [
        OrderMismatch(client_id="a", field="filled_qty", ours="0.5", venue="0.75")
    ]


def test_balances_differ_exactly_and_an_absent_asset_is_zero() -> None:
    got = compare_balances(
        {"USDT": D("1000.00000001"), "BTC": D("0.5"), "ETH": D(0)},
        {"USDT": D("1000"), "BTC": D("0.5"), "SOL": D("2")},
    )
    assert got == [
        BalanceMismatch(asset="SOL", ledger=D(0), venue=D(2), difference=D(2)),
        BalanceMismatch(
            asset="USDT", ledger=D("1000.00000001"), venue=D(1000), difference=D("-0.00000001")
        ),
    ]


AMOUNTS = st.dictionaries(
    st.sampled_from(["BTC", "ETH", "USDT", "EUR"]),
    st.decimals(min_value=-(10**6), max_value=10**6, places=8, allow_nan=False),
)


@settings(max_examples=200, deadline=None)
@given(ledger=AMOUNTS, venue=AMOUNTS)
def test_balance_differences_add_the_ledger_up_to_the_venue(
    ledger: dict[str, Decimal], venue: dict[str, Decimal]
) -> None:
    diffs = {m.asset: m for m in compare_balances(ledger, venue)}
    for asset in ledger.keys() | venue.keys():
        book, held = ledger.get(asset, D(0)), venue.get(asset, D(0))
        if book == held:
            assert asset not in diffs
        else:
            assert diffs[asset].ledger + diffs[asset].difference == held


# -- in the sim kernel ------------------------------------------------------------------------

VENUE = SimulatedVenueConfig(relay=True, balances={"USDT": D(10_000), "BTC": D(1)})


def reports(rig: Rig) -> list[ReconciliationReport]:
    return [m for _, m in rig.tape.got if isinstance(m, ReconciliationReport)]


def test_at_start_execution_asks_the_venue_and_reports_a_clean_match() -> None:
    with logs() as got:
        rig = Rig(venue=VENUE, reconcile_venues=["sim"],
                  expected_balances={"sim": {"USDT": D(10_000), "BTC": D(1)}})  # fmt: skip
        rig.settle()
    (report,) = reports(rig)
    assert report.ok and report.answered and report.complete
    assert report.balances_checked and report.balance_source == "config"
    assert report.balance_mismatches == [] and report.matched == []
    assert any(e["event"] == "reconciliation_report" and e["ok"] for e in got)


def test_a_reconciliation_finds_what_diverged_and_closes_out_what_the_venue_lacks() -> None:
    rig = Rig(venue=VENUE, timeouts=TimeoutConfig(enabled=False), cancel_unknown=True)
    resting = rig.submit(1, "buy", "0.1", "90")
    rig.venue.script.append("lose_submit")
    lost = rig.submit(2, "buy", "0.1", "91")  # timeouts off: it stays SUBMITTED
    # An order placed at the venue by hand, outside Kinetic.
    rig.k.emit_input("manual", SubmitOrder(client_id="hand-1", strategy="manual", venue="sim",
                                           instrument="BTC/USDT", side="sell", qty=D("0.2"),
                                           price=D(120)), dst="sim")  # fmt: skip
    rig.settle()
    sell = rig.submit(3, "sell", "0.5", "101")
    rig.bar(low="100", high="102")  # the sell fills: the venue's account moves
    assert rig.order(sell) is None
    # The ledger's view lags one fee behind (a posting it never got, say).
    rig.k.emit_input("ledger", Balances(venue="sim", balances={"USDT": D("10050.5"),
                                                                 "BTC": D("0.5")}))  # fmt: skip
    rig.k.emit_input("operator:test", ReconcileRequest(venue="sim", request_id=""),
                     dst="execution")  # fmt: skip
    rig.settle()
    (report,) = reports(rig)
    assert report.matched == [resting]
    assert report.missing_at_venue == [lost]
    assert [(v.client_id, v.side, v.qty) for v in report.unknown_at_venue] == [
        ("hand-1", "sell", D("0.2"))
    ]
    assert report.canceled_unknown == ["sim-2"]
    assert report.balance_source == "ledger"
    fee = D("0.5") * D(101) * D("0.001")
    assert report.balance_mismatches == [
        BalanceMismatch(
            asset="USDT", ledger=D("10050.5"), venue=D("10050.5") - fee, difference=-fee
        ),
    ]
    assert not report.ok
    # The order the venue lacks was asked about, then closed out, never sent again.
    assert [q.client_id for q in rig.sent(QueryOrder)] == [lost]
    assert rig.order(lost) is None
    assert [(r.client_id, r.code) for r in rig.events(OrderRejected)] == [
        (lost, "EXEC_NOT_AT_VENUE")
    ]
    assert len(rig.sent(SubmitOrder, lost)) == 1
    # The unknown order was cancelled, as configured.
    assert [c.client_id for c in rig.events(OrderCanceled)] == ["hand-1"]


def test_a_venue_that_does_not_answer_gives_an_unanswered_report() -> None:
    with logs() as got:
        rig = Rig(reconcile_venues=["nowhere"], reconcile_timeout_ms=1_000)
        rig.advance(1_000)
    (report,) = reports(rig)
    assert (report.venue, report.answered, report.ok) == ("nowhere", False, False)
    assert any(e["event"] == "reconciliation_unanswered" for e in got)


def test_an_answer_to_someone_elses_question_is_ignored() -> None:
    rig = Rig(venue=VENUE)
    rig.k.emit_input("other", ReconcileRequest(venue="sim", request_id="other:1"), dst="sim")
    rig.settle()
    assert reports(rig) == [] and rig.ex.state.reconciliations == 0


@pytest.mark.anyio
async def test_after_a_recovery_the_restored_orders_are_reconciled() -> None:
    store = MemoryStore()
    await store.create_run(
        RunInfo(run_id="r", kernel="live", mode="paper", level="full", seed=0, config="{}")
    )
    sink = ListSink()
    rig = Rig(venue=VENUE, sink=sink, run_id="r")
    cid = rig.submit(1, "buy", "0.1", "90")
    rig.k.flush()
    await store.append("r", sink.rows)
    # A new process: fresh actors, state from the journal; then the daemon asks to reconcile.
    rig2 = Rig(venue=VENUE, start_ns=rig.k.now_ns(), sink=ListSink(), run_id="r")
    await recover(rig2.k, store, "r")
    assert list(rig2.ex.state.open) == [cid]
    rig2.k.emit_input("operator:daemon", ReconcileRequest(venue="sim", request_id=""),
                      dst="execution")  # fmt: skip
    rig2.settle()
    (report,) = reports(rig2)
    assert report.matched == [cid] and report.missing_at_venue == [] and report.ok


@pytest.mark.anyio
async def test_a_restart_reconciles_the_restored_orders_when_the_kernel_says_resumed() -> None:
    from adapters.venues.simulated.venue import Ended
    from runtime import Resumed

    store = MemoryStore()
    await store.create_run(
        RunInfo(run_id="r", kernel="live", mode="paper", level="full", seed=0, config="{}")
    )
    sink = ListSink()
    rig = Rig(venue=VENUE, sink=sink, run_id="r", reconcile_venues=["sim"])
    rig.settle()
    first = rig.submit(1, "buy", "0.1", "90")
    gone = rig.submit(2, "buy", "0.1", "91")
    rig.k.flush()
    await store.append("r", sink.rows)
    assert len(reports(rig)) == 1  # the run's first start
    # The process dies. A new one restores every actor from the journal, then (the daemon's
    # gap) the venue cancels the second order on its own: execution does not know.
    rig2 = Rig(venue=VENUE, start_ns=rig.k.now_ns(), sink=ListSink(), run_id="r",
               reconcile_venues=["sim"])  # fmt: skip
    await recover(rig2.k, store, "r")
    redelivered = len(rig2.tape.got)
    assert sorted(rig2.ex.state.open) == [first, gone]
    lost = rig2.venue.state.book.remove("BTC/USDT", gone)
    assert lost is not None
    rig2.venue._end(gone, Ended("canceled", D(0), lost.leaves, lost.venue_order_id))
    rig2.settle()
    assert len(rig2.tape.got) == redelivered  # a resumed run does not run `on_start` again
    rig2.k.emit_input("kernel", Resumed(last_seq=rig.k.seq))  # what `kinetic run` injects
    rig2.settle()
    (report,) = [m for _, m in rig2.tape.got[redelivered:] if isinstance(m, ReconciliationReport)]
    assert report.matched == [first] and report.missing_at_venue == [gone]
    # The missing order was asked about and closed out by the venue's answer, never resent.
    assert [q.client_id for q in rig2.sent(QueryOrder)] == [gone]
    assert [c.client_id for c in rig2.events(OrderCanceled)] == [gone]
    assert rig2.order(gone) is None and sorted(rig2.ex.state.open) == [first]
    assert [m.attempt for m in rig2.sent(SubmitOrder, gone)] == [0]  # the redelivered original


def test_a_resumed_run_reconciles_again_with_every_configured_venue() -> None:
    from runtime import Resumed

    rig = Rig(venue=VENUE, reconcile_venues=["sim"],
              expected_balances={"sim": {"USDT": D(10_000), "BTC": D(1)}})  # fmt: skip
    rig.settle()
    assert len(reports(rig)) == 1  # at the run's first start
    rig.k.emit_input("kernel", Resumed(last_seq=rig.k.seq))  # what the daemon sends on resume
    rig.settle()
    assert len(reports(rig)) == 2 and all(r.ok for r in reports(rig))
