"""Define the risk agent's contract: operator commands, the gate's decisions, its events.

Operator commands (`SetTradingState`, `SetPaperGuard`) enter the bus as journaled inputs from the
control API or a signal; the gate turns them into events (`TradingStateChanged`, from `runtime`,
and `PaperGuardChanged`). Strategies submit `OrderIntent`s; the gate answers each with
`OrderApproved` or `OrderDenied` (with a reason code), and asks execution to cancel open orders
when a scope halts (`CancelOpenOrders`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from runtime import Message, TradingScope, TradingState

Side = Literal["buy", "sell"]


class SetTradingState(Message, frozen=True, kw_only=True, tag="risk.SetTradingState"):
    """Set the trading state of a scope (the kill switch is HALTED at global scope)."""

    scope: TradingScope
    target: str = "*"
    state: TradingState
    reason: str
    by: str


class SetPaperGuard(Message, frozen=True, kw_only=True, tag="risk.SetPaperGuard"):
    """Turn the paper-only guard on or off; the API checks role, credentials and confirmation."""

    paper_only: bool
    reason: str
    by: str


class PaperGuardChanged(Message, frozen=True, kw_only=True, tag="risk.PaperGuardChanged"):
    """Announce the paper-only guard's new value."""

    paper_only: bool
    reason: str
    by: str


class OrderIntent(Message, frozen=True, kw_only=True, tag="risk.OrderIntent"):
    """Ask to place an order; every order passes the pre-trade gate first."""

    client_id: str
    strategy: str
    venue: str
    instrument: str
    side: Side
    qty: Decimal
    price: Decimal | None = None
    reduce_only: bool = False
    """The strategy asserts the order only reduces a position (until positions are known here)."""


class OrderApproved(Message, frozen=True, kw_only=True, tag="risk.OrderApproved"):
    """Let an order through to execution."""

    intent: OrderIntent


class OrderDenied(Message, frozen=True, kw_only=True, tag="risk.OrderDenied"):
    """Refuse an order, with a reason code an operator and a test can rely on."""

    client_id: str
    strategy: str
    code: str
    detail: str


class CancelOpenOrders(Message, frozen=True, kw_only=True, tag="risk.CancelOpenOrders"):
    """Ask execution to cancel every open order in a scope (sent when the scope halts)."""

    scope: TradingScope
    target: str
    reason: str
