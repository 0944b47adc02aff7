"""Define the order lifecycle as a transition table, and the order record execution keeps.

One table says every legal move; anything else is an `IllegalTransitionError`, never a silent
state change. Venue events may arrive late or out of the order a person expects (a fill after a
cancel request, an acceptance after a fill), and the table says what each means in each state.
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
    "cancel_reject", "expire",
]  # fmt: skip

TERMINAL: frozenset[str] = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})

_OPEN_MOVES: dict[str, str] = {
    "fill_part": "PARTIALLY_FILLED",
    "fill": "FILLED",
    "cancel_request": "CANCEL_PENDING",
    "cancel": "CANCELED",
    "expire": "EXPIRED",
}

TRANSITIONS: dict[str, dict[str, str]] = {
    "NEW": {"submit": "SUBMITTED", "reject": "REJECTED"},
    "SUBMITTED": {"accept": "ACCEPTED", "reject": "REJECTED", **_OPEN_MOVES},
    "ACCEPTED": {"accept": "ACCEPTED", **_OPEN_MOVES},
    "PARTIALLY_FILLED": {"accept": "PARTIALLY_FILLED", **_OPEN_MOVES},
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
