"""Run the simulated venue as a deterministic actor: orders in, venue events out.

It takes `SubmitOrder` and `CancelOrder` sent to its name (the `venue` of an order), keeps the
orders in a `Book`, and matches them against every bar, trade and quote it sees (`matching.py`),
publishing `OrderAccepted`, `OrderRejected`, `OrderFilled`, `OrderCanceled`, `CancelRejected` and
`OrderExpired`. It is an actor rather than an I/O adapter because nothing it does leaves the
process: a replay re-derives every fill from the same data and orders.

Idempotency, as a real venue keeps it: a second `SubmitOrder` with a client id the venue has seen
creates nothing; a cancel of an order that no longer rests is refused with a code.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

from adapters.venues.simulated.config import SimulatedVenueConfig
from adapters.venues.simulated.matching import Book, Match, Matcher, RestingOrder
from agents.data.messages import Bar, MarketData, Quote, Tick, Trade
from agents.execution.messages import (
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
)
from runtime import Actor

ZERO = Decimal(0)


class VenueState(msgspec.Struct, kw_only=True):
    """What the venue persists: the book, the client ids it has seen, its counters."""

    book: Book = msgspec.field(default_factory=Book)
    seen: set[str] = msgspec.field(default_factory=set)
    """Every client id ever submitted (idempotency: a resubmission makes no second order)."""
    next_order: int = 1
    next_fill: int = 1
    submitted: int = 0
    filled: int = 0
    canceled: int = 0
    rejected: int = 0
    duplicates: int = 0


class SimulatedVenue(Actor):
    """Match orders sent to this actor against market data; report what happens to them."""

    Params = SimulatedVenueConfig

    def __init__(self, params: SimulatedVenueConfig | None = None) -> None:
        self.params = params or SimulatedVenueConfig()
        self.state = VenueState()
        self._latency_ns = int(self.params.latency_ms * 1_000_000)
        self._quantum = self.params.fee_quantum
        self._maker = self.params.maker_fee
        self._taker = self.params.taker_fee

    def on_start(self) -> None:
        self._matcher = Matcher(self.params, self.ctx.rng)
        if not self.params.relay:
            self.ctx.subscribe(MarketData)

    def restore(self, data: bytes, /) -> None:
        super().restore(data)

    # -- orders ------------------------------------------------------------------------------

    def on_submit(self, msg: SubmitOrder) -> None:
        st = self.state
        if msg.client_id in st.seen:
            st.duplicates += 1
            self.ctx.log.warning("venue_duplicate_order", client_id=msg.client_id)
            return
        st.seen.add(msg.client_id)
        st.submitted += 1
        problem = _invalid(msg)
        if problem is not None:
            st.rejected += 1
            self.ctx.publish(
                OrderRejected(
                    client_id=msg.client_id,
                    strategy=msg.strategy,
                    venue=self.ctx.name,
                    instrument=msg.instrument,
                    code=problem[0],
                    detail=problem[1],
                )
            )
            return
        venue_order_id = f"{self.ctx.name}-{st.next_order}"
        st.next_order += 1
        st.book.add(
            RestingOrder(
                client_id=msg.client_id,
                strategy=msg.strategy,
                instrument=msg.instrument,
                side=msg.side,
                price=msg.price if msg.order_type == "limit" else None,
                leaves=msg.qty,
                active_ns=self.ctx.now + self._latency_ns,
                venue_order_id=venue_order_id,
                tif=msg.tif,
            )
        )
        self.ctx.publish(
            OrderAccepted(
                client_id=msg.client_id,
                strategy=msg.strategy,
                venue=self.ctx.name,
                instrument=msg.instrument,
                venue_order_id=venue_order_id,
            )
        )

    def on_cancel(self, msg: CancelOrder) -> None:
        order = self.state.book.remove(msg.instrument, msg.client_id)
        if order is None:
            self.ctx.publish(
                CancelRejected(
                    client_id=msg.client_id,
                    strategy=msg.strategy,
                    venue=self.ctx.name,
                    instrument=msg.instrument,
                    code="ORDER_NOT_OPEN",
                    detail=f"order `{msg.client_id}` is not resting (filled, cancelled or unknown)",
                )
            )
            return
        self.state.canceled += 1
        self.ctx.publish(
            OrderCanceled(
                client_id=order.client_id,
                strategy=order.strategy,
                venue=self.ctx.name,
                instrument=order.instrument,
                leaves_qty=order.leaves,
                reason="requested",
            )
        )

    # -- market data -------------------------------------------------------------------------

    def on_bar(self, msg: Bar) -> None:
        book = self.state.book.orders.get(msg.instrument)
        if book:
            m = self._matcher
            self._fill(
                m.bar(book, start_ns=msg.start_ns, open_=msg.open, high=msg.high, low=msg.low,
                      close=msg.close, volume=msg.volume),
                book,
            )  # fmt: skip
        self._relay(msg)

    def on_trade(self, msg: Trade) -> None:
        self._print(msg)

    def on_tick(self, msg: Tick) -> None:
        self._print(msg)

    def _print(self, msg: Trade | Tick) -> None:
        """Match a public trade (or a last-trade tick) at the kernel's time, then relay it."""
        book = self.state.book.orders.get(msg.instrument)
        if book:
            self._fill(
                self._matcher.trade(book, ts=self.ctx.now, price=msg.price, size=msg.size), book
            )
        self._relay(msg)

    def on_quote(self, msg: Quote) -> None:
        book = self.state.book.orders.get(msg.instrument)
        if book:
            m = self._matcher
            self._fill(
                m.quote(book, ts=self.ctx.now, bid=msg.bid, bid_size=msg.bid_size, ask=msg.ask,
                        ask_size=msg.ask_size),
                book,
            )  # fmt: skip
        self._relay(msg)

    def on_other_data(self, msg: MarketData) -> None:
        """Relay market data the venue does not match on (book deltas) unchanged."""
        self._relay(msg)

    def _relay(self, msg: MarketData) -> None:
        if self.params.relay:
            self.ctx.publish(msg)

    def _fill(self, matches: list[Match], book: dict[str, RestingOrder]) -> None:
        st = self.state
        ctx = self.ctx
        venue = ctx.name
        for order, qty, price, liquidity in matches:
            order.leaves -= qty
            rate = self._maker if liquidity == "maker" else self._taker
            fee = (qty * price * rate).quantize(self._quantum, ROUND_HALF_EVEN)
            fill_id = f"{venue}-f{st.next_fill}"
            st.next_fill += 1
            st.filled += 1
            if order.leaves <= ZERO:
                del book[order.client_id]
            ctx.publish(
                OrderFilled(
                    client_id=order.client_id,
                    strategy=order.strategy,
                    venue=venue,
                    instrument=order.instrument,
                    fill_id=fill_id,
                    side=order.side,
                    qty=qty,
                    price=price,
                    fee=fee,
                    fee_asset=_quote_asset(order.instrument),
                    liquidity=liquidity,
                    leaves_qty=order.leaves,
                )
            )
        # An IOC order that met the market and still has quantity left ends there.
        for order in [o for o in book.values() if o.tif == "ioc" and o.arrived]:
            del book[order.client_id]
            ctx.publish(
                OrderExpired(
                    client_id=order.client_id,
                    strategy=order.strategy,
                    venue=venue,
                    instrument=order.instrument,
                    leaves_qty=order.leaves,
                )
            )


def _quote_asset(instrument: str) -> str:
    _, _, quote = instrument.partition("/")
    return quote or instrument


def _invalid(msg: SubmitOrder) -> tuple[str, str] | None:
    """Return why the venue refuses `msg` (code, detail), or None."""
    if msg.qty <= ZERO:
        return "QTY_NOT_POSITIVE", f"`qty` must be > 0, got {msg.qty}"
    if msg.order_type == "limit":
        if msg.price is None:
            return "PRICE_MISSING", "`price` is required for a limit order"
        if msg.price <= ZERO:
            return "PRICE_NOT_POSITIVE", f"`price` must be > 0, got {msg.price}"
    return None
