"""Keep FIFO lots per position and turn sells into trades with realized PnL, in exact decimals.

The postings of `runtime._ledger` say what moved; lots say what it cost. A buy fill opens one lot,
a sell fill consumes the oldest lots first and becomes one `Trade` whose `closes` name every lot
slice it consumed, so a sell's PnL traces back to the fills (and the `corr`) that bought.

Fees are attributed to PnL when they are paid in the instrument's quote or base asset, or in a
third asset held in lots (its lots' cost is charged; docs/ledger.md has the table).

Lots also leave a position without a trade: a transfer carries them to another venue or wallet,
a withdrawal takes them out of the books, a fee in that asset spends them. Each lot keeps its
acquisition number (`seq`) wherever it goes, so FIFO means oldest acquisition first everywhere.

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


class Lot(msgspec.Struct, kw_only=True, array_like=True, gc=False):
    """An open buy, as much of it as is not sold yet; `cost` and `fee` are in the quote asset."""

    id: str
    seq: int
    """The acquisition number (`lot-<seq>`): lots are consumed in this order, oldest first."""
    corr: str
    fill_id: str
    """The fill that bought it, or the `ref` of the deposit that brought it with a cost basis."""
    ts: int
    price: Decimal
    """The unit cost at acquisition (a fill's price; a deposit's cost / qty, to the quantum)."""
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


class LotMove(msgspec.Struct, frozen=True, kw_only=True, array_like=True, gc=False):
    """A slice of a lot that a transfer, a withdrawal or a fee took out of its position."""

    instrument: str
    lot_id: str
    qty: Decimal
    cost: Decimal
    fee: Decimal


class Trade(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A sell fill against FIFO lots, with its realized PnL in the quote asset.

    `pnl = proceeds - cost - fees`, where `cost` and the buy part of `fees` come from the lots
    consumed and the rest of `fees` is the sell's own fee: in the quote, or the cost of the
    third-asset lots it spent.
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
    # Invariant: every lot here has qty > 0, and lots are in `seq` order (oldest acquisition first).
    lots: list[Lot] = msgspec.field(default_factory=list)
    realized: Decimal = ZERO
    """The sum of this position's trades' `pnl`, in the quote asset."""
    # Invariant: qty, cost and fee are the sums over `lots` (kept so valuing is O(1), not O(lots)).
    qty: Decimal = ZERO
    cost: Decimal = ZERO
    fee: Decimal = ZERO

    def open_qty(self) -> Decimal:
        """Return the base quantity held in open lots."""
        return self.qty

    def add(self, lot: Lot, /) -> None:
        """Open `lot`, the newest acquisition of all (its `seq` is the largest yet)."""
        self.lots.append(lot)
        self._count(lot.qty, lot.cost, lot.fee)

    def insert(self, lot: Lot, /) -> None:
        """Put a lot that arrived from elsewhere (a transfer) in its `seq` place."""
        insert_lot(self.lots, lot)
        self._count(lot.qty, lot.cost, lot.fee)

    def close(self, plan: ClosePlan, /) -> None:
        """Consume the lots as `plan` (from `plan_close` on these lots) says."""
        apply_close(self.lots, plan)
        self._count(-plan.qty, -plan.cost, -plan.fee)

    def _count(self, qty: Decimal, cost: Decimal, fee: Decimal, /) -> None:
        self.qty = EXACT.add(self.qty, qty)
        self.cost = EXACT.add(self.cost, cost)
        self.fee = EXACT.add(self.fee, fee)


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
    qty: Decimal
    """The quantity consumed, all lots together."""


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
            return ClosePlan(tuple(closes), full, rest, cost, fee, qty)
    return None


def apply_close(lots: list[Lot], plan: ClosePlan, /) -> None:
    """Consume the lots as `plan` says; the plan must come from `plan_close` on these lots."""
    del lots[: plan.full]
    if plan.rest is not None:
        head = lots[0]
        head.qty, head.cost, head.fee = plan.rest


def slices(lots: Sequence[Lot], plan: ClosePlan, /) -> list[Lot]:
    """Return what `plan` takes from `lots`, as lots that keep their id and `seq` (call first)."""
    out = []
    for lot, c in zip(lots, plan.closes, strict=False):
        out.append(
            Lot(
                id=lot.id, seq=lot.seq, corr=lot.corr, fill_id=lot.fill_id, ts=lot.ts,
                price=lot.price, qty=c.qty, cost=c.cost, fee=c.fee,
            )
        )  # fmt: skip
    return out


def insert_lot(lots: list[Lot], lot: Lot, /) -> None:
    """Put `lot` among `lots` in `seq` order; a slice of a lot already there joins it."""
    i = len(lots)
    while i and lots[i - 1].seq > lot.seq:
        i -= 1
    if i and lots[i - 1].seq == lot.seq:
        same = lots[i - 1]
        same.qty = EXACT.add(same.qty, lot.qty)
        same.cost = EXACT.add(same.cost, lot.cost)
        same.fee = EXACT.add(same.fee, lot.fee)
        return
    lots.insert(i, lot)
