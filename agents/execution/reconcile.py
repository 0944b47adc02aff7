"""Compare what execution and the books believe with what a venue says, at start.

After a restart execution's open orders come back from the journal, and the ledger's balances
too; the venue may have moved on meanwhile (fills, cancels, an order placed by hand). Both
comparisons are pure functions of both sides, so a test states the sides and reads the result,
and the actor only gathers the sides and acts on the answer (queries for orders missing at the
venue, cancels for unknown ones when configured).

Balances compare totals per asset exactly (`Decimal`, no tolerance): a difference is reported with
its sign, `venue - ledger`; an asset one side lacks counts as zero there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import NamedTuple

from agents.execution.messages import BalanceMismatch, OrderMismatch, VenueOrder
from agents.execution.orders import Order

ZERO = Decimal(0)


class OrderComparison(NamedTuple):
    """Orders on both sides (`matched`), only ours, only the venue's, and differences."""

    matched: list[str]
    missing_at_venue: list[str]
    """Our open orders (client ids) the venue does not list as open."""
    unknown_at_venue: list[VenueOrder]
    """Orders open at the venue that are not among ours."""
    mismatches: list[OrderMismatch]


def compare_orders(ours: Iterable[Order], theirs: Iterable[VenueOrder], /) -> OrderComparison:
    """Match our open orders with a venue's by client id (or the venue's id); list the rest.

    A replacement still waiting in NEW was never sent, so the venue cannot list it: it is left
    out. Lists come out sorted, so a report reads the same on every run.
    """
    mine = {o.client_id: o for o in ours if o.status != "NEW"}
    by_vid = {o.venue_order_id: o for o in mine.values() if o.venue_order_id}
    matched: list[str] = []
    unknown: list[VenueOrder] = []
    mismatches: list[OrderMismatch] = []
    seen: set[str] = set()
    for v in theirs:
        o = mine.get(v.client_id) if v.client_id else None
        if o is None and v.venue_order_id:
            o = by_vid.get(v.venue_order_id)
        if o is None or o.client_id in seen:
            unknown.append(v)
            continue
        seen.add(o.client_id)
        matched.append(o.client_id)
        mismatches.extend(_differences(o, v))
    missing = sorted(cid for cid in mine if cid not in seen)
    unknown.sort(key=lambda v: (v.client_id, v.venue_order_id))
    mismatches.sort(key=lambda m: (m.client_id, m.field))
    return OrderComparison(sorted(matched), missing, unknown, mismatches)


def _differences(o: Order, v: VenueOrder) -> list[OrderMismatch]:
    out = []
    for field, ours, venue in (
        ("instrument", o.instrument, v.instrument),
        ("side", o.side, v.side),
        ("qty", o.qty, v.qty),
        ("filled_qty", o.filled, v.filled_qty),
        ("price", o.price, v.price),
    ):
        if ours != venue:
            out.append(OrderMismatch(client_id=o.client_id, field=field, ours=str(ours),
                                     venue=str(venue)))  # fmt: skip
    return out


def compare_balances(
    ledger: Mapping[str, Decimal], venue: Mapping[str, Decimal], /
) -> list[BalanceMismatch]:
    """Return every asset whose totals differ, sorted by asset, with `venue - ledger` exactly."""
    out = []
    for asset in sorted(ledger.keys() | venue.keys()):
        book = ledger.get(asset, ZERO)
        held = venue.get(asset, ZERO)
        if book != held:
            out.append(
                BalanceMismatch(asset=asset, ledger=book, venue=held, difference=held - book)
            )
    return out
