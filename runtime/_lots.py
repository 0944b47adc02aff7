"""Keep FIFO lots per position and turn sells into trades with realized PnL, in exact decimals.

The postings of `runtime._ledger` say what moved; lots say what it cost. A buy fill opens one lot,
a sell fill consumes the oldest lots first and becomes one `Trade` whose `closes` name every lot
slice it consumed, so a sell's PnL traces back to the fills (and the `corr`) that bought.

Fees are attributed to PnL when they are paid in the instrument's quote or base asset
(docs/ledger.md has the table); a fee in a third asset is posted but attributed to no trade.

A partial lot's share of its cost and fee is `cost * take / qty`: exact when that is a decimal of
at most 60 digits, otherwise rounded to the nearest multiple of the ledger's allocation quantum
(1e-8 unless configured; a tie would be a finite decimal, so no tie-break ever applies). The
last slice of a lot takes whatever is left, so a lot's cost and fee are charged exactly once in
total, whatever was rounded on the way.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)

import msgspec

ZERO = Decimal(0)

EXACT = Context(
    prec=60, rounding=ROUND_HALF_EVEN, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow]
)
"""Ledger arithmetic: 60 digits, and any rounding raises `decimal.Inexact` instead of happening."""

_ALLOC = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero])


class Lot(msgspec.Struct, kw_only=True, gc=False):
    """An open buy, as much of it as is not sold yet; `cost` and `fee` are in the quote asset."""

    id: str
    corr: str
    fill_id: str
    ts: int
    price: Decimal
    qty: Decimal
    """Open quantity, in the base asset; > 0 while the lot is open."""
    cost: Decimal
    """What the open quantity cost at the fill price (a base-asset fee makes it > price * qty)."""
    fee: Decimal
    """The quote-asset fee of the buy still to be charged to PnL."""


class LotClose(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A slice of a lot consumed by a trade: the link Trade -> Lot -> Fill -> corr."""

    trade_id: str
    lot_id: str
    lot_corr: str
    lot_fill_id: str
    qty: Decimal
    cost: Decimal
    fee: Decimal


class Trade(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A sell fill against FIFO lots, with its realized PnL in the quote asset.

    `pnl = proceeds - cost - fees`, where `cost` and the buy part of `fees` come from the lots
    consumed and the rest of `fees` is the sell's own quote-asset fee.
    """

    id: str
    corr: str
    fill_id: str
    order_id: str
    ts: int
    venue: str
    wallet: str
    instrument: str
    qty: Decimal
    price: Decimal
    proceeds: Decimal
    cost: Decimal
    fees: Decimal
    pnl: Decimal
    closes: tuple[LotClose, ...]


class Position(msgspec.Struct, kw_only=True, gc=False):
    """The open lots of one instrument in one venue wallet, oldest first, and its realized PnL."""

    venue: str
    wallet: str
    instrument: str
    base: str
    quote: str
    # Invariant: every lot here has qty > 0, and lots are in the order their fills were applied.
    lots: list[Lot] = msgspec.field(default_factory=list)
    realized: Decimal = ZERO
    """The sum of this position's trades' `pnl`, in the quote asset."""

    def open_qty(self) -> Decimal:
        """Return the base quantity held in open lots."""
        total = ZERO
        for lot in self.lots:
            total = EXACT.add(total, lot.qty)
        return total


def share(amount: Decimal, take: Decimal, of: Decimal, quantum: Decimal, /) -> Decimal:
    """Return `amount * take / of`: exact if it can be, else rounded to `quantum`; <= `amount`."""
    if take == of:
        return amount
    if not amount:
        return ZERO
    try:
        return EXACT.divide(EXACT.multiply(amount, take), of)
    except Inexact:
        part = _ALLOC.divide(_ALLOC.multiply(amount, take), of).quantize(quantum, context=_ALLOC)
        return min(part, amount)


class ClosePlan(msgspec.Struct, frozen=True, gc=False):
    """What consuming `qty` from a position's lots does, computed before anything changes."""

    closes: tuple[LotClose, ...]
    full: int
    """How many lots, from the oldest, are consumed whole."""
    rest: tuple[Decimal, Decimal, Decimal] | None
    """The partly consumed lot's remaining (qty, cost, fee), or None."""
    cost: Decimal
    fee: Decimal


def plan_close(
    lots: Sequence[Lot], qty: Decimal, /, *, trade_id: str, quantum: Decimal
) -> ClosePlan | None:
    """Return how to consume `qty` from `lots` FIFO, or None when the lots hold less than that."""
    closes = []
    need = qty
    cost = fee = ZERO
    full = 0
    rest = None
    for lot in lots:
        take = lot.qty if lot.qty <= need else need
        c = share(lot.cost, take, lot.qty, quantum)
        f = share(lot.fee, take, lot.qty, quantum)
        closes.append(
            LotClose(
                trade_id=trade_id,
                lot_id=lot.id,
                lot_corr=lot.corr,
                lot_fill_id=lot.fill_id,
                qty=take,
                cost=c,
                fee=f,
            )
        )
        cost = EXACT.add(cost, c)
        fee = EXACT.add(fee, f)
        need = EXACT.subtract(need, take)
        if take == lot.qty:
            full += 1
        else:
            rest = (
                EXACT.subtract(lot.qty, take),
                EXACT.subtract(lot.cost, c),
                EXACT.subtract(lot.fee, f),
            )
        if not need:
            return ClosePlan(tuple(closes), full, rest, cost, fee)
    return None


def apply_close(lots: list[Lot], plan: ClosePlan, /) -> None:
    """Consume the lots as `plan` says; the plan must come from `plan_close` on these lots."""
    del lots[: plan.full]
    if plan.rest is not None:
        head = lots[0]
        head.qty, head.cost, head.fee = plan.rest
