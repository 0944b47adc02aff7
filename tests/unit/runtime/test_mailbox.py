"""Mailbox invariants: seq order, no order lost, latest market data wins, drops counted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runtime import Envelope
from runtime._mailbox import Mailbox
from tests.unit.runtime.toy import Order, Quote

ops = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.integers(0, 0)),
        st.tuples(st.just("quote"), st.sampled_from(["BTC", "ETH", "SOL"])),
        st.tuples(st.just("take"), st.integers(1, 5)),
    ),
    max_size=300,
)


@given(ops)
def test_mailbox_keeps_order_loses_no_order_and_conflates_per_key(
    script: list[tuple[str, object]],
) -> None:
    mb = Mailbox("a", capacity=8)
    seq = 0
    sent_orders: list[int] = []
    last_quote: dict[str, int] = {}
    delivered: list[Envelope] = []
    dropped: list[int] = []

    def take(n: int) -> None:
        for _ in range(n):
            item = mb.get_nowait()
            if item is None:
                return
            env, gone = item
            delivered.append(env)
            dropped.extend(gone or [])

    for op, arg in script:
        if op == "take":
            take(int(arg))  # type: ignore[call-overload]
            continue
        seq += 1
        if op == "order":
            mb.put(Envelope(seq, 0, "src", Order(n=seq)))
            sent_orders.append(seq)
        else:
            mb.put(Envelope(seq, 0, "src", Quote(instrument=str(arg), px=seq)))
            last_quote[str(arg)] = seq
    take(10_000)
    seqs = [e.seq for e in delivered]
    assert seqs == sorted(seqs), "delivery must follow seq order"
    assert [e.seq for e in delivered if isinstance(e.msg, Order)] == sent_orders
    quotes = {e.seq for e in delivered if isinstance(e.msg, Quote)}
    assert set(last_quote.values()) <= quotes, "the latest quote per key is always delivered"
    assert mb.dropped == len(dropped) == seq - len(sent_orders) - len(quotes)
    assert len(mb) == 0


def test_put_reports_full_at_capacity_and_conflation_does_not_grow_depth() -> None:
    mb = Mailbox("a", capacity=3)
    assert not mb.put(Envelope(1, 0, "s", Order(n=1)))
    assert not mb.put(Envelope(2, 0, "s", Order(n=2)))
    assert mb.put(Envelope(3, 0, "s", Order(n=3)))
    for i in range(4, 1000):
        mb.put(Envelope(i, 0, "s", Quote(instrument="BTC", px=i)))
    assert len(mb) == 4
    assert mb.stats()["dropped"] == 995
