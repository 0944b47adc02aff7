"""Keep the record of each campaign: its decisions, its fills, its exact PnL; and the report.

A campaign is one directional bet from its entry to its final exit, with the partial exits and
re-entries in between. People judge the strategy campaign by campaign (how long, how many
scale-outs, what it made), so every campaign keeps its own record: the decisions the signal took
(`CampaignStep`) and the money its fills moved, in exact `Decimal`s. A closed campaign's `pnl`
is exact: proceeds - cost - fees of its own fills. An open one is marked at the last close.

`CampaignEnded` is published (and journaled, so replay verifies it) when a campaign closes;
`CampaignReport` sums up the run when the strategy stops (`campaign_report.json` in a
backtest's artifacts), and the strategy's `artifacts()` writes every record to
`campaigns.json` and `campaigns.csv`.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import ClassVar, Literal

import msgspec

from runtime import Message

ZERO = Decimal(0)

Action = Literal["entry", "scale_out", "scale_in", "exit"]

MAX_CAMPAIGNS = 10_000
"""The most closed campaign records a strategy keeps; later ones are counted only."""


class CampaignStep(msgspec.Struct, frozen=True, kw_only=True):
    """One decision: enter, scale out (a partial exit), scale in (a re-entry), or exit."""

    ts: int
    action: Action
    strength: float
    """The signal when the decision was taken."""
    ratio: float
    """The signal over its entry strength (1 at entry)."""
    fraction: Decimal
    """The fraction of the campaign's size to hold from here (0 for the exit)."""
    target: Decimal
    """The position to hold from here, base units."""
    close: Decimal


class CampaignRecord(msgspec.Struct, kw_only=True):
    """One campaign: when, how strong, what it decided, what its fills moved."""

    number: int
    start_ns: int
    end_ns: int = 0
    """When its position came back to zero after the exit; 0 while open."""
    entry_strength: float
    entry_close: Decimal
    size: Decimal
    """The full size, base units (volatility-scaled at entry)."""
    steps: list[CampaignStep] = msgspec.field(default_factory=list)
    partial_exits: int = 0
    re_entries: int = 0
    buys: int = 0
    sells: int = 0
    """Fills, not orders."""
    bought: Decimal = ZERO
    sold: Decimal = ZERO
    cost: Decimal = ZERO
    """Sum of qty x price over buy fills."""
    proceeds: Decimal = ZERO
    """Sum of qty x price over sell fills."""
    fees: Decimal = ZERO
    max_position: Decimal = ZERO
    pnl: Decimal = ZERO
    """proceeds - cost - fees, plus the open position at the last close while open."""

    @property
    def position(self) -> Decimal:
        """Return what the campaign still holds."""
        return self.bought - self.sold

    def fill(self, side: str, qty: Decimal, price: Decimal, fee: Decimal, /) -> None:
        """Count one of the campaign's fills."""
        value = qty * price
        if side == "buy":
            self.buys += 1
            self.bought += qty
            self.cost += value
        else:
            self.sells += 1
            self.sold += qty
            self.proceeds += value
        self.fees += fee
        self.max_position = max(self.max_position, self.position)

    def mark(self, close: Decimal, /) -> Decimal:
        """Set and return the PnL: realized, plus the open position at `close`."""
        self.pnl = self.proceeds - self.cost - self.fees + self.position * close
        return self.pnl


class CampaignEnded(Message, frozen=True, kw_only=True, tag="ml.CampaignEnded"):
    """Announce a closed campaign with its whole record."""

    strategy: str
    instrument: str
    campaign: CampaignRecord


class CampaignReport(Message, frozen=True, kw_only=True, tag="ml.CampaignReport"):
    """Sum up a campaign strategy's run (written to `campaign_report.json`)."""

    report: ClassVar[bool] = True
    artifact: ClassVar[str | None] = "campaign_report.json"

    strategy: str
    instrument: str
    bars: int
    campaigns: int
    """Campaigns started, the open one included."""
    closed: int
    open: bool
    partial_exits: int
    re_entries: int
    with_partial_exit: int
    """Campaigns that scaled out at least once."""
    with_re_entry: int
    winners: int
    """Closed campaigns with pnl > 0."""
    realized_pnl: Decimal
    """Sum of the closed campaigns' exact pnl."""
    open_pnl: Decimal
    """The open campaign's pnl at the last close (0 when none is open)."""
    fees: Decimal
    cash: Decimal
    position: Decimal
    denied: int
    """Intents the risk gate refused."""
    dropped: int
    """Closed records past `MAX_CAMPAIGNS`, counted, not kept."""


CSV_COLUMNS = (
    "number", "start_ns", "end_ns", "entry_strength", "entry_close", "size", "partial_exits",
    "re_entries", "buys", "sells", "bought", "sold", "cost", "proceeds", "fees",
    "max_position", "pnl",
)  # fmt: skip


def records_csv(records: list[CampaignRecord], /) -> bytes:
    """Return one CSV row per campaign (its steps are in `campaigns.json`)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in records:
        w.writerow([getattr(r, name) for name in CSV_COLUMNS])
    return out.getvalue().encode()
