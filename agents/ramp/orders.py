"""Decide which provider status moves a ramp order: monotonic, terminal states final.

Webhooks arrive duplicated, late and out of order, and Banxa's statuses are not a straight line:
an order may be `expired` and then revive to `paymentReceived` when a late payment lands. The
rule, in one place:

- `complete`, `cancelled`, `declined` and `refunded` are terminal: nothing moves an order out.
- A terminal status is reachable from any open status.
- `expired` is reachable only before the payment arrived (`pendingPayment`, `waitingPayment`);
  from `expired` only a status at or after `paymentReceived` (or a terminal one) moves it.
- Otherwise a status moves the order only forward along
  pendingPayment < waitingPayment < paymentReceived < inProgress < coin/cryptoTransferred.
- `coinTransferred` belongs to buy orders and `cryptoTransferred` to sell orders.

So the statuses of one real progression (at most one terminal), applied in any order and with
repeats, end where the progression ends: `tests/unit/agents/ramp` checks that property. The agent
acts on what it fetches from the provider, not on the webhook's word, which makes it hold for
the webhooks too.
"""

from __future__ import annotations

from typing import Final, get_args

from agents.ramp.messages import ProviderStatus, RampSide

TERMINAL: Final = frozenset({"complete", "cancelled", "declined", "refunded"})
FAILED: Final = frozenset({"cancelled", "declined", "refunded"})
STATUSES: Final[frozenset[str]] = frozenset(get_args(ProviderStatus))
_RANK: Final[dict[str, int]] = {
    "pendingPayment": 0,
    "waitingPayment": 1,
    "paymentReceived": 2,
    "inProgress": 3,
    "coinTransferred": 4,
    "cryptoTransferred": 4,
}
_PAID_RANK: Final = _RANK["paymentReceived"]
_SIDE_ONLY: Final[dict[str, RampSide]] = {"coinTransferred": "buy", "cryptoTransferred": "sell"}


def is_status(value: str, /) -> bool:
    """Return whether `value` is one of the provider's statuses."""
    return value in STATUSES


def advances(side: RampSide, current: str, new: ProviderStatus | str, /) -> bool:
    """Return whether an order of `side` at `current` ("" when new) moves to `new`."""
    if new not in STATUSES or new == current or current in TERMINAL:
        return False
    if _SIDE_ONLY.get(new, side) != side:
        return False
    if new in TERMINAL:
        return True
    if not current:
        return True
    if new == "expired":
        return _RANK.get(current, _PAID_RANK) < _PAID_RANK
    if current == "expired":
        return _RANK[new] >= _PAID_RANK
    return _RANK[new] > _RANK[current]
