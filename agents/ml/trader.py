"""Give strategies one way to trade: client ids, open orders and position from venue events.

A strategy actor derives from `Trader`, calls `submit`/`replace`/`cancel_all` from its
handlers, and reads `state.position`. Orders go to the risk gate as `OrderIntent`s (never straight
to a venue); cancels and replaces go to execution. The position is what the strategy's own fills
say, so it is exact and deterministic; the ledger keeps the books, this is the strategy's working
view.

Client ids are `<strategy>-<n>`, `n` counting up in the strategy's state: deterministic, unique
per run, and the idempotency key the venue sees. Each order has a corr (Signal -> Order -> Fill
-> Lot -> Trade): the one given, else that of the message being handled (a signal's), else the
order's own client id, so every fill and ledger posting of an order traces back to it. An order
placed while handling another order's event (a fill) does not take that order's corr: it gets
its own client id, so one corr never chains a strategy's orders together.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

import msgspec

from agents.execution.messages import (
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    RequestCancel,
    RequestReplace,
    VenueEvent,
)
from agents.risk.messages import OrderDenied, OrderIntent
from runtime import Actor, ConfigBase, TradingState, TradingStateChanged

ZERO = Decimal(0)
_ENDS = (OrderCanceled, OrderRejected, OrderExpired)
_OTHER, _FILL, _END = 0, 1, 2
_KINDS: dict[type, int] = {}
"""What `on_venue_event` does with a venue event type (`_kind`), per concrete type: an
`isinstance` against a message class costs about 80 ns, a dict lookup by type a fraction."""
_IS_EVENT: dict[type, bool] = {}
"""Whether a message type is a `VenueEvent`, per concrete type (for `_corr`)."""


def _kind(mtype: type, /) -> int:
    kind = _FILL if issubclass(mtype, OrderFilled) else _END if issubclass(mtype, _ENDS) else _OTHER
    _KINDS[mtype] = kind
    return kind


def _is_event(mtype: type, /) -> bool:
    event = _IS_EVENT[mtype] = issubclass(mtype, VenueEvent)
    return event


SEVERITY: dict[str, int] = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}


def note_trading_state(
    states: dict[str, TradingState],
    msg: TradingStateChanged,
    /,
    *,
    venue: str,
    instrument: str,
    me: str,
) -> None:
    """Keep in `states` (by scope key) the non-ACTIVE trading states that bind strategy `me`,
    trading `instrument` on `venue`: global ones, and those whose target is its venue, its
    instrument, its strategy name or (scope `actor`) its actor name."""
    mine = {"venue": venue, "instrument": instrument, "strategy": me}
    if msg.scope == "global":
        key = "global"
    elif mine.get(msg.scope, me) == msg.target:
        key = f"{msg.scope}:{msg.target}"
    else:
        return
    if msg.state == "ACTIVE":
        states.pop(key, None)
    else:
        states[key] = msg.state


def in_force(states: Mapping[str, str], /) -> int:
    """Return the severest state in `states`: 0 ACTIVE, 1 REDUCING, 2 HALTED."""
    return max((SEVERITY[s] for s in states.values()), default=0)


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
        self,
        side: Literal["buy", "sell"],
        qty: Decimal,
        price: Decimal | None = None,
        /,
        *,
        reduce_only: bool = False,
        corr: str | None = None,
    ) -> str:
        """Send an intent to the risk gate (`price` None: a market order); return its client id.

        `reduce_only`: the order only shrinks the position, so it may pass while its scope is
        REDUCING (the gate checks it does, on spot: a sell of at most the free position).
        `corr`: the order's correlation id (default: see the module docstring).
        """
        st = self.state
        p = self.params
        ctx = self.ctx
        client_id = f"{ctx.name}-{st.next_id}"
        st.next_id += 1
        st.orders += 1
        st.open[client_id] = side
        ctx.send(
            p.risk,
            OrderIntent(
                client_id=client_id,
                strategy=ctx.name,
                venue=p.venue,
                instrument=p.instrument,
                side=side,
                qty=qty,
                price=price,
                reduce_only=reduce_only,
            ),
            corr=corr or self._corr(client_id),
        )
        return client_id

    def replace(
        self, client_id: str, qty: Decimal, price: Decimal | None, /, *, reason: str = ""
    ) -> str:
        """Ask execution to replace an open order (cancel, then new); return the new client id.

        The new order keeps the old one's side and corr and goes through the risk gate (its
        modify throttle included). What the old order fills from now on is taken off `qty`. If
        the gate or execution refuses, the old order stays as it was and the new id is dropped
        (`OrderDenied` / `OrderRejected`). Raises `KeyError` for an order that is not open.
        """
        st = self.state
        side = st.open[client_id]
        new_id = f"{self.ctx.name}-{st.next_id}"
        st.next_id += 1
        st.orders += 1
        st.open[new_id] = side
        self.ctx.send(
            self.params.execution,
            RequestReplace(
                client_id=client_id,
                new_client_id=new_id,
                strategy=self.ctx.name,
                qty=qty,
                price=price,
                reason=reason,
            ),
        )
        return new_id

    def _corr(self, client_id: str, /) -> str:
        """Return the corr of a new order: the handled message's, unless that is empty or an
        order's event (whose corr is its order's), else `client_id`."""
        env = self.ctx.current
        if env is None or not env.corr:
            return client_id
        mtype = type(env.msg)
        event = _IS_EVENT.get(mtype)
        if event is None:
            event = _is_event(mtype)
        return client_id if event else env.corr

    def cancel_all(self) -> None:
        """Ask execution to cancel every order still open (their cancels may cross fills)."""
        send = self.ctx.send
        name = self.ctx.name
        target = self.params.execution
        for client_id in self.state.open:
            send(target, RequestCancel(client_id=client_id, strategy=name))

    def on_venue_event(self, msg: VenueEvent) -> None:
        st = self.state
        mtype = type(msg)
        kind = _KINDS.get(mtype)
        if kind is None:
            kind = _kind(mtype)
        if kind == _FILL:
            assert isinstance(msg, OrderFilled)  # narrows the type; fills are the rare event
            st.fills += 1
            st.position += msg.qty if msg.side == "buy" else -msg.qty
            if msg.leaves_qty <= ZERO:
                st.open.pop(msg.client_id, None)
            self.after_fill(msg)
        elif kind == _END:
            st.open.pop(msg.client_id, None)

    def on_denied(self, msg: OrderDenied) -> None:
        if msg.strategy == self.ctx.name and self.state.open.pop(msg.client_id, ""):
            self.state.denied += 1

    def after_fill(self, msg: OrderFilled) -> None:  # not `on_`: that would be a handler
        """React to one of this strategy's fills (after `position` counts it)."""
