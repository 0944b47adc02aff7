"""Define the order contract between strategies, execution and venues.

The path of an order (one `corr` from signal to fill):

    strategy --OrderIntent--> risk --OrderApproved--> execution --SubmitOrder--> venue
    venue --OrderAccepted | OrderRejected | OrderFilled | OrderCanceled--> everyone subscribed
        (under the order's corr, also when market data or a timer caused the event)
    strategy --RequestCancel--> execution --CancelOrder--> venue
    strategy --RequestReplace--> execution --OrderIntent(replaces=...)--> risk --> execution
        --CancelOrder(old)--> venue, then, once the old order is done, --SubmitOrder(new)-->
    execution --QueryOrder--> venue --OrderStatusReport--> execution   (after a timeout)
    execution --ReconcileRequest--> venue --VenueSnapshot--> execution --ReconciliationReport-->

`SubmitOrder`, `CancelOrder` and `QueryOrder` are write-ahead commands (`effect = True`): the
kernel journals them durably before a venue adapter sees them, each with its own idempotency
key, and the venue knows an order by its client id, so a retry or a reconciliation after a crash
asks the venue about that id instead of sending a second order. Execution resubmits an order
only after the venue said, authoritatively, that it has no order with that client id
(`OrderStatusReport(status="not_found")`), and then with the same client id. Venue events are
published keyed by `strategy`, so a strategy subscribes to its own orders only; execution and the
ledger subscribe to all.

Execution itself publishes `OrderRejected` (codes `EXEC_*`) or `OrderCanceled` for an order it
ends without the venue's word for it: a submission the venue never received after every retry,
a replacement that was not needed, an order a status report or a reconciliation closed out. So
terminal events may repeat (a dropped venue event is replaced, a late one still arrives):
consumers key them by client id and apply them once.

Prices, quantities and fees are exact `Decimal`s; `fee` is in `fee_asset` (the quote asset for
the simulated venue, as on most spot venues). See docs/execution.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

import msgspec

from agents.risk.messages import Side
from runtime import Message

OrderType = Literal["limit", "market"]
TimeInForce = Literal["gtc", "ioc"]
Liquidity = Literal["maker", "taker"]
VenueOrderStatus = Literal[
    "open", "filled", "canceled", "expired", "rejected", "not_found", "unknown"
]  # fmt: skip
"""What a venue says of one order (ccxt's `open`/`closed`/`canceled`/`expired`/`rejected`, with
`closed` spelled `filled`). `not_found`: the venue has no order with that client id, and says so
itself; `unknown`: the venue could not be asked (transport error, timeout), which proves nothing.
"""


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
    attempt: int = 0
    """0 for the first submission; n for the n-th resubmission, sent only after the venue said it
    has no order `client_id`. The client id stays the same, so a venue that did receive an earlier
    attempt refuses this one as a duplicate (it never creates a second order)."""

    @property
    def idem_key(self) -> str:
        return self.client_id if not self.attempt else f"{self.client_id}:resubmit:{self.attempt}"


class CancelOrder(Message, frozen=True, kw_only=True, tag="execution.CancelOrder"):
    """Cancel an open order at its venue (idempotent: cancelling twice cancels once)."""

    effect: ClassVar[bool] = True

    client_id: str
    strategy: str
    venue: str
    instrument: str
    attempt: int = 0
    """0 for the first cancel; n for the n-th retry after a status report found it still open."""
    venue_order_id: str = ""
    """The venue's id when known (the only handle on an order placed outside Kinetic)."""

    @property
    def idem_key(self) -> str:
        if not self.attempt:
            return f"cancel:{self.client_id or self.venue_order_id}"
        return f"cancel:{self.client_id or self.venue_order_id}:{self.attempt}"


class QueryOrder(Message, frozen=True, kw_only=True, tag="execution.QueryOrder"):
    """Ask a venue what it knows of one order, by client id; answered by `OrderStatusReport`.

    Sent when an acknowledgement or a cancel confirmation is overdue, after a `CancelRejected`,
    and for orders a reconciliation could not find open. Read-only: an adapter may perform it
    again in `reconcile` after a crash.
    """

    effect: ClassVar[bool] = True

    client_id: str
    strategy: str
    venue: str
    instrument: str
    query_no: int
    """Counts the queries about this order (1, 2, ...): part of the idempotency key."""
    venue_order_id: str = ""
    """The venue's id when execution knows it (a venue may look orders up faster by it)."""

    @property
    def idem_key(self) -> str:
        return f"query:{self.client_id}:{self.query_no}"


class RequestCancel(Message, frozen=True, kw_only=True, tag="execution.RequestCancel"):
    """Ask execution to cancel one of a strategy's orders (execution knows where it rests)."""

    client_id: str
    strategy: str
    reason: str = ""


class RequestReplace(Message, frozen=True, kw_only=True, tag="execution.RequestReplace"):
    """Ask execution to replace one of a strategy's orders by a new one (a modify).

    Execution sends the new order to the risk gate as an `OrderIntent` with `replaces` set (the
    gate throttles modifies), cancels the old order once approved, and submits the new one when
    the old is done. Fills of the old order after this request reduce the new order's quantity,
    so the old order's further fills plus the new order's never exceed `qty`.
    """

    client_id: str
    """The order to replace."""
    new_client_id: str
    strategy: str
    qty: Decimal
    """The new order's quantity, counting from now: what the old order fills from here on is
    taken off it."""
    price: Decimal | None = None
    """The new limit price; None for a market order."""
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
    """Report that a cancel changed nothing: the order no longer rests (filled, or unknown), or
    the venue could not confirm the cancel. Not an end: the order may be live or have fills on
    their way, so what it holds stays held until its own end (a fill with nothing left, or
    `OrderCanceled` / `OrderRejected` / `OrderExpired`)."""

    code: str
    detail: str


class OrderExpired(VenueEvent, frozen=True, kw_only=True, tag="execution.OrderExpired"):
    """Report that an order ended unfilled by its own terms (an IOC with nothing to match)."""

    leaves_qty: Decimal


class OrderStatusReport(VenueEvent, frozen=True, kw_only=True, tag="execution.OrderStatusReport"):
    """Answer a `QueryOrder`: what the venue knows of the order now (ccxt `fetchOrder`).

    Only `not_found` lets execution resubmit, so a venue (adapter) says it only when the venue
    itself answered that it has no such order, after any earlier submission of it completed; a
    timeout or a transport error is `unknown`. A venue may also send one unsolicited (`query`
    empty), say when it refuses a duplicate client id: it then reports the order it holds.
    """

    query: str = ""
    """The idempotency key of the `QueryOrder` answered (`query:<client_id>:<n>`); "" if none."""
    status: VenueOrderStatus
    venue_order_id: str = ""
    filled_qty: Decimal = Decimal(0)
    """Everything the order filled so far (ccxt `filled`)."""
    leaves_qty: Decimal = Decimal(0)
    """What still rests (ccxt `remaining`); 0 unless `open`."""
    detail: str = ""


class VenueOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One open order as a venue lists it (ccxt `fetchOpenOrders`), in a `VenueSnapshot`."""

    client_id: str
    """Our client id (Kraken `cl_ord_id`/`userref`); "" for an order placed outside Kinetic."""
    venue_order_id: str
    instrument: str
    side: Side
    qty: Decimal
    filled_qty: Decimal = Decimal(0)
    price: Decimal | None = None


class ReconcileRequest(Message, frozen=True, kw_only=True, tag="execution.ReconcileRequest"):
    """Ask a venue for its open orders and balances; answered by one `VenueSnapshot`.

    Read-only. Execution sends it at start (`reconcile_venues`); an adapter may also publish a
    `VenueSnapshot` on its own when it (re)connects. Sent *to execution* (by the daemon after a
    restart, or an operator), it makes execution reconcile `venue` now (`*`: every configured
    venue).
    """

    venue: str
    request_id: str
    """Echoed in the `VenueSnapshot`, so execution matches answer to question."""


class VenueSnapshot(Message, frozen=True, kw_only=True, tag="execution.VenueSnapshot"):
    """Answer a `ReconcileRequest`: every open order and the balances (ccxt `fetchOpenOrders`,
    `fetchBalance`), as of one moment at the venue."""

    venue: str
    request_id: str = ""
    """The request answered; "" for a snapshot the adapter sent unasked."""
    open_orders: list[VenueOrder] = msgspec.field(default_factory=list)
    balances: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """Total per asset (ccxt `total`: free + used); an asset absent is zero."""
    complete: bool = True
    """False when the venue could not list everything (then nothing is closed out)."""
    detail: str = ""


class Balances(Message, frozen=True, kw_only=True, tag="execution.Balances"):
    """Some books' balances of one venue's account (total per asset), for reconciliation.

    For books other than the ledger keeper, whose `runtime.Balances` (`ledger.Balances`, one per
    holder) execution reads directly. Execution keeps the latest of either per venue and compares
    a venue's `VenueSnapshot` with it (or with `expected_balances` until one arrives).
    """

    venue: str
    balances: dict[str, Decimal]
    source: str = "ledger"


class OrderMismatch(msgspec.Struct, frozen=True, kw_only=True):
    """An order both sides know, on which they differ (quantity, filled, price)."""

    client_id: str
    field: str
    ours: str
    venue: str


class BalanceMismatch(msgspec.Struct, frozen=True, kw_only=True):
    """One asset whose venue balance differs from the books: `difference = venue - ledger`."""

    asset: str
    ledger: Decimal
    venue: Decimal
    difference: Decimal


class ReconciliationReport(
    Message, frozen=True, kw_only=True, tag="execution.ReconciliationReport"
):
    """Sum up one venue's reconciliation at start: orders on both sides, balances against books.

    `missing_at_venue`: our open orders the venue does not list as open (each is then queried and
    closed out by what the venue says); `unknown_at_venue`: orders open at the venue that we do
    not know (reported, cancelled only with `cancel_unknown`). Written as `reconciliation.json`.
    """

    report: ClassVar[bool] = True
    artifact: ClassVar[str | None] = "reconciliation.json"

    venue: str
    request_id: str
    at_ns: int
    answered: bool
    """False when the venue did not answer in time: nothing else in the report is checked."""
    complete: bool
    matched: list[str]
    missing_at_venue: list[str]
    unknown_at_venue: list[VenueOrder]
    order_mismatches: list[OrderMismatch]
    balances_checked: bool
    balance_source: str
    """`ledger` (a `Balances` message), `config` (`expected_balances`) or "" (not checked)."""
    balance_mismatches: list[BalanceMismatch]
    canceled_unknown: list[str]
    """Venue order ids of unknown orders execution asked the venue to cancel."""
    ok: bool
    """Everything matched: no missing, unknown or mismatched order, no balance difference."""
