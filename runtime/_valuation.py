"""Value the books at mark prices: equity, cash, positions, exposure, PnL and drawdown.

The ledger keeps every balance in its own asset's units; a figure in one currency needs prices.
This module is where marks enter, so the books stay exact and free of prices, and the one place
that says what equity, exposure and drawdown mean (docs/ledger.md, "Snapshots").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import msgspec

from runtime._errors import LedgerError
from runtime._lots import _ALLOC, EXACT, ZERO, Position

HOUR_NS = 3_600_000_000_000

_RATIO = Decimal("1e-8")


class Holding(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A non-cash balance of a venue account, valued at its mark."""

    account: str
    asset: str
    qty: Decimal
    mark: Decimal
    value: Decimal


class EconomicSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The books at `ts`, valued in `numeraire` at the marks given.

    `equity = cash + sum(positions.value)`; `exposure = sum(|positions.value|)` (spot: never more
    than equity, i.e. no leverage); `unrealized_pnl` is the open lots at their marks minus what
    they cost (fees included); `drawdown = peak_equity - equity`, the peak taken over every
    snapshot so far, open positions included; `drawdown_ratio` is it over the peak, to 1e-8.
    """

    ts: int
    numeraire: str
    equity: Decimal
    cash: Decimal
    positions: tuple[Holding, ...]
    exposure: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    peak_equity: Decimal
    drawdown: Decimal
    drawdown_ratio: Decimal


class Marks:
    """Look up the price of one unit of an asset in the numeraire, refusing missing marks."""

    __slots__ = ("_marks", "numeraire")

    def __init__(self, marks: Mapping[str, Decimal], numeraire: str, /) -> None:
        self._marks = marks
        self.numeraire = numeraire

    def __call__(self, asset: str, /) -> Decimal:
        """Return the mark of `asset`, keyed by `asset` or by `asset/numeraire`; 1 for cash."""
        if asset == self.numeraire:
            return Decimal(1)
        mark = self._marks.get(asset)
        if mark is None:
            mark = self._marks.get(f"{asset}/{self.numeraire}")
        if mark is None:
            raise LedgerError(f"no mark for `{asset}` in `{self.numeraire}`")
        if type(mark) is not Decimal or not mark.is_finite() or mark < 0:
            raise LedgerError(f"mark of `{asset}` must be a Decimal >= 0, got {mark!r}")
        return mark


def value(
    venue_balances: Iterable[tuple[str, str, Decimal]],
    positions: Iterable[Position],
    marks: Marks,
    /,
    *,
    ts: int,
    peak: Decimal | None,
) -> EconomicSnapshot:
    """Return the snapshot of these venue balances (account, asset, qty) and open positions."""
    cash = marked = exposure = realized = unrealized = ZERO
    held = []
    for account, asset, qty in venue_balances:
        if asset == marks.numeraire:
            cash = EXACT.add(cash, qty)
        elif qty:
            mark = marks(asset)
            worth = EXACT.multiply(qty, mark)
            held.append(Holding(account=account, asset=asset, qty=qty, mark=mark, value=worth))
            marked = EXACT.add(marked, worth)
            exposure = EXACT.add(exposure, abs(worth))
    for pos in positions:
        quote = marks(pos.quote) if pos.lots or pos.realized else ZERO
        realized = EXACT.add(realized, EXACT.multiply(pos.realized, quote))
        if pos.lots:
            paid = EXACT.add(pos.cost, pos.fee)
            worth = EXACT.multiply(pos.qty, marks(pos.base))
            unrealized = EXACT.add(unrealized, EXACT.subtract(worth, EXACT.multiply(paid, quote)))
    equity = EXACT.add(cash, marked)
    peak = equity if peak is None or equity > peak else peak
    drawdown = EXACT.subtract(peak, equity)
    ratio = ZERO
    if drawdown and peak > 0:
        ratio = _ALLOC.divide(drawdown, peak).quantize(_RATIO, context=_ALLOC)
    return EconomicSnapshot(
        ts=ts,
        numeraire=marks.numeraire,
        equity=equity,
        cash=cash,
        positions=tuple(sorted(held, key=lambda h: h.account)),
        exposure=exposure,
        realized_pnl=realized,
        unrealized_pnl=unrealized,
        peak_equity=peak,
        drawdown=drawdown,
        drawdown_ratio=ratio,
    )
