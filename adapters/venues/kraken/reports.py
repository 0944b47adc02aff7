"""Define what the Kraken adapter reports: Kraken's word on our orders, fills and balances.

Reports are journaled inputs, the facts as the venue stated them. They may repeat: a poll after
a restart sees fills it already reported, a reconciliation re-reads an order. `KrakenTracker`
turns them into venue events once. Amounts are exact `Decimal`s read from Kraken's strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from agents.execution.messages import Liquidity
from agents.risk.messages import Side
from runtime import Message

ReportStatus = Literal["open", "rejected", "canceled", "expired", "closed", "cancel_rejected"]


class KrakenOrderReport(Message, frozen=True, kw_only=True, tag="kraken.OrderReport"):
    """Report an order's state: placed (`open`), refused, ended, or a cancel that changed nothing.

    The answer to a command (placement, cancel, reconciliation) names the order fully; a poll
    knows only Kraken's side of it (`cl_ord_id`, ids, status, `filled`).
    """

    venue: str
    cl_ord_id: str
    status: ReportStatus
    venue_order_id: str = ""
    client_id: str = ""
    strategy: str = ""
    instrument: str = ""
    side: Side = "buy"
    qty: Decimal = Decimal(0)
    price: Decimal | None = None
    filled: Decimal = Decimal(0)
    """Kraken's `vol_exec` when the order ended: the fills to wait for before saying so."""
    code: str = ""
    detail: str = ""


class KrakenFillReport(Message, frozen=True, kw_only=True, tag="kraken.FillReport"):
    """Report one of our trades (Kraken's `TradesHistory` row)."""

    venue: str
    cl_ord_id: str
    venue_order_id: str
    trade_id: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Liquidity
    ts_ns: int


class KrakenBalances(Message, frozen=True, kw_only=True, tag="kraken.Balances"):
    """Report the account's balances (by ccxt currency code) and what open orders hold."""

    venue: str
    total: dict[str, Decimal]
    held: dict[str, Decimal]
