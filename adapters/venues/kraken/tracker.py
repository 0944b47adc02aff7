"""Turn the Kraken adapter's reports into venue events, each exactly once, across crashes.

Reports repeat by design: a poll after a restart re-reads fills it reported before the crash,
a reconciliation re-reads an order. Deduping them in the adapter would need the adapter to
remember across a SIGKILL; an actor remembers for free: its state is snapshotted, rebuilt from
the journal at every start, and replayed identically. So this actor, deterministic like any
other, keeps every open order of its venue by `cl_ord_id` with the trade ids already counted,
and publishes the order contract's events (`agents.execution.messages`) with the order's `corr`:

- `open` of an unknown order -> `OrderAccepted` (a second `open` changes nothing);
- `rejected` -> `OrderRejected`; `cancel_rejected` of an open order -> `CancelRejected`;
- a fill with a new trade id -> `OrderFilled` (`leaves_qty` from the order's quantity); the last
  one ends the order;
- `canceled` / `expired` -> `OrderCanceled` / `OrderExpired`, but only once the fills Kraken
  counted (`filled`) are all in, so no fill ever follows the end of its order.

An order ends by leaving the state: a late duplicate of its last fill meets no order and is
ignored. The last `ENDED_MEMORY` ended ids are kept too, so a repeated `open` or `rejected` of
an order that already ended is a duplicate, not a second life; the state stays bounded. Reports
of orders it never saw opened (placed by hand, or by another run) are counted and ignored.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from adapters.venues.kraken.config import KrakenTrackerConfig
from adapters.venues.kraken.reports import KrakenFillReport, KrakenOrderReport
from agents.execution.messages import (
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from agents.risk.messages import Side
from runtime import Actor

ZERO = Decimal(0)
ENDED_MEMORY = 4096
"""How many ended `cl_ord_id`s the tracker remembers (a ring, oldest forgotten first)."""


class TrackedOrder(msgspec.Struct, kw_only=True):
    """One open order of the venue, as the tracker knows it (mutable, in its state)."""

    client_id: str
    strategy: str
    instrument: str
    side: Side
    qty: Decimal
    corr: str
    venue_order_id: str
    filled: Decimal = ZERO
    trades: list[str] = msgspec.field(default_factory=list)
    """Trade ids counted so far. Invariant: `filled` is the sum of their quantities."""
    ending: str = ""
    """`canceled` or `expired` once Kraken said so; published when `filled` reaches `ending_at`."""
    ending_at: Decimal = ZERO
    reason: str = ""


class TrackerState(msgspec.Struct, kw_only=True):
    """Open orders by `cl_ord_id`, and counters."""

    orders: dict[str, TrackedOrder] = msgspec.field(default_factory=dict)
    ended_ids: list[str] = msgspec.field(default_factory=list)
    """The last `ENDED_MEMORY` orders that ended or were refused, oldest first."""
    accepted: int = 0
    rejected: int = 0
    fills: int = 0
    ended: int = 0
    duplicates: int = 0
    """Reports that repeated one already counted (a fill, an `open`)."""
    ignored: int = 0
    """Reports about orders this tracker never saw opened."""


class KrakenTracker(Actor):
    """Publish each Kraken order event once, from the adapter's (repeating) reports."""

    Params = KrakenTrackerConfig

    def __init__(self, params: KrakenTrackerConfig | None = None) -> None:
        self.params = params or KrakenTrackerConfig()
        self.state = TrackerState()

    def on_start(self) -> None:
        self.ctx.subscribe(KrakenOrderReport)
        self.ctx.subscribe(KrakenFillReport)

    def on_order_report(self, msg: KrakenOrderReport) -> None:
        if msg.venue != self.params.venue:
            return
        st = self.state
        order = st.orders.get(msg.cl_ord_id)
        status = msg.status
        if order is None and status in ("open", "rejected") and msg.cl_ord_id in st.ended_ids:
            st.duplicates += 1
        elif status == "open":
            if order is not None:
                st.duplicates += 1
            elif msg.strategy:
                self._open(msg)
            else:
                st.ignored += 1
        elif status == "rejected":
            if order is not None or not msg.strategy:
                st.ignored += 1  # an order that rests is not refused after the fact
                return
            st.rejected += 1
            self._forget(msg.cl_ord_id)
            self.ctx.publish(
                OrderRejected(
                    client_id=msg.client_id,
                    strategy=msg.strategy,
                    venue=msg.venue,
                    instrument=msg.instrument,
                    code=msg.code,
                    detail=msg.detail,
                )
            )
        elif order is None:
            st.ignored += 1
        elif status == "cancel_rejected":
            self.ctx.publish(
                CancelRejected(
                    client_id=order.client_id,
                    strategy=order.strategy,
                    venue=msg.venue,
                    instrument=order.instrument,
                    code=msg.code,
                    detail=msg.detail,
                ),
                corr=order.corr,
            )
        elif status in ("canceled", "expired"):
            order.ending, order.ending_at, order.reason = status, msg.filled, msg.detail
            self._maybe_end(msg.cl_ord_id, order)
        # `closed` (filled in full): the last fill ends the order, whatever comes first.

    def on_fill_report(self, msg: KrakenFillReport) -> None:
        if msg.venue != self.params.venue:
            return
        st = self.state
        order = st.orders.get(msg.cl_ord_id)
        if order is None:
            st.ignored += 1
            return
        if msg.trade_id in order.trades:
            st.duplicates += 1
            return
        order.trades.append(msg.trade_id)
        order.filled += msg.qty
        st.fills += 1
        leaves = max(order.qty - order.filled, ZERO)
        self.ctx.publish(
            OrderFilled(
                client_id=order.client_id,
                strategy=order.strategy,
                venue=msg.venue,
                instrument=order.instrument,
                fill_id=msg.trade_id,
                side=order.side,
                qty=msg.qty,
                price=msg.price,
                fee=msg.fee,
                fee_asset=msg.fee_asset,
                liquidity=msg.liquidity,
                leaves_qty=leaves,
            ),
            corr=order.corr,
        )
        if leaves <= ZERO:
            self._forget(msg.cl_ord_id)
        else:
            self._maybe_end(msg.cl_ord_id, order)

    def _open(self, msg: KrakenOrderReport) -> None:
        env = self.ctx.current
        corr = env.corr if env is not None else ""
        self.state.orders[msg.cl_ord_id] = TrackedOrder(
            client_id=msg.client_id,
            strategy=msg.strategy,
            instrument=msg.instrument,
            side=msg.side,
            qty=msg.qty,
            corr=corr,
            venue_order_id=msg.venue_order_id,
        )
        self.state.accepted += 1
        self.ctx.publish(
            OrderAccepted(
                client_id=msg.client_id,
                strategy=msg.strategy,
                venue=msg.venue,
                instrument=msg.instrument,
                venue_order_id=msg.venue_order_id,
            ),
            corr=corr,
        )

    def _maybe_end(self, cl: str, order: TrackedOrder) -> None:
        """Publish the order's end once every fill Kraken counted is in."""
        if not order.ending or order.filled < order.ending_at:
            return
        leaves = max(order.qty - order.filled, ZERO)
        venue = self.params.venue
        end: OrderCanceled | OrderExpired
        if order.ending == "canceled":
            end = OrderCanceled(
                client_id=order.client_id,
                strategy=order.strategy,
                venue=venue,
                instrument=order.instrument,
                leaves_qty=leaves,
                reason=order.reason,
            )
        else:
            end = OrderExpired(
                client_id=order.client_id,
                strategy=order.strategy,
                venue=venue,
                instrument=order.instrument,
                leaves_qty=leaves,
            )
        self._forget(cl)
        self.ctx.publish(end, corr=order.corr)

    def _forget(self, cl: str) -> None:
        """End an order: out of the open orders, into the ring of ended ids."""
        st = self.state
        if st.orders.pop(cl, None) is not None:
            st.ended += 1
        st.ended_ids.append(cl)
        if len(st.ended_ids) > ENDED_MEMORY:
            del st.ended_ids[0]
