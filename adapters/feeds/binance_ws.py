"""Read a recorded Binance spot websocket feed: `<local_recv_ns> <raw JSON>` per line.

The recording (hftbacktest's format) interleaves the combined streams `<sym>@bookTicker`,
`<sym>@trade` and `<sym>@depth@100ms`, plus one REST depth snapshot (a bare JSON object with
`lastUpdateId`). Every message is stamped at its **local receive time**, the first moment a
strategy on that machine could have acted on it; the venue's event time (`E`, `T`) is earlier and
would let a backtest react before the data arrived.

- `bookTicker` -> `Quote`; `trade` -> `Trade` (`m`, buyer is maker, means the seller was the
  aggressor: side `sell`).
- with `depth=True`: the snapshot -> one `BookDelta` per level (a consumer starting from an empty
  book then holds the snapshot), and each later diff -> one `BookDelta` per level, all at the
  diff's receive time. Diffs before the snapshot, or already contained in it
  (`u <= lastUpdateId`), cannot be applied and are skipped, as Binance's book-sync rules say.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Literal

import msgspec

from adapters.feeds.files import FeedBrokenError, open_binary
from agents.data.messages import BookDelta, MarketData, Quote, Trade

Level = tuple[Decimal, Decimal]


class _Line(msgspec.Struct):
    """A combined-stream message, or the REST depth snapshot (no `stream`)."""

    stream: str = ""
    data: msgspec.Raw = msgspec.Raw(b"")
    lastUpdateId: int = -1  # noqa: N815 - Binance's field name
    bids: list[Level] = []
    asks: list[Level] = []


class _BookTicker(msgspec.Struct):
    b: Decimal
    B: Decimal
    a: Decimal
    A: Decimal


class _Trade(msgspec.Struct):
    t: int
    p: Decimal
    q: Decimal
    m: bool


class _Depth(msgspec.Struct):
    u: int
    b: list[Level]
    a: list[Level]


_LINE = msgspec.json.Decoder(_Line)
_TICKER = msgspec.json.Decoder(_BookTicker)
_TRADE = msgspec.json.Decoder(_Trade)
_DEPTH = msgspec.json.Decoder(_Depth)


def read_binance_feed(
    paths: str | Path | Sequence[str | Path], /, *, instrument: str, depth: bool = False
) -> Iterator[tuple[int, MarketData]]:
    """Yield `(recv_ns, Quote | Trade | BookDelta)` per message, in receive order.

    `paths`: one recording, or consecutive files of one recording read as a single feed (the
    book's sync state carries over; receive times must not decrease across files either).
    """
    synced = -1  # lastUpdateId of the snapshot, once seen
    last = -1
    for path in [paths] if isinstance(paths, str | Path) else paths:
        with open_binary(path) as f:
            for n, raw in enumerate(f, 1):
                head, sep, body = raw.partition(b" ")
                try:
                    ts = int(head)
                    line = _LINE.decode(body)
                    stream = line.stream
                    if stream.endswith("@bookTicker"):
                        q = _TICKER.decode(line.data)
                        out: list[MarketData] = [
                            Quote(
                                instrument=instrument, bid=q.b, bid_size=q.B, ask=q.a, ask_size=q.A
                            )
                        ]
                    elif stream.endswith("@trade"):
                        t = _TRADE.decode(line.data)
                        side: Literal["buy", "sell"] = "sell" if t.m else "buy"
                        out = [
                            Trade(
                                instrument=instrument,
                                price=t.p,
                                size=t.q,
                                side=side,
                                trade_id=str(t.t),
                            )
                        ]
                    elif not depth:
                        continue
                    elif not stream:  # the REST snapshot
                        synced = line.lastUpdateId
                        out = _levels(instrument, line.bids, line.asks)
                    elif "@depth" in stream:
                        d = _DEPTH.decode(line.data)
                        if synced < 0 or d.u <= synced:
                            continue
                        out = _levels(instrument, d.b, d.a)
                    else:
                        continue
                except (ValueError, msgspec.DecodeError) as exc:
                    if not raw.strip():
                        continue
                    raise FeedBrokenError(f"{path}: line {n} does not parse: {exc}") from exc
                if not sep or ts < last:
                    raise FeedBrokenError(
                        f"{path}: line {n}: receive times must not decrease, got {ts} after {last}"
                    )
                last = ts
                for msg in out:
                    yield ts, msg


def _levels(instrument: str, bids: list[Level], asks: list[Level]) -> list[MarketData]:
    out: list[MarketData] = [
        BookDelta(instrument=instrument, side="bid", price=p, size=s) for p, s in bids
    ]
    out.extend(BookDelta(instrument=instrument, side="ask", price=p, size=s) for p, s in asks)
    return out
