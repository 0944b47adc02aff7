"""Run the simulated venue as a deterministic actor: orders in, venue events out.

It takes `SubmitOrder` and `CancelOrder` sent to its name (the `venue` of an order), keeps the
orders in a `Book`, and matches them against every bar, trade and quote it sees (`matching.py`),
publishing `OrderAccepted`, `OrderRejected`, `OrderFilled`, `OrderCanceled`, `CancelRejected` and
`OrderExpired`. It answers `QueryOrder` with an `OrderStatusReport` and `ReconcileRequest` with
a `VenueSnapshot` (open orders, and balances when configured). It is an actor rather than an I/O
adapter because nothing it does leaves the process: a replay re-derives every fill from the same
data and orders.

Idempotency, as a real venue keeps it: a second `SubmitOrder` with a client id the venue has seen
creates nothing (the venue answers with a status report of the order it holds); a cancel of an
order that no longer rests is refused with a code. The venue remembers how every order ended, so
a query about a finished order is answered as a real venue's order history answers it.

Every event about an order goes out under the order's corr (the `SubmitOrder`'s), also a fill
that a bar made or an acknowledgement held back, so Signal -> Order -> Fill -> Lot -> Trade
traces by one corr. Instruments are `BASE/QUOTE` (ccxt's `BASE/QUOTE:SETTLE` too): fees are in
the quote asset, and an order on a symbol that does not name both is rejected
(`UNKNOWN_INSTRUMENT`), never charged in an asset made up from the symbol.

For tests it misbehaves on request (`faults`): commands lost on the way, acknowledgements dropped,
late or doubled, queries unanswered; each decision is one draw of the venue's seeded rng.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

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
    OrderStatusReport,
    QueryOrder,
    ReconcileRequest,
    SubmitOrder,
    VenueOrder,
    VenueOrderStatus,
    VenueSnapshot,
)
from runtime import Actor, TimerFired

ZERO = Decimal(0)

Fault = Literal[
    "lose_submit", "drop_ack", "delay_ack", "duplicate_ack", "lose_cancel", "drop_cancel_ack",
    "lose_query",
]  # fmt: skip
Ack = OrderAccepted | OrderCanceled | CancelRejected


class Late(msgspec.Struct, array_like=True):
    """An acknowledgement the `delay_ack` fault holds back, and the corr it goes out under."""

    corr: str
    ack: Ack


class Ended(msgspec.Struct, array_like=True, gc=False):
    """How an order that no longer rests ended, for queries about it (a venue's order history)."""

    status: VenueOrderStatus
    filled: Decimal
    leaves: Decimal
    venue_order_id: str


class VenueState(msgspec.Struct, kw_only=True):
    """What the venue persists: the book, the client ids it has seen, its counters."""

    book: Book = msgspec.field(default_factory=Book)
    seen: set[str] = msgspec.field(default_factory=set)
    """Every client id ever submitted (idempotency: a resubmission makes no second order)."""
    ended: dict[str, Ended] = msgspec.field(default_factory=dict)
    """How each order that no longer rests ended, by client id (the latest `history`)."""
    ended_before: dict[str, Ended] = msgspec.field(default_factory=dict)
    """The generation before `ended` (so at least the last `history` ended orders are known)."""
    balances: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """The account per asset, when `balances` is configured."""
    late: dict[int, Late] = msgspec.field(default_factory=dict)
    """Acknowledgements held back by the `delay_ack` fault, by the timer that releases them."""
    next_order: int = 1
    next_fill: int = 1
    submitted: int = 0
    filled: int = 0
    canceled: int = 0
    rejected: int = 0
    duplicates: int = 0
    queries: int = 0
    lost: int = 0
    """Commands and answers the injected faults lost."""


class SimulatedVenue(Actor):
    """Match orders sent to this actor against market data; report what happens to them."""

    Params = SimulatedVenueConfig

    def __init__(self, params: SimulatedVenueConfig | None = None) -> None:
        self.params = params or SimulatedVenueConfig()
        self.state = VenueState(balances=dict(self.params.balances))
        self._accounts = bool(self.params.balances)
        self._faults = self.params.faults
        self._history = self.params.history
        self._latency_ns = int(self.params.latency_ms * 1_000_000)
        self._quantum = self.params.fee_quantum
        self._maker = self.params.maker_fee
        self._taker = self.params.taker_fee
        self._assets: dict[str, tuple[str, str] | None] = {}
        """Instrument -> (base, quote), None when the symbol does not name both (a cache)."""
        self._relay_on = self.params.relay
        self._ioc = False
        """Whether an IOC order may rest (one was submitted): only then does a match look for
        IOC orders to expire."""

    def on_start(self) -> None:
        self._matcher = Matcher(self.params, self.ctx.rng)
        if not self.params.relay:
            self.ctx.subscribe(MarketData)

    def restore(self, data: bytes, /) -> None:
        super().restore(data)
        # A restored venue (a restart, a recovery from a snapshot) gets no `on_start`: build the
        # matcher here too. `ctx.rng` is the same object; its state is reinstated in place.
        self._matcher = Matcher(self.params, self.ctx.rng)
        self._ioc = any(o.tif == "ioc" for b in self.state.book.orders.values() for o in b.values())

    # -- orders ------------------------------------------------------------------------------

    def on_submit(self, msg: SubmitOrder) -> None:
        st = self.state
        if self._faults is not None and self._fault("lose_submit"):
            st.lost += 1
            return
        if msg.client_id in st.seen:
            st.duplicates += 1
            self.ctx.log.warning("venue_duplicate_order", client_id=msg.client_id)
            self.ctx.publish(self._status(msg.client_id, msg.strategy, msg.instrument, ""))
            return
        st.seen.add(msg.client_id)
        st.submitted += 1
        problem = _invalid(msg)
        if problem is None and self._split(msg.instrument) is None:
            detail = f"`instrument` must be BASE/QUOTE, got {msg.instrument!r} (fees are in QUOTE)"
            problem = "UNKNOWN_INSTRUMENT", detail
        if problem is not None:
            st.rejected += 1
            self._end(msg.client_id, Ended("rejected", ZERO, ZERO, ""))
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
        ctx = self.ctx
        name = ctx.name
        venue_order_id = f"{name}-{st.next_order}"
        st.next_order += 1
        env = ctx.current
        if msg.tif == "ioc":
            self._ioc = True
        # `Book.add`, inlined: rest the order behind every order already resting on its instrument.
        orders = st.book.orders
        book = orders.get(msg.instrument)
        if book is None:
            book = orders[msg.instrument] = {}
        book[msg.client_id] = RestingOrder(
            client_id=msg.client_id,
            strategy=msg.strategy,
            instrument=msg.instrument,
            side=msg.side,
            price=msg.price if msg.order_type == "limit" else None,
            leaves=msg.qty,
            active_ns=(env.ts if env is not None else ctx.now) + self._latency_ns,
            venue_order_id=venue_order_id,
            tif=msg.tif,
            corr=env.corr if env is not None else "",
        )
        ack = OrderAccepted(
            client_id=msg.client_id,
            strategy=msg.strategy,
            venue=name,
            instrument=msg.instrument,
            venue_order_id=venue_order_id,
        )
        if self._faults is None:
            ctx.publish(ack)
        else:
            self._answer(ack, drop="drop_ack")

    def on_cancel(self, msg: CancelOrder) -> None:
        st = self.state
        if self._faults is not None and self._fault("lose_cancel"):
            st.lost += 1
            return
        book = st.book.orders.get(msg.instrument)  # `Book.remove`, inlined
        order = None if book is None else book.pop(msg.client_id, None)
        answer: Ack
        if order is None:
            answer = CancelRejected(
                client_id=msg.client_id,
                strategy=msg.strategy,
                venue=self.ctx.name,
                instrument=msg.instrument,
                code="ORDER_NOT_OPEN",
                detail=f"order `{msg.client_id}` is not resting (filled, cancelled or unknown)",
            )
        else:
            st.canceled += 1
            self._end(
                order.client_id,
                Ended("canceled", order.filled, order.leaves, order.venue_order_id),
            )
            answer = OrderCanceled(
                client_id=order.client_id,
                strategy=order.strategy,
                venue=self.ctx.name,
                instrument=order.instrument,
                leaves_qty=order.leaves,
                reason="requested",
            )
        if self._faults is None:
            self.ctx.publish(answer)
        else:
            self._answer(answer, drop="drop_cancel_ack")

    def _end(self, client_id: str, ended: Ended, /) -> None:
        """Remember how an order ended, in two generations of `history` orders each (O(1))."""
        st = self.state
        if len(st.ended) >= self._history:
            st.ended_before = st.ended
            st.ended = {}
        st.ended[client_id] = ended

    # -- queries -----------------------------------------------------------------------------

    def on_query(self, msg: QueryOrder) -> None:
        st = self.state
        if self._faults is not None and self._fault("lose_query"):
            st.lost += 1
            return
        st.queries += 1
        self.ctx.publish(self._status(msg.client_id, msg.strategy, msg.instrument, msg.idem_key))

    def _status(
        self, client_id: str, strategy: str, instrument: str, query: str, /
    ) -> OrderStatusReport:
        """Report what the venue knows of `client_id` now: resting, ended, or never seen."""
        st = self.state
        name = self.ctx.name
        order = st.book.find(client_id)
        if order is not None:
            return OrderStatusReport(
                client_id=client_id, strategy=strategy, venue=name, instrument=instrument,
                query=query, status="open", venue_order_id=order.venue_order_id,
                filled_qty=order.filled, leaves_qty=order.leaves,
            )  # fmt: skip
        ended = st.ended.get(client_id)
        if ended is None:
            ended = st.ended_before.get(client_id)
        if ended is not None:
            return OrderStatusReport(
                client_id=client_id, strategy=strategy, venue=name, instrument=instrument,
                query=query, status=ended.status, venue_order_id=ended.venue_order_id,
                filled_qty=ended.filled,
            )  # fmt: skip
        if client_id in st.seen:
            return OrderStatusReport(
                client_id=client_id, strategy=strategy, venue=name, instrument=instrument,
                query=query, status="unknown", detail="the order ended past the venue's history",
            )  # fmt: skip
        return OrderStatusReport(
            client_id=client_id, strategy=strategy, venue=name, instrument=instrument,
            query=query, status="not_found", detail=f"no order `{client_id}` at this venue",
        )  # fmt: skip

    def on_reconcile(self, msg: ReconcileRequest) -> None:
        orders = [
            VenueOrder(
                client_id=o.client_id,
                venue_order_id=o.venue_order_id,
                instrument=o.instrument,
                side=o.side,
                qty=o.filled + o.leaves,
                filled_qty=o.filled,
                price=o.price,
            )
            for book in self.state.book.orders.values()
            for o in book.values()
        ]
        self.ctx.publish(
            VenueSnapshot(
                venue=self.ctx.name,
                request_id=msg.request_id,
                open_orders=orders,
                balances=dict(sorted(self.state.balances.items())),
            )
        )

    # -- faults ------------------------------------------------------------------------------

    def _fault(self, kind: Fault, /) -> bool:
        """Decide whether the fault `kind` strikes this message (one seeded draw when enabled)."""
        faults = self._faults
        p = getattr(faults, kind) if faults is not None else 0.0
        return p > 0 and self.ctx.rng.random() < p

    def _answer(self, msg: Ack, /, *, drop: Fault) -> None:
        """Send an acknowledgement through the faults: dropped, held back, doubled, or as is."""
        st = self.state
        if self._fault(drop):
            st.lost += 1
            return
        if self._fault("delay_ack"):
            assert self._faults is not None
            delay = round(self._faults.ack_delay_ms * 1_000_000)
            timer = self.ctx.schedule(delay, key="late_ack")
            env = self.ctx.current
            st.late[timer] = Late(env.corr if env is not None else "", msg)
            return
        self.ctx.publish(msg)
        if isinstance(msg, OrderAccepted) and self._fault("duplicate_ack"):
            self.ctx.publish(msg)

    def on_timer(self, msg: TimerFired) -> None:
        late = self.state.late.pop(msg.timer_id, None)
        if late is not None:
            self.ctx.publish(late.ack, corr=late.corr)

    # -- market data -------------------------------------------------------------------------

    def on_bar(self, msg: Bar) -> None:
        book = self.state.book.orders.get(msg.instrument)
        if book:
            m = self._matcher
            matches = m.bar(book, start_ns=msg.start_ns, open_=msg.open, high=msg.high,
                            low=msg.low, close=msg.close, volume=msg.volume)  # fmt: skip
            if matches or self._ioc:
                self._fill(matches, book)
        if self._relay_on:  # `_relay`, inlined
            self.ctx.publish(msg)

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
        if self._relay_on:
            self.ctx.publish(msg)

    def _fill(self, matches: list[Match], book: dict[str, RestingOrder]) -> None:
        st = self.state
        ctx = self.ctx
        venue = ctx.name
        for order, qty, price, liquidity in matches:
            order.leaves -= qty
            order.filled += qty
            rate = self._maker if liquidity == "maker" else self._taker
            fee = (qty * price * rate).quantize(self._quantum, ROUND_HALF_EVEN)
            fill_id = f"{venue}-f{st.next_fill}"
            st.next_fill += 1
            st.filled += 1
            if order.leaves <= ZERO:
                del book[order.client_id]
                self._end(
                    order.client_id, Ended("filled", order.filled, ZERO, order.venue_order_id)
                )
            # Invariant: a resting order's instrument names its pair (checked at submission).
            base, quote = self._split(order.instrument) or ("", "")
            if self._accounts:
                self._settle(order.side, base, quote, qty, price, fee)
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
                    fee_asset=quote,
                    liquidity=liquidity,
                    leaves_qty=order.leaves,
                ),
                corr=order.corr,
            )
        # An IOC order that met the market and still has quantity left ends there.
        if not self._ioc:
            return
        for order in [o for o in book.values() if o.tif == "ioc" and o.arrived]:
            del book[order.client_id]
            self._end(
                order.client_id,
                Ended("expired", order.filled, order.leaves, order.venue_order_id),
            )
            ctx.publish(
                OrderExpired(
                    client_id=order.client_id,
                    strategy=order.strategy,
                    venue=venue,
                    instrument=order.instrument,
                    leaves_qty=order.leaves,
                ),
                corr=order.corr,
            )

    def _split(self, instrument: str, /) -> tuple[str, str] | None:
        """Return the base and quote assets of `instrument` (cached), None if it names no pair."""
        try:
            return self._assets[instrument]
        except KeyError:
            assets = self._assets[instrument] = split_instrument(instrument)
            return assets

    def _settle(
        self, side: str, base: str, quote: str, qty: Decimal, price: Decimal, fee: Decimal, /
    ) -> None:
        """Move one fill through the account: base against quote, the fee in the quote asset."""
        bal = self.state.balances
        value = qty * price
        sign = 1 if side == "buy" else -1
        bal[base] = bal.get(base, ZERO) + sign * qty
        bal[quote] = bal.get(quote, ZERO) - sign * value - fee


def split_instrument(instrument: str, /) -> tuple[str, str] | None:
    """Return (base, quote) of `BASE/QUOTE` or ccxt's `BASE/QUOTE:SETTLE`; None otherwise."""
    base, sep, rest = instrument.partition("/")
    quote = rest.partition(":")[0]
    if not sep or not base or not quote or "/" in rest:
        return None
    return base, quote


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
