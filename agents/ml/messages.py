"""Define the messages the ml agents publish.

Statistics are floats: they are model outputs, not money that reaches an order or the ledger.
Quoted prices and sizes are exact `Decimal`s on the venue's grid: they are what the orders carry.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from runtime import Message

__all__ = ["ASPaperResult", "IntensityFitFailed", "QuoteUpdate", "QuoterReady"]


class ASPaperResult(Message, frozen=True, kw_only=True, tag="ml.ASPaperResult"):
    """Report one (gamma, strategy) cell of the Avellaneda-Stoikov paper simulation.

    `paths` paths were simulated; stds are sample stds (n - 1). `spread_mean` is the mean over
    paths of each path's time-averaged quoted spread. Render many with `agents.ml.paper.table`.
    """

    report: ClassVar[bool] = True

    gamma: float
    strategy: str
    paths: int
    spread_mean: float
    profit_mean: float
    profit_std: float
    q_mean: float
    q_std: float


class QuoteUpdate(Message, frozen=True, kw_only=True, tag="ml.QuoteUpdate"):
    """Publish the Avellaneda-Stoikov quote the `as_quoter` actor wants resting now.

    A side is `None` (size 0) when it must not be quoted (the inventory cap). `sigma` is the
    absolute mid volatility, price units per sqrt(second); `A` (per second) and `k` (per price
    unit) are the intensity estimate in force; `inventory` is the strategy's position from its
    own fills; `ts` is the kernel time (ns) the quote was computed at.
    """

    key_field: ClassVar[str | None] = "instrument"

    instrument: str
    bid: Decimal | None
    ask: Decimal | None
    bid_size: Decimal
    ask_size: Decimal
    mid: float
    reservation: float
    spread: float | None
    """The model's optimal spread before rounding; `None` when a side is priced at infinity."""
    sigma: float
    A: float
    k: float
    inventory: Decimal
    ts: int


class QuoterReady(Message, frozen=True, kw_only=True, tag="ml.QuoterReady"):
    """Announce that a quoter's estimators are warm: quotes and orders start now, not before."""

    key_field: ClassVar[str | None] = "instrument"

    instrument: str
    sigma: float
    """Absolute mid volatility, price units per sqrt(second)."""
    A: float
    k: float
    trades: int
    """Trades the estimators had seen."""
    ts: int


class IntensityFitFailed(Message, frozen=True, kw_only=True, tag="ml.IntensityFitFailed"):
    """Report an intensity refit that failed; the last good `A` and `k` (if any) stay in force."""

    key_field: ClassVar[str | None] = "instrument"

    instrument: str
    reason: str
    trades: int
    span_secs: float
    A: float | None
    k: float | None
    ts: int
