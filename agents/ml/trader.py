"""Give strategies one way to trade: client ids, open orders and position from venue events.

A strategy actor derives from `Trader`, calls `buy`/`sell`/`cancel_all` from its handlers, and
reads `state.position`. Orders go to the risk gate as `OrderIntent`s (never straight to a venue);
cancels go to execution. The position is what the strategy's own fills say, so it is exact and
deterministic; the ledger keeps the books, this is the strategy's working view.

Client ids are `<strategy>-<n>`, `n` counting up in the strategy's state: deterministic, unique
per run, and the idempotency key the venue sees.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from agents.execution.messages import (
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    RequestCancel,
    VenueEvent,
)
from agents.risk.messages import OrderDenied, OrderIntent
from runtime import Actor, ConfigBase

ZERO = Decimal(0)


class TraderConfig(ConfigBase, frozen=True, kw_only=True):
    """Where a strategy's orders go: the venue, the risk gate, execution, and what it trades."""

    instrument: str = "BTC/USDT"
    venue: str = "sim"
    """The venue's actor (simulated) or adapter name: every order names it."""
    risk: str = "risk"
    """The risk gate's actor name: every intent is sent there first."""
    execution: str = "execution"
    """The execution actor's name: cancels are sent there."""


class TraderState(msgspec.Struct, kw_only=True):
    """A strategy's trading state: position, open client ids, counters."""

    position: Decimal = ZERO
    open: dict[str, str] = msgspec.field(default_factory=dict)
    next_id: int = 1
    orders: int = 0
    fills: int = 0
    denied: int = 0


class Trader(Actor):
    """Base of strategies: submit through risk, cancel through execution, track fills."""

    params: TraderConfig
    state: TraderState

    def on_start(self) -> None:
        ctx = self.ctx
        ctx.subscribe(VenueEvent, key=ctx.name)
        ctx.subscribe(OrderDenied)

    def submit(
        self, side: Literal["buy", "sell"], qty: Decimal, price: Decimal | None = None, /
    ) -> str:
        """Send an intent to the risk gate; return its client id."""
        st = self.state
        p = self.params
        client_id = f"{self.ctx.name}-{st.next_id}"
        st.next_id += 1
        st.orders += 1
        st.open[client_id] = side
        self.ctx.send(
            p.risk,
            OrderIntent(
                client_id=client_id,
                strategy=self.ctx.name,
                venue=p.venue,
                instrument=p.instrument,
                side=side,
                qty=qty,
                price=price,
            ),
        )
        return client_id

    def cancel_all(self) -> None:
        """Ask execution to cancel every order still open (their cancels may cross fills)."""
        send = self.ctx.send
        name = self.ctx.name
        target = self.params.execution
        for client_id in self.state.open:
            send(target, RequestCancel(client_id=client_id, strategy=name))

    def on_venue_event(self, msg: VenueEvent) -> None:
        st = self.state
        if isinstance(msg, OrderFilled):
            st.fills += 1
            st.position += msg.qty if msg.side == "buy" else -msg.qty
            if msg.leaves_qty <= ZERO:
                st.open.pop(msg.client_id, None)
            self.after_fill(msg)
        elif isinstance(msg, OrderCanceled | OrderRejected | OrderExpired):
            st.open.pop(msg.client_id, None)

    def on_denied(self, msg: OrderDenied) -> None:
        if msg.strategy == self.ctx.name and self.state.open.pop(msg.client_id, ""):
            self.state.denied += 1

    def after_fill(self, msg: OrderFilled) -> None:  # not `on_`: that would be a handler
        """React to one of this strategy's fills (after `position` counts it)."""
