"""Timeouts and retries: every silence is answered by a query, and only the venue's own
`not_found` ever leads to a resubmission, under the same client id, boundedly."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from agents.execution.messages import (
    CancelOrder,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    OrderStatusReport,
    QueryOrder,
    SubmitOrder,
)
from agents.execution.orders import Order
from agents.execution.timeouts import TimeoutConfig, backoff_ns, judge
from tests.unit.agents.execution.rig import MS, Rig, logs

D = Decimal
T = TimeoutConfig(ack_timeout_ms=1_000, cancel_timeout_ms=1_000, query_timeout_ms=500,
                  backoff_ms=200, max_backoff_ms=5_000, max_resubmits=2, max_cancel_retries=1,
                  max_queries=3)  # fmt: skip


def _order(status: str = "SUBMITTED", **kw: object) -> Order:
    o = Order(client_id="c", strategy="s", venue="v", instrument="X", side="buy", qty=D(2),
              price=D(1), attempts=1, **kw)  # type: ignore[arg-type]  # fmt: skip
    o.status = status  # type: ignore[assignment]
    return o


def _report(status: str, filled: str = "0", **kw: object) -> OrderStatusReport:
    return OrderStatusReport(client_id="c", strategy="s", venue="v", instrument="X",
                             status=status, filled_qty=D(filled), **kw)  # type: ignore[arg-type]  # fmt: skip


# -- the pure rules ---------------------------------------------------------------------------


def test_backoff_grows_by_the_factor_and_stops_at_the_cap() -> None:
    assert [backoff_ns(T, n) // MS for n in range(7)] == [200, 400, 800, 1600, 3200, 5000, 5000]
    assert backoff_ns(T, 1, base_ms=500) == 1_000 * MS
    assert backoff_ns(T, 10_000) == 5_000 * MS  # no overflow however long it waits


def test_max_backoff_below_the_base_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="`max_backoff_ms` must be >= `backoff_ms`"):
        TimeoutConfig(backoff_ms=1_000, max_backoff_ms=10)


@pytest.mark.parametrize(
    ("status", "report", "filled", "attempts", "action", "event"),
    [
        ("SUBMITTED", "not_found", "0", 1, "resubmit", None),
        ("SUBMITTED", "not_found", "0", 3, "give_up", "reject"),  # 2 resubmits already
        ("CANCEL_PENDING", "not_found", "0", 1, "adopt", "cancel"),
        ("ACCEPTED", "not_found", "0", 1, "adopt", "cancel"),
        ("SUBMITTED", "open", "0", 1, "adopt", "accept"),
        ("ACCEPTED", "open", "0", 1, "ignore", None),
        ("SUBMITTED", "unknown", "0", 1, "requery", None),
        ("CANCEL_PENDING", "canceled", "0", 1, "adopt", "cancel"),
        ("CANCEL_PENDING", "filled", "2", 1, "requery", None),  # fills not seen yet: wait
        ("SUBMITTED", "rejected", "0", 1, "adopt", "reject"),
        ("ACCEPTED", "rejected", "0", 1, "adopt", "cancel"),
        ("ACCEPTED", "expired", "0", 1, "adopt", "expire"),
    ],
)
def test_judge_says_what_a_report_means_for_the_order(
    status: str, report: str, filled: str, attempts: int, action: str, event: str | None
) -> None:
    order = _order(status)
    order.attempts = attempts
    verdict = judge(order, _report(report, filled), T)
    assert (verdict.action, verdict.event) == (action, event)


def test_judge_retries_a_cancel_a_bounded_number_of_times() -> None:
    order = _order("CANCEL_PENDING", cancels=1)
    assert judge(order, _report("open"), T).action == "recancel"
    order.cancels = 2  # max_cancel_retries = 1: the first cancel and one retry were sent
    verdict = judge(order, _report("open"), T)
    assert (verdict.action, verdict.event) == ("cancel_gave_up", "cancel_reject")


def test_judge_never_resubmits_an_order_a_reconciliation_closes_out() -> None:
    order = _order("SUBMITTED", resubmit=False)
    assert judge(order, _report("not_found"), T).action == "give_up"


def test_a_filled_report_is_adopted_once_every_fill_was_seen() -> None:
    order = _order("PARTIALLY_FILLED", filled=D(2))
    verdict = judge(order, _report("filled", "2"), T)
    assert (verdict.action, verdict.event) == ("adopt", "fill")


# -- the paths, in the sim kernel -------------------------------------------------------------


def test_a_dropped_ack_is_settled_by_a_query_and_never_resubmitted() -> None:
    with logs() as got:
        rig = Rig(timeouts=T)
        rig.venue.script.append("drop_ack")
        cid = rig.submit(1)
        assert rig.order(cid).status == "SUBMITTED"  # type: ignore[union-attr]
        assert rig.events(OrderAccepted) == []
        rig.advance(999)
        assert rig.sent(QueryOrder) == []  # not before the timeout
        rig.advance(1)
    queries = rig.sent(QueryOrder, cid)
    assert [q.idem_key for q in queries] == ["query:s-1:1"]
    order = rig.order(cid)
    assert order is not None and order.status == "ACCEPTED" and order.venue_order_id == "sim-1"
    assert order.waiting == ""
    assert len(rig.sent(SubmitOrder, cid)) == 1 and rig.venue.placed[cid] == 1
    assert rig.ex.state.timeouts == 1
    assert any(e["event"] == "order_timeout" and e["client_id"] == cid for e in got)
    rig.advance(60_000)  # nothing more happens: the order rests, no timer is left
    assert len(rig.sent(QueryOrder)) == 1 and rig.ex.state.watch == {}


def test_a_late_ack_after_the_query_changes_nothing() -> None:
    rig = Rig(timeouts=T)
    rig.venue.script.append("delay_ack")  # held 10 s, the timeout is 1 s
    cid = rig.submit(1)
    rig.advance(1_000)
    assert rig.order(cid).status == "ACCEPTED"  # type: ignore[union-attr]
    rig.advance(10_000)
    assert len(rig.events(OrderAccepted, cid)) == 1  # the late one arrived, harmlessly
    assert rig.order(cid).status == "ACCEPTED"  # type: ignore[union-attr]
    assert rig.ex.state.illegal == 0 and len(rig.sent(SubmitOrder)) == 1


def test_a_duplicated_ack_is_harmless() -> None:
    rig = Rig(timeouts=T)
    rig.venue.script.append("duplicate_ack")
    cid = rig.submit(1)
    assert len(rig.events(OrderAccepted, cid)) == 2
    assert rig.order(cid).status == "ACCEPTED"  # type: ignore[union-attr]
    assert rig.ex.state.illegal == 0 and rig.ex.state.watch == {}


def test_a_lost_submission_is_resubmitted_with_the_same_client_id_after_not_found() -> None:
    with logs() as got:
        rig = Rig(timeouts=T)
        rig.venue.script.append("lose_submit")
        cid = rig.submit(1)
        rig.advance(1_000)  # ack timeout: query; the venue answers not_found at once
        reports = rig.events(OrderStatusReport, cid)
        assert [r.status for r in reports] == ["not_found"]
        assert len(rig.sent(SubmitOrder, cid)) == 1  # the backoff runs first
        rig.advance(199)
        assert len(rig.sent(SubmitOrder, cid)) == 1
        rig.advance(1)
    subs = rig.sent(SubmitOrder, cid)
    assert [(s.client_id, s.attempt, s.idem_key) for s in subs] == [
        ("s-1", 0, "s-1"),
        ("s-1", 1, "s-1:resubmit:1"),
    ]
    assert rig.order(cid).status == "ACCEPTED"  # type: ignore[union-attr]
    assert rig.venue.placed[cid] == 1 and rig.venue.state.duplicates == 0
    assert rig.ex.state.resubmits == 1
    assert any(e["event"] == "order_resubmitted" for e in got)


def test_resubmissions_are_bounded_then_the_order_is_rejected_with_a_reason() -> None:
    with logs() as got:
        rig = Rig(timeouts=T)
        rig.venue.script.extend(["lose_submit"] * 3)  # the first and both resubmissions
        cid = rig.submit(1)
        rig.advance(60_000)
    assert len(rig.sent(SubmitOrder, cid)) == 3  # 1 + max_resubmits
    assert rig.order(cid) is None
    rejected = rig.events(OrderRejected, cid)
    assert [r.code for r in rejected] == ["EXEC_SUBMIT_UNCONFIRMED"]
    assert "after 3 submissions" in rejected[0].detail
    assert rig.venue.placed[cid] == 0 and rig.ex.state.gave_up == 1
    gave_up = [e for e in got if e["event"] == "order_submit_gave_up"]
    assert gave_up and gave_up[0]["code"] == "EXEC_SUBMIT_UNCONFIRMED"
    # The pauses between attempts grow: backoff 200 ms + the timeout, then 400 ms + the timeout.
    times = [ts for ts, m in rig.tape.got if isinstance(m, OrderStatusReport)]
    assert [b - a for a, b in itertools.pairwise(times)] == [1_200 * MS, 1_400 * MS]


def test_unanswered_queries_back_off_and_flag_the_order_unresolved() -> None:
    with logs() as got:
        rig = Rig(timeouts=T)
        rig.venue.script.extend(["drop_ack"] + ["lose_query"] * 5)
        cid = rig.submit(1)
        rig.advance(1_000 + 500 + 1_000 + 2_000 + 4_000 - 1)
        assert len(rig.sent(QueryOrder, cid)) == 4
        order = rig.order(cid)
        assert order is not None and order.unresolved and order.status == "SUBMITTED"
        assert rig.ex.state.unresolved == 1
        assert [e["event"] for e in got].count("order_unresolved") == 1
        rig.advance(1 + 5_000 + 5_000)  # capped at max_backoff_ms; the 6th query is answered
    order = rig.order(cid)
    assert order is not None and order.status == "ACCEPTED"
    assert len(rig.sent(SubmitOrder, cid)) == 1  # silence never leads to a resubmission


def test_a_venue_that_cannot_be_asked_is_asked_again_not_trusted() -> None:
    rig = Rig(timeouts=T)
    rig.venue.script.extend(["drop_ack", "lose_query"])
    cid = rig.submit(1)
    rig.advance(1_000)
    # An adapter whose request failed says `unknown`: execution asks again, later.
    rig.k.emit_input("sim", OrderStatusReport(client_id=cid, strategy="s", venue="sim",
                                              instrument="BTC/USDT", query="query:s-1:1",
                                              status="unknown", detail="timeout"))  # fmt: skip
    rig.settle()
    assert rig.order(cid).status == "SUBMITTED"  # type: ignore[union-attr]
    assert len(rig.sent(QueryOrder, cid)) == 1  # not at once: after a backoff
    rig.advance(999)
    assert len(rig.sent(QueryOrder, cid)) == 1
    rig.advance(1)
    assert len(rig.sent(QueryOrder, cid)) == 2
    assert rig.order(cid).status == "ACCEPTED"  # type: ignore[union-attr]
    assert len(rig.sent(SubmitOrder, cid)) == 1


def test_a_dropped_cancel_confirmation_is_settled_by_a_query() -> None:
    rig = Rig(timeouts=T)
    cid = rig.submit(1)
    rig.venue.script.append("drop_cancel_ack")
    rig.cancel(cid)
    assert rig.order(cid).status == "CANCEL_PENDING"  # type: ignore[union-attr]
    assert rig.events(OrderCanceled, cid) == []
    rig.advance(1_000)
    assert rig.order(cid) is None and rig.ex.state.canceled == 1
    # Execution announces the end the venue's dropped event would have: the gate and the
    # strategy release the order.
    canceled = rig.events(OrderCanceled, cid)
    assert [(c.leaves_qty, c.venue) for c in canceled] == [(D(1), "sim")]


def test_a_lost_cancel_is_sent_again_when_the_venue_still_holds_the_order() -> None:
    rig = Rig(timeouts=T)
    cid = rig.submit(1)
    rig.venue.script.append("lose_cancel")
    rig.cancel(cid)
    rig.advance(1_000)
    cancels = rig.sent(CancelOrder, cid)
    assert [(c.attempt, c.idem_key) for c in cancels] == [(0, "cancel:s-1"), (1, "cancel:s-1:1")]
    assert cancels[1].venue_order_id == "sim-1"
    assert rig.order(cid) is None and len(rig.events(OrderCanceled, cid)) == 1


def test_a_cancel_the_venue_never_confirms_gives_up_and_leaves_the_order_open() -> None:
    with logs() as got:
        rig = Rig(timeouts=T)
        cid = rig.submit(1)
        rig.venue.script.extend(["lose_cancel"] * 2)
        rig.cancel(cid)
        rig.advance(10_000)
    order = rig.order(cid)
    assert order is not None and order.status == "ACCEPTED" and order.waiting == ""
    assert len(rig.sent(CancelOrder, cid)) == 2
    assert any(e["event"] == "order_cancel_gave_up" for e in got)
    rig.cancel(cid)  # an operator (or the kill switch) may try again
    assert rig.order(cid) is None


def test_a_cancel_rejected_for_an_order_the_venue_never_got_closes_it() -> None:
    rig = Rig(timeouts=T)
    rig.venue.script.append("lose_submit")
    cid = rig.submit(1)
    rig.cancel(cid)  # before the ack timeout: the venue refuses the cancel, execution asks
    assert rig.order(cid) is None
    assert [c.reason for c in rig.events(OrderCanceled, cid)] == [
        "the venue has no order with this client id"
    ]
    rig.advance(60_000)
    assert len(rig.sent(SubmitOrder, cid)) == 1  # a cancelled order is never resubmitted


def test_a_cancel_during_the_backoff_ends_the_order_without_resubmitting() -> None:
    rig = Rig(timeouts=T)
    rig.venue.script.append("lose_submit")
    cid = rig.submit(1)
    rig.advance(1_000)
    assert rig.order(cid).waiting == "resubmit"  # type: ignore[union-attr]
    rig.cancel(cid)
    rig.advance(60_000)
    assert rig.order(cid) is None and len(rig.sent(SubmitOrder, cid)) == 1
    assert len(rig.events(OrderCanceled, cid)) == 1


def test_fills_the_venue_reports_but_execution_has_not_seen_are_waited_for() -> None:
    rig = Rig(timeouts=T)
    cid = rig.submit(1)
    rig.venue.script.extend(["lose_cancel", "lose_query"])
    rig.cancel(cid)
    rig.advance(1_000)  # the cancel timed out; the query about it is lost
    # The answer (from a real venue, whose fill event is still in flight) says filled.
    rig.k.emit_input("sim", OrderStatusReport(client_id=cid, strategy="s", venue="sim",
                                              instrument="BTC/USDT", query="query:s-1:1",
                                              status="filled", filled_qty=D(1)))  # fmt: skip
    rig.settle()
    order = rig.order(cid)
    assert order is not None and order.status == "CANCEL_PENDING"  # no fill is invented
    assert order.waiting == "query" and rig.ex.state.filled == 0


def test_with_timeouts_off_no_timer_is_armed() -> None:
    rig = Rig(timeouts=TimeoutConfig(enabled=False))
    rig.venue.script.append("drop_ack")
    cid = rig.submit(1)
    rig.advance(3_600_000)
    assert rig.order(cid).status == "SUBMITTED"  # type: ignore[union-attr]
    assert rig.sent(QueryOrder) == [] and rig.k.cells["execution"].ctx.state.timers == {}


def test_one_watchdog_timer_serves_a_burst_of_orders() -> None:
    rig = Rig(timeouts=T)
    rig.venue.script.extend(["drop_ack"] * 3)
    cids = [rig.submit(n) for n in range(1, 6)]
    assert len(rig.k.cells["execution"].ctx.state.timers) == 1
    assert list(rig.ex.state.watch) == cids[:3]  # the acknowledged ones wait for nothing
    rig.advance(1_000)
    assert [rig.order(c).status for c in cids] == ["ACCEPTED"] * 5  # type: ignore[union-attr]
    assert rig.k.cells["execution"].ctx.state.timers == {}
