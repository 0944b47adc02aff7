"""What a busy consumer may lose: ticks and quotes conflate, trades and book deltas never."""

from __future__ import annotations

from decimal import Decimal

from agents.data.messages import BookDelta, Quote, Tick, Trade
from runtime import Envelope
from runtime._mailbox import Mailbox


def _drain(mb: Mailbox) -> list[int]:
    seqs = []
    while (item := mb.get_nowait()) is not None:
        seqs.append(item[0].seq)
    return seqs


def test_a_busy_consumer_gets_every_trade_but_only_the_latest_tick_and_quote() -> None:
    mb = Mailbox("estimator", capacity=1_000)
    px = Decimal("100.00")
    one = Decimal("0.001")
    seq = 0
    for i in range(50):
        seq += 1
        mb.put(Envelope(seq, i, "feed", Trade(instrument="BTC/USDT", price=px, size=one)))
        seq += 1
        mb.put(Envelope(seq, i, "feed", Tick(instrument="BTC/USDT", price=px, size=one)))
        seq += 1
        mb.put(
            Envelope(
                seq, i, "feed",
                Quote(instrument="BTC/USDT", bid=px, bid_size=one, ask=px, ask_size=one),
            )
        )  # fmt: skip
    seqs = _drain(mb)
    assert sum(1 for s in seqs if s % 3 == 1) == 50  # every trade (seq 1, 4, 7, ...)
    assert sum(1 for s in seqs if s % 3 == 2) == 1  # one tick, the latest
    assert sum(1 for s in seqs if s % 3 == 0) == 1  # one quote, the latest
    assert mb.stats()["dropped"] == 98


def test_book_deltas_never_conflate() -> None:
    mb = Mailbox("book", capacity=100)
    for i in range(1, 21):
        delta = BookDelta(instrument="BTC/USDT", side="bid", price=Decimal(i), size=Decimal(1))
        mb.put(Envelope(i, i, "feed", delta))
    assert _drain(mb) == list(range(1, 21))
