"""Define the order lifecycle as a transition table, and the order record execution keeps.

One table says every legal move; anything else is an `IllegalTransitionError`, never a silent
state change. Venue events may arrive late or out of the order a person expects (a fill after a
cancel request, an acceptance after a fill), and the table says what each means in each state.

Beyond the venue's events: `resubmit` (the venue said it has no such order, execution sends it
again under the same client id) keeps an order SUBMITTED; `replace` starts a cancel/replace (the
old order waits for its cancel like any other, the new one waits in NEW until the old is done);
`cancel` in NEW ends a replacement that was never sent. What an order waits for (an ack, a
cancel confirmation, a status report) is `Order.waiting`, beside the state: timeouts do not
change what the venue has done with an order, only what execution asks next.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from runtime import KineticError

OrderStatus = Literal[
    "NEW",
    "SUBMITTED",
    "ACCEPTED",
    "PARTIALLY_FILLED",
    "FILLED",
    "CANCEL_PENDING",
    "CANCELED",
    "REJECTED",
    "EXPIRED",
]
OrderEvent = Literal[
    "submit", "accept", "reject", "fill_part", "fill", "cancel_request", "cancel",
    "cancel_reject", "expire", "resubmit", "replace",
]  # fmt: skip
Waiting = Literal["", "ack", "cancel", "query", "resubmit"]
"""What an order waits for until its deadline: an ack, a cancel confirmation, the answer to a
status query, or the end of the backoff before a resubmission."""

TERMINAL: frozenset[str] = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})

_OPEN_MOVES: dict[str, str] = {
    "fill_part": "PARTIALLY_FILLED",
    "fill": "FILLED",
    "cancel_request": "CANCEL_PENDING",
    "cancel": "CANCELED",
    "expire": "EXPIRED",
}

TRANSITIONS: dict[str, dict[str, str]] = {
    # A replacement waits in NEW for the order it replaces; it may end there unsent.
    "NEW": {"submit": "SUBMITTED", "reject": "REJECTED", "cancel": "CANCELED"},
    "SUBMITTED": {
        "accept": "ACCEPTED",
        "reject": "REJECTED",
        "resubmit": "SUBMITTED",
        "replace": "CANCEL_PENDING",
        **_OPEN_MOVES,
    },
    "ACCEPTED": {"accept": "ACCEPTED", "replace": "CANCEL_PENDING", **_OPEN_MOVES},
    "PARTIALLY_FILLED": {
        "accept": "PARTIALLY_FILLED",
        "replace": "CANCEL_PENDING",
        **_OPEN_MOVES,
    },
    # A fill may beat the cancel to the venue: a part keeps the cancel pending, the rest ends it.
    # `cancel_reject` leaves CANCEL_PENDING through `Order.apply`, which knows what filled.
    "CANCEL_PENDING": {
        "accept": "CANCEL_PENDING",
        "fill_part": "CANCEL_PENDING",
        "fill": "FILLED",
        "cancel": "CANCELED",
        "cancel_request": "CANCEL_PENDING",
        "expire": "EXPIRED",
        "cancel_reject": "ACCEPTED",
    },
    "FILLED": {},
    "CANCELED": {},
    "REJECTED": {},
    "EXPIRED": {},
}


class IllegalTransitionError(KineticError):
    """An order event that its current state does not allow (a fill after a cancel, ...)."""


class Order(msgspec.Struct, kw_only=True):
    """What execution knows of one order; mutable, in execution's state."""

    client_id: str
    strategy: str
    venue: str
    instrument: str
    side: Literal["buy", "sell"]
    qty: Decimal
    price: Decimal | None
    status: OrderStatus = "NEW"
    filled: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    """Sum of fill qty * price, for the average fill price."""
    fees: Decimal = Decimal(0)
    venue_order_id: str = ""
    corr: str = ""
    submitted_ns: int = 0
    order_type: Literal["limit", "market"] = "limit"
    # -- timeouts and retries (see agents.execution.timeouts) --
    attempts: int = 0
    """Submissions sent (the first and every resubmission)."""
    cancels: int = 0
    """Cancels sent."""
    queries: int = 0
    """Status queries sent since the last answer that settled what the order waited for."""
    query_no: int = 0
    """Every status query sent for this order (the number in its idempotency key)."""
    waiting: Waiting = ""
    deadline: int = 0
    """When execution stops waiting (ns, kernel clock); 0: no deadline (timeouts are off)."""
    unresolved: bool = False
    """Queried `max_queries` times without an answer that settled it: an operator should look."""
    resubmit: bool = True
    """Whether a `not_found` may resubmit it (False when a reconciliation closes orders out)."""
    # -- cancel/replace --
    replaces: str = ""
    """The order this one replaces (while it waits in NEW for that order to be done)."""
    replaced_by: str = ""
    """The replacement waiting for this order to be done."""
    replace_basis: Decimal = Decimal(0)
    """`filled` when the replace was asked: what fills after it is taken off the replacement."""

    @property
    def open(self) -> bool:
        """Whether the order may still fill."""
        return self.status not in TERMINAL

    def apply(self, event: OrderEvent, /) -> OrderStatus:
        """Move to the state `event` leads to; raise `IllegalTransitionError` if none."""
        nxt = TRANSITIONS[self.status].get(event)
        if nxt is None:
            raise IllegalTransitionError(
                f"order `{self.client_id}` cannot take `{event}` in state {self.status}"
            )
        if event == "cancel_reject" and self.filled:
            nxt = "PARTIALLY_FILLED"
        self.status = nxt  # type: ignore[assignment]
        return self.status
