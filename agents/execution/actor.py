"""Wire execution: approved intents become venue commands; venue events move the order states.

Execution is the one place that knows where an order rests and what state it is in. It turns an
`OrderApproved` into a write-ahead `SubmitOrder` for the intent's venue (the client id, chosen
deterministically by the strategy, is the idempotency key), a strategy's `RequestCancel` into a
`CancelOrder`, and the risk gate's `CancelOpenOrders` into a cancel for every open order in the
halted scope. Venue events drive each order through `orders.TRANSITIONS`; an event the table
refuses is logged and counted, never applied.

Only open orders stay in the state (a long backtest places hundreds of thousands); finished ones
live on in the journal, where the read models find them.
"""

from __future__ import annotations

import msgspec

from agents.execution.messages import (
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    RequestCancel,
    SubmitOrder,
    VenueEvent,
)
from agents.execution.orders import IllegalTransitionError, Order, OrderEvent
from agents.risk.messages import CancelOpenOrders, OrderApproved
from runtime import Actor, ConfigBase


class ExecutionConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of kind `execution` (none needed yet: venues are named by each order)."""


class ExecutionState(msgspec.Struct, kw_only=True):
    """Open orders by client id, and counters of what happened to the others."""

    open: dict[str, Order] = msgspec.field(default_factory=dict)
    submitted: int = 0
    filled: int = 0
    canceled: int = 0
    rejected: int = 0
    expired: int = 0
    duplicates: int = 0
    illegal: int = 0


class Execution(Actor):
    """Own the order lifecycle between the risk gate and the venues."""

    Params = ExecutionConfig

    def __init__(self, params: ExecutionConfig | None = None) -> None:
        self.params = params or ExecutionConfig()
        self.state = ExecutionState()

    def on_start(self) -> None:
        ctx = self.ctx
        ctx.subscribe(OrderApproved)
        ctx.subscribe(CancelOpenOrders)
        ctx.subscribe(VenueEvent)

    def on_approved(self, msg: OrderApproved) -> None:
        intent = msg.intent
        st = self.state
        if intent.client_id in st.open:
            st.duplicates += 1
            self.ctx.log.warning("order_duplicate_client_id", client_id=intent.client_id)
            return
        env = self.ctx.current
        order = Order(
            client_id=intent.client_id,
            strategy=intent.strategy,
            venue=intent.venue,
            instrument=intent.instrument,
            side=intent.side,
            qty=intent.qty,
            price=intent.price,
            corr=env.corr if env is not None else "",
            submitted_ns=self.ctx.now,
        )
        order.apply("submit")
        st.open[order.client_id] = order
        st.submitted += 1
        self.ctx.send(
            intent.venue,
            SubmitOrder(
                client_id=intent.client_id,
                strategy=intent.strategy,
                venue=intent.venue,
                instrument=intent.instrument,
                side=intent.side,
                qty=intent.qty,
                price=intent.price,
                order_type="limit" if intent.price is not None else "market",
            ),
        )

    def on_request_cancel(self, msg: RequestCancel) -> None:
        order = self.state.open.get(msg.client_id)
        if order is None or order.status == "CANCEL_PENDING":
            return  # finished already (its last event is on its way) or already asked
        self._cancel(order)

    def on_cancel_open(self, msg: CancelOpenOrders) -> None:
        for order in list(self.state.open.values()):
            if order.status != "CANCEL_PENDING" and _in_scope(order, msg):
                self._cancel(order)

    def _cancel(self, order: Order) -> None:
        if not self._move(order, "cancel_request"):
            return
        self.ctx.send(
            order.venue,
            CancelOrder(
                client_id=order.client_id,
                strategy=order.strategy,
                venue=order.venue,
                instrument=order.instrument,
            ),
            corr=order.corr,
        )

    # -- venue events ------------------------------------------------------------------------

    def on_venue_event(self, msg: VenueEvent) -> None:
        order = self.state.open.get(msg.client_id)
        if order is None:
            return  # not ours (another execution), or already finished
        st = self.state
        if isinstance(msg, OrderFilled):
            order.filled += msg.qty
            order.notional += msg.qty * msg.price
            order.fees += msg.fee
            done = msg.leaves_qty <= 0
            self._move(order, "fill" if done else "fill_part")
            if done:
                st.filled += 1
        elif isinstance(msg, OrderAccepted):
            order.venue_order_id = msg.venue_order_id
            self._move(order, "accept")
        elif isinstance(msg, OrderCanceled):
            if self._move(order, "cancel"):
                st.canceled += 1
        elif isinstance(msg, CancelRejected):
            self._move(order, "cancel_reject")
        elif isinstance(msg, OrderRejected):
            if self._move(order, "reject"):
                st.rejected += 1
        elif isinstance(msg, OrderExpired) and self._move(order, "expire"):
            st.expired += 1
        if not order.open:
            del st.open[order.client_id]

    def _move(self, order: Order, event: OrderEvent) -> bool:
        try:
            order.apply(event)
        except IllegalTransitionError as exc:
            self.state.illegal += 1
            self.ctx.log.warning(
                "order_transition_refused", client_id=order.client_id, error=str(exc)
            )
            return False
        return True


def _in_scope(order: Order, msg: CancelOpenOrders) -> bool:
    scope, target = msg.scope, msg.target
    if scope == "global" or target == "*":
        return True
    if scope == "venue":
        return order.venue == target
    if scope == "instrument":
        return order.instrument == target
    if scope == "strategy":
        return order.strategy == target
    return False
