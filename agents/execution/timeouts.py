"""Decide what execution does when a venue is silent, and what a status report means.

Execution never sends an order twice on a guess. When an acknowledgement or a cancel confirmation
is overdue it asks the venue (`QueryOrder`), and only the venue's own `not_found` lets it submit
again, under the same client id, a bounded number of times with growing pauses. Everything else
a report says is adopted as the order's state, except a fill execution has not seen: fills carry
prices and fees that only the venue's `OrderFilled` has, so execution waits for them (and asks
again) instead of inventing one.

Pure functions over an `Order` and an `OrderStatusReport`; `actor.py` applies the verdicts.
"""

from __future__ import annotations

from typing import Annotated, Literal, NamedTuple

from msgspec import Meta

from agents.execution.messages import OrderStatusReport
from agents.execution.orders import Order, OrderEvent
from runtime import ConfigBase
from runtime.config import NonNegativeInt, PositiveFloat, PositiveInt

MS = 1_000_000

Action = Literal["adopt", "resubmit", "give_up", "recancel", "cancel_gave_up", "requery", "ignore"]
"""`adopt`: apply `event` (the venue's state); `resubmit`: send the order again (same client id)
after a backoff; `give_up`: the venue never got it and no retry is left, reject it; `recancel`:
the venue still holds an order we cancel, cancel again; `cancel_gave_up`: it does after every
retry, stop and leave it open; `requery`: ask again later; `ignore`: nothing to do."""


class TimeoutConfig(ConfigBase, frozen=True, kw_only=True):
    """When execution stops waiting, how often it asks and retries (kernel clock, so a backtest
    decides exactly as it did before)."""

    enabled: bool = True
    """False: no timers at all (an unanswered order waits for its venue, or an operator)."""
    ack_timeout_ms: PositiveFloat = 5_000.0
    """How long a submission may go unacknowledged before the venue is asked."""
    cancel_timeout_ms: PositiveFloat = 5_000.0
    """How long a cancel may go unconfirmed before the venue is asked."""
    query_timeout_ms: PositiveFloat = 2_000.0
    """How long a status query may go unanswered before the next one (times the backoff)."""
    backoff_ms: PositiveFloat = 500.0
    """The pause before the first resubmission and the base of every backoff."""
    backoff_factor: Annotated[float, Meta(ge=1)] = 2.0
    max_backoff_ms: PositiveFloat = 30_000.0
    max_resubmits: NonNegativeInt = 3
    """Resubmissions after `not_found` before the order is rejected (`EXEC_SUBMIT_UNCONFIRMED`)."""
    max_cancel_retries: NonNegativeInt = 3
    """Cancels sent again while a report finds the order open, before execution gives up."""
    max_queries: PositiveInt = 5
    """Unsettled queries in a row before the order is flagged unresolved (it is still asked
    about, at `max_backoff_ms`)."""

    def __post_init__(self) -> None:
        if self.max_backoff_ms < self.backoff_ms:
            raise ValueError(
                f"`max_backoff_ms` must be >= `backoff_ms` ({self.backoff_ms}), "
                f"got {self.max_backoff_ms}"
            )


def backoff_ns(cfg: TimeoutConfig, n: int, /, *, base_ms: float | None = None) -> int:
    """Return the pause before try `n` (0, 1, ...): `base * factor**n`, capped, in ns."""
    base = cfg.backoff_ms if base_ms is None else base_ms
    ms = min(base * cfg.backoff_factor ** min(n, 64), cfg.max_backoff_ms)
    return round(ms * MS)


class Verdict(NamedTuple):
    """What to do with an order after a status report; `event` for `adopt`."""

    action: Action
    event: OrderEvent | None = None
    detail: str = ""


_ADOPT: dict[str, OrderEvent] = {
    "filled": "fill",
    "canceled": "cancel",
    "expired": "expire",
    "rejected": "reject",
}


def judge(order: Order, report: OrderStatusReport, cfg: TimeoutConfig, /) -> Verdict:
    """Say what `report` (the venue's view of `order`, now) means for the order."""
    status = report.status
    if status == "unknown":
        return Verdict("requery", detail=report.detail or "the venue could not be asked")
    state = order.status
    if status == "not_found":
        if state == "SUBMITTED":
            if order.resubmit and order.attempts <= cfg.max_resubmits:
                return Verdict("resubmit", detail="the venue has no order with this client id")
            return Verdict(
                "give_up",
                "reject",
                f"the venue has no order `{order.client_id}` after {order.attempts} submissions",
            )
        # Cancelling an order the venue never had (or lost): it is as cancelled as can be.
        return Verdict("adopt", "cancel", "the venue has no order with this client id")
    if status == "open":
        if state == "SUBMITTED":
            return Verdict("adopt", "accept")
        if state == "CANCEL_PENDING":
            if order.cancels <= cfg.max_cancel_retries:
                return Verdict("recancel", detail="the venue still holds the order")
            return Verdict(
                "cancel_gave_up",
                "cancel_reject",
                f"the venue still holds `{order.client_id}` after {order.cancels} cancels",
            )
        return Verdict("ignore")
    if report.filled_qty > order.filled:
        # Fills the venue reports and we have not seen are on their way (or lost): wait for them.
        return Verdict(
            "requery",
            detail=f"venue reports {report.filled_qty} filled, execution has seen {order.filled}",
        )
    event = _ADOPT[status]
    if event == "reject" and state != "SUBMITTED":
        event = "cancel"  # an order the venue had acknowledged ends unfilled: cancelled
    return Verdict("adopt", event)
