"""Match resting orders against market data: the simulated venue's deterministic engine.

Pure logic over exact `Decimal`s: given the book of our resting orders and one market event, say
which orders fill, how much and at what price. The venue actor around it (`venue.py`) turns
matches into `OrderFilled` messages with fees.

Rules, per order, in time priority (the order orders arrived in):

- **Eligibility.** An order can match once it is active (`active_ns`, its arrival plus the
  venue's latency). A bar matches orders active when it opened (`start_ns`); one that arrived
  mid-bar waits for the next bar, since a bar does not say what traded after the arrival.
- **Arrival.** The first event an order meets tells whether it was marketable when it arrived:
  a market order, or a limit through the market (a buy at or above a bar's open, a quote's ask,
  a trade's price), takes liquidity at that price (taker).
- **Resting.** Afterwards a buy limit at `p` fills at `p` (maker) when a bar's low reaches `p`
  (`touch`) or passes it (`through`), when a trade prints at or below `p`, or when the ask
  falls to `p`; sells mirror it. `poisson` replaces this with the Avellaneda-Stoikov draw.
- **Partial fills.** With `volume_share`, the event's volume times the share is a budget that
  the orders it matches draw from in time priority; what does not fill rests. What rests of a
  market order stays marketable: it takes at each later event (a bar's open, a print, the far
  touch) as taker until it has filled, so a volume cap delays a market order, never strands it.
"""

from __future__ import annotations

import math
import random
from decimal import ROUND_DOWN, Decimal
from typing import Literal, NamedTuple

import msgspec

from adapters.venues.simulated.config import SimulatedVenueConfig

ZERO = Decimal(0)


class RestingOrder(msgspec.Struct, kw_only=True):
    """One of our orders at the simulated venue; mutable, owned by the engine."""

    client_id: str
    strategy: str
    instrument: str
    side: Literal["buy", "sell"]
    price: Decimal | None
    leaves: Decimal
    active_ns: int
    venue_order_id: str
    tif: Literal["gtc", "ioc"] = "gtc"
    arrived: bool = False
    """Whether the order has met its first market event (so it rests, and fills as maker)."""
    filled: Decimal = ZERO
    """What the order has filled so far (the venue keeps it; matching reads only `leaves`)."""
    corr: str = ""
    """The corr the order was submitted under: its fills and its end are reported under it."""


class Match(NamedTuple):
    """A fill the engine decided: `qty` of `order` at `price`."""

    order: RestingOrder
    qty: Decimal
    price: Decimal
    liquidity: Literal["maker", "taker"]


class Book(msgspec.Struct, kw_only=True):
    """Our resting orders per instrument, in time priority (dicts keep insertion order)."""

    orders: dict[str, dict[str, RestingOrder]] = msgspec.field(default_factory=dict)

    def add(self, order: RestingOrder, /) -> None:
        """Rest `order` behind every order already resting on its instrument."""
        self.orders.setdefault(order.instrument, {})[order.client_id] = order

    def remove(self, instrument: str, client_id: str, /) -> RestingOrder | None:
        """Take an order off the book; None when it is not resting (filled, cancelled, unknown)."""
        book = self.orders.get(instrument)
        return None if book is None else book.pop(client_id, None)

    def find(self, client_id: str, /) -> RestingOrder | None:
        """Return the resting order with `client_id`, on any instrument."""
        for book in self.orders.values():
            order = book.get(client_id)
            if order is not None:
                return order
        return None


class Matcher:
    """Decide fills for one event at a time, by the venue's config; `rng` drives `poisson`."""

    def __init__(self, params: SimulatedVenueConfig, rng: random.Random) -> None:
        self.params = params
        self.rng = rng
        self.strict = params.fill_model == "through"
        self.poisson = params.fill_model == "poisson"
        self.share = params.volume_share
        self.lot = params.lot

    def _budget(self, volume: Decimal) -> Decimal | None:
        share = self.share
        return None if share is None else (volume * share).quantize(self.lot, ROUND_DOWN)

    def bar(
        self,
        book: dict[str, RestingOrder],
        /,
        *,
        start_ns: int,
        open_: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        volume: Decimal,
    ) -> list[Match]:
        """Match `book` against one bar that opened at `start_ns`."""
        out: list[Match] = []
        budget = None if self.share is None else self._budget(volume)
        strict = self.strict
        for order in book.values():
            if order.active_ns > start_ns:
                continue
            price = order.price
            buy = order.side == "buy"
            if not order.arrived:
                order.arrived = True
                if price is None or (open_ <= price if buy else open_ >= price):
                    budget = self._take(out, order, open_, "taker", budget)
                    continue
            if price is None:  # what a volume cap left of a market order takes at the open
                budget = self._take(out, order, open_, "taker", budget)
                continue
            if self.poisson:
                if self._draw(price, close):
                    budget = self._take(out, order, price, "maker", budget)
                continue
            if buy:
                hit = low < price if strict else low <= price
            else:
                hit = high > price if strict else high >= price
            if hit:
                budget = self._take(out, order, price, "maker", budget)
        return out

    def trade(
        self, book: dict[str, RestingOrder], /, *, ts: int, price: Decimal, size: Decimal
    ) -> list[Match]:
        """Match `book` against one public trade at `ts`."""
        out: list[Match] = []
        budget = self._budget(size)
        strict = self.strict
        for order in book.values():
            if order.active_ns > ts:
                continue
            limit = order.price
            buy = order.side == "buy"
            if not order.arrived:
                order.arrived = True
                if limit is None or (price <= limit if buy else price >= limit):
                    budget = self._take(out, order, price, "taker", budget)
                    continue
            if limit is None:  # the rest of a market order takes at the print
                budget = self._take(out, order, price, "taker", budget)
                continue
            if self.poisson:
                if self._draw(limit, price):
                    budget = self._take(out, order, limit, "maker", budget)
                continue
            if buy:
                hit = price < limit if strict else price <= limit
            else:
                hit = price > limit if strict else price >= limit
            if hit:
                budget = self._take(out, order, limit, "maker", budget)
        return out

    def quote(
        self,
        book: dict[str, RestingOrder],
        /,
        *,
        ts: int,
        bid: Decimal,
        bid_size: Decimal,
        ask: Decimal,
        ask_size: Decimal,
    ) -> list[Match]:
        """Match `book` against a new best bid and offer at `ts`."""
        out: list[Match] = []
        buy_budget = self._budget(ask_size)
        sell_budget = self._budget(bid_size)
        mid = (bid + ask) / 2
        for order in book.values():
            if order.active_ns > ts:
                continue
            limit = order.price
            buy = order.side == "buy"
            touch = ask if buy else bid
            if not order.arrived:
                order.arrived = True
                if limit is None or (touch <= limit if buy else touch >= limit):
                    if buy:
                        buy_budget = self._take(out, order, touch, "taker", buy_budget)
                    else:
                        sell_budget = self._take(out, order, touch, "taker", sell_budget)
                    continue
            if limit is None:  # the rest of a market order takes the touch
                if buy:
                    buy_budget = self._take(out, order, touch, "taker", buy_budget)
                else:
                    sell_budget = self._take(out, order, touch, "taker", sell_budget)
                continue
            if self.poisson:
                hit = self._draw(limit, mid)
            else:
                hit = touch <= limit if buy else touch >= limit
            if hit:
                if buy:
                    buy_budget = self._take(out, order, limit, "maker", buy_budget)
                else:
                    sell_budget = self._take(out, order, limit, "maker", sell_budget)
        return out

    def _draw(self, price: Decimal, mid: Decimal) -> bool:
        p = self.params.poisson
        delta = abs(float(price) - float(mid))
        return self.rng.random() < min(1.0, p.A * math.exp(-p.k * delta) * p.dt)

    @staticmethod
    def _take(
        out: list[Match],
        order: RestingOrder,
        price: Decimal,
        liquidity: Literal["maker", "taker"],
        budget: Decimal | None,
    ) -> Decimal | None:
        qty = order.leaves
        if budget is not None:
            qty = min(qty, budget)
            if qty <= ZERO:
                return budget
            budget -= qty
        out.append(Match(order, qty, price, liquidity))
        return budget
