"""Define the order contract between strategies, execution and venues.

The path of an order (one `corr` from signal to fill):

    strategy --OrderIntent--> risk --OrderApproved--> execution --SubmitOrder--> venue
    venue --OrderAccepted | OrderRejected | OrderFilled | OrderCanceled--> everyone subscribed
    strategy --RequestCancel--> execution --CancelOrder--> venue

`SubmitOrder` and `CancelOrder` are write-ahead commands (`effect = True`): the kernel journals
them durably before a venue adapter sees them, and their idempotency key is the client order id,
so a retry or a reconciliation after a crash asks the venue about that id instead of sending a
second order. Venue events are published keyed by `strategy`, so a strategy subscribes to its
own orders only; execution and the ledger subscribe to all.

Prices, quantities and fees are exact `Decimal`s; `fee` is in `fee_asset` (the quote asset for
the simulated venue, as on most spot venues).
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from agents.risk.messages import Side
from runtime import Message

OrderType = Literal["limit", "market"]
TimeInForce = Literal["gtc", "ioc"]
Liquidity = Literal["maker", "taker"]


class SubmitOrder(Message, frozen=True, kw_only=True, tag="execution.SubmitOrder"):
    """Place an order at a venue; `client_id` is its idempotency key at the venue."""

    effect: ClassVar[bool] = True

    client_id: str
    strategy: str
    venue: str
    instrument: str
    side: Side
    qty: Decimal
    price: Decimal | None = None
    """The limit price; None for a market order."""
    order_type: OrderType = "limit"
    tif: TimeInForce = "gtc"

    @property
    def idem_key(self) -> str:
        return self.client_id


class CancelOrder(Message, frozen=True, kw_only=True, tag="execution.CancelOrder"):
    """Cancel an open order at its venue (idempotent: cancelling twice cancels once)."""

    effect: ClassVar[bool] = True

    client_id: str
    strategy: str
    venue: str
    instrument: str

    @property
    def idem_key(self) -> str:
        return f"cancel:{self.client_id}"


class RequestCancel(Message, frozen=True, kw_only=True, tag="execution.RequestCancel"):
    """Ask execution to cancel one of a strategy's orders (execution knows where it rests)."""

    client_id: str
    strategy: str
    reason: str = ""


class VenueEvent(Message, frozen=True, kw_only=True, tag="execution.VenueEvent"):
    """Base of what a venue reports about an order; keyed by the strategy that owns it."""

    key_field: ClassVar[str | None] = "strategy"

    client_id: str
    strategy: str
    venue: str
    instrument: str


class OrderAccepted(VenueEvent, frozen=True, kw_only=True, tag="execution.OrderAccepted"):
    """Report that the venue holds the order (resting, or about to fill)."""

    venue_order_id: str


class OrderRejected(VenueEvent, frozen=True, kw_only=True, tag="execution.OrderRejected"):
    """Report that the venue refused the order; `code` is stable, `detail` for people."""

    code: str
    detail: str


class OrderFilled(VenueEvent, frozen=True, kw_only=True, tag="execution.OrderFilled"):
    """Report one fill (an order may fill in several parts; `leaves_qty` is what rests)."""

    fill_id: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Liquidity
    leaves_qty: Decimal


class OrderCanceled(VenueEvent, frozen=True, kw_only=True, tag="execution.OrderCanceled"):
    """Report that the order no longer rests; `leaves_qty` was left unfilled."""

    leaves_qty: Decimal
    reason: str = ""


class CancelRejected(VenueEvent, frozen=True, kw_only=True, tag="execution.CancelRejected"):
    """Report that a cancel changed nothing: the order no longer rests (filled, or unknown)."""

    code: str
    detail: str


class OrderExpired(VenueEvent, frozen=True, kw_only=True, tag="execution.OrderExpired"):
    """Report that an order ended unfilled by its own terms (an IOC with nothing to match)."""

    leaves_qty: Decimal
