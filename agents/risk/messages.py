"""Define the risk agent's contract: operator commands, the gate's decisions, its events.

Operator commands (`SetTradingState`, `SetPaperGuard`) enter the bus as journaled inputs from the
control API or a signal; the gate turns them into events (`TradingStateChanged`, from `runtime`,
and `PaperGuardChanged`). Strategies submit `OrderIntent`s; the gate answers each with
`OrderApproved` or `OrderDenied` (with a reason code, see docs/risk.md), and asks execution to
cancel open orders when a scope halts (`CancelOpenOrders`). Drawdown tiers announce themselves
(`DrawdownTierChanged`), and the gate sums up its run in a `RiskReport` when it stops.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

import msgspec

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
    """The strategy asserts the order only reduces a position; required while REDUCING, where
    the gate also checks it against the position when it knows the balances."""
    replaces: str = ""
    """The client id of the order this one replaces (a modify); empty for a new order."""


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


class DrawdownTierChanged(Message, frozen=True, kw_only=True, tag="risk.DrawdownTierChanged"):
    """Announce a drawdown tier: entered as equity fell, or left by an operator's resume.

    Strategies may read `size_multiplier` to size their orders down; the gate enforces it on the
    configured order limits either way (code `DRAWDOWN_SIZE`). Tier 0 is no tier.
    """

    tier: int
    state: TradingState
    size_multiplier: Decimal
    equity: Decimal
    peak: Decimal
    drawdown_pct: Decimal


class DrawdownTransition(msgspec.Struct, frozen=True, kw_only=True):
    """One change of drawdown tier, for the report: when, from which to which, and why."""

    ts: int
    from_tier: int
    to_tier: int
    state: TradingState
    """The state the new tier asks for (ACTIVE for tier 0 and for size-only tiers)."""
    equity: Decimal
    peak: Decimal
    drawdown_pct: Decimal
    by: str
    """`risk:drawdown` when equity moved the tier, the operator when a resume reset it."""


class RiskReport(Message, frozen=True, kw_only=True, tag="risk.RiskReport"):
    """Sum up the gate's run: verdicts, denials per code, drawdown tiers, peak and max drawdown.

    Published when the gate stops; `kinetic backtest` writes it to `reports.jsonl`.
    """

    report: ClassVar[bool] = True
    artifact: ClassVar[str | None] = "risk_report.json"

    gate: str
    approved: int
    denied: int
    denials: dict[str, int]
    """Denials per reason code (codes that never fired are absent)."""
    tier: int
    transitions: list[DrawdownTransition]
    transitions_dropped: int
    """Transitions past the bound the gate keeps (`MAX_TRANSITIONS`), counted, not listed."""
    equity: Decimal | None
    peak_equity: Decimal | None
    """The highest equity seen in the run (None when equity was never known)."""
    max_drawdown_pct: Decimal
    """The deepest drawdown from the tiers' peak, in percent."""
