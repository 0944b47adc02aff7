"""Define the ledger's message contract: what a ledger actor publishes, and the movements it books.

The ledger lives in `runtime`, so its contract does too (as `TradingStateChanged` does): every
agent may import these from `runtime` (the ramp and wallet agents, risk, the control API), and
`kinetic ledger` decodes them with no agent imported. The actor that keeps a ledger
(`agents.execution.ledger_actor.LedgerKeeper`, kind `ledger_keeper`) turns venue events into
fills and these commands into movements, and publishes:

- `Balances`, per holder (a venue wallet or `wallet:<owner>`): total and free per asset, after
  changes, at most once per market-data message or timer (latest wins: it conflates by holder);
- `EconomicSnapshotTaken`, every hour of kernel time (equity, cash, positions, drawdown);
- `LedgerPosted` or `LedgerRefused`, answering each `Book*` command (by its `ref`);
- `LedgerReport` when it stops (`kinetic backtest` writes it to `ledger.json`).

Movements are commands named by what they ask (`BookDeposit`: book a deposit). Send them to the
ledger actor's name, or publish them. `ref` is their idempotency key: a `ref` booked already
(within the ledger's dedupe window) with the same terms changes nothing and is answered again
with `duplicate=True`; with other terms it is refused.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import msgspec

from runtime._message import Message
from runtime._postings import Accounts
from runtime._valuation import EconomicSnapshot


class AssetBalance(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a holder has of one asset: all of it, and the part no open order reserves."""

    total: Decimal
    free: Decimal


class Balances(Message, frozen=True, kw_only=True, tag="ledger.Balances"):
    """Report the balances of one holder (every asset it has held), exact."""

    conflate: ClassVar[bool] = True
    key_field: ClassVar[str | None] = "holder"

    ledger: str
    """The name of the ledger actor."""
    holder: str
    """`<venue>` (its `main` wallet), `<venue>/<wallet>`, or `wallet:<owner>`."""
    venue: str
    wallet: str
    assets: dict[str, AssetBalance]


class EconomicSnapshotTaken(Message, frozen=True, kw_only=True, tag="ledger.EconomicSnapshotTaken"):
    """Report the books valued at the marks: equity, cash, positions, exposure, drawdown."""

    ledger: str
    snapshot: EconomicSnapshot


class BookMovement(Message, frozen=True, kw_only=True, tag="ledger.BookMovement"):
    """Base of the movements a ledger books: assets in, out, between holders, fees."""

    ref: str
    """Idempotency key, unique per movement (a ramp order id, a chain transaction id)."""
    venue: str
    """Where the assets are (or arrive): a venue's name, or `wallet:<owner>`."""
    asset: str
    amount: Decimal
    wallet: str = "main"
    """A venue's sub-wallet; `main` for `wallet:<owner>`."""


class BookDeposit(BookMovement, frozen=True, kw_only=True, tag="ledger.BookDeposit"):
    """Credit `amount` from `source` outside the books; a `cost` basis opens a lot."""

    source: str = "owner"
    cost: Decimal | None = None
    """The total cost of `amount` in `quote` (fees included): opens a lot that sells,
    transfers and withdrawals consume FIFO. None: unlotted (cash, or of unknown cost)."""
    quote: str = ""
    """The asset `cost` is in; default: the ledger's numeraire."""


class BookWithdrawal(BookMovement, frozen=True, kw_only=True, tag="ledger.BookWithdrawal"):
    """Debit `amount` to `dest` outside the books; the lots it takes leave with their cost."""

    dest: str = "owner"


class BookTransfer(BookMovement, frozen=True, kw_only=True, tag="ledger.BookTransfer"):
    """Move `amount` to another holder (venue <-> wallet); the lots it takes travel with it."""

    to_venue: str
    to_wallet: str = "main"


class BookFee(BookMovement, frozen=True, kw_only=True, tag="ledger.BookFee"):
    """Charge a fee outside any fill (a network fee); it spends lots at their cost."""


class LedgerPosted(Message, frozen=True, kw_only=True, tag="ledger.Posted"):
    """Answer a movement: booked as transaction `tx` (None when it was a duplicate)."""

    ledger: str
    ref: str
    kind: str
    tx: int | None
    duplicate: bool = False


class LedgerRefused(Message, frozen=True, kw_only=True, tag="ledger.Refused"):
    """Report a movement or a fill the books refused (the ledger is unchanged), and why."""

    ledger: str
    ref: str
    """The movement's `ref`, or `<venue>/<fill_id>` for a fill."""
    kind: str
    reason: str


class PositionSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One position of the report: its open lots in total, and what it realized."""

    venue: str
    wallet: str
    instrument: str
    open_qty: Decimal
    open_cost: Decimal
    open_fee: Decimal
    lots: int
    realized: Decimal


class LedgerReport(Message, frozen=True, kw_only=True, tag="ledger.LedgerReport"):
    """Sum up the books when the ledger actor stops (written to `ledger.json`)."""

    report: ClassVar[bool] = True
    artifact: ClassVar[str | None] = "ledger.json"

    ledger: str
    numeraire: str
    holders: dict[str, dict[str, AssetBalance]]
    positions: list[PositionSummary]
    snapshot: EconomicSnapshot | None
    """The books at the last marks when it stopped (None when a held asset had no mark)."""
    peak_equity: Decimal | None
    max_drawdown_ratio: Decimal
    transactions: int
    postings: int
    trades: int
    head: str
    """The hash chain over every transaction, hex: equal heads, equal books."""
    fills: int
    duplicates: int
    refused: int
    first_refusal: str
    hourly_snapshots: int


def holder_of(account: str, /) -> tuple[str, str, str, str]:
    """Return (holder, venue, wallet, asset) of a holding account."""
    venue, wallet, asset = Accounts.holder(account)
    holder = venue if wallet == "main" else f"{venue}/{wallet}"
    return holder, venue, wallet, asset
