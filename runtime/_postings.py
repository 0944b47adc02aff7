"""Define the vocabulary of the books: account names, postings, transactions, fills and holds.

These are the values the ledger stores and returns, its whole state among them, kept apart from
the code that writes them (`runtime._ledger`) so the chart of accounts reads on one page. Every
struct here encodes to msgpack and JSON unchanged; amounts are exact `Decimal`s.

The chart of accounts. Amounts are signed, debit positive; each account holds one asset, and
every transaction sums to zero per asset.

    venue:<venue>/asset:<A>/wallet:<w>         what we hold at a venue: never below what is held
    trading:<venue>/instrument:<I>/asset:<A>   the market, counterparty of our fills; in the
                                               quote asset its balance is the open lots' cost
    fees:<venue>/asset:<A>                     fees paid (debit)
    pnl:<venue>/instrument:<I>/asset:<Q>       realized gross gains (credit) and losses (debit)
    external:<source>/asset:<A>                the world outside the books: deposits (credit)
                                               and withdrawals (debit), by source
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from runtime._errors import LedgerError
from runtime._lots import Position, Trade
from runtime._valuation import EconomicSnapshot


def positive(name: str, x: object, /) -> Decimal:
    """Return `x` if it is a finite `Decimal` > 0, else raise `LedgerError` naming `name`."""
    if type(x) is not Decimal:
        raise LedgerError(f"`{name}` must be a `Decimal`, got `{type(x).__name__}` {x!r}")
    if not x.is_finite() or x <= 0:
        raise LedgerError(f"`{name}` must be > 0, got {x}")
    return x


Side = Literal["buy", "sell"]
TransactionKind = Literal["deposit", "withdrawal", "transfer", "fill", "fee"]


class Accounts:
    """Name the accounts of the chart (above); the ledger and its readers build names only here."""

    @staticmethod
    def venue(venue: str, asset: str, wallet: str = "main", /) -> str:
        """Return the account of `asset` held in `wallet` at `venue`."""
        return f"venue:{venue}/asset:{asset}/wallet:{wallet}"

    @staticmethod
    def trading(venue: str, instrument: str, asset: str, /) -> str:
        """Return the counterparty account of fills of `instrument` at `venue`, in `asset`."""
        return f"trading:{venue}/instrument:{instrument}/asset:{asset}"

    @staticmethod
    def fees(venue: str, asset: str, /) -> str:
        """Return the account of fees paid at `venue` in `asset`."""
        return f"fees:{venue}/asset:{asset}"

    @staticmethod
    def pnl(venue: str, instrument: str, asset: str, /) -> str:
        """Return the account of gross realized PnL of `instrument` at `venue`."""
        return f"pnl:{venue}/instrument:{instrument}/asset:{asset}"

    @staticmethod
    def external(source: str, asset: str, /) -> str:
        """Return the account of `asset` that entered from or left to `source`."""
        return f"external:{source}/asset:{asset}"


class Posting(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One line of a transaction: `amount` (debit > 0, credit < 0, never 0) of `asset`."""

    account: str
    asset: str
    amount: Decimal


class Fill(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a venue reported about one fill: the terms a fill transaction was built from."""

    venue: str
    wallet: str
    instrument: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    fill_id: str
    order_id: str


class Transaction(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A balanced transaction; its postings share its `corr` (signal -> order -> fill)."""

    id: int
    kind: TransactionKind
    corr: str
    ts: int
    postings: tuple[Posting, ...]
    fill: Fill | None = None
    lot_id: str = ""
    """The lot a buy fill opened."""
    trade_id: str = ""
    """The trade a sell fill made; the trade names the lots it consumed."""


class Hold(msgspec.Struct, kw_only=True, gc=False):
    """Funds reserved for an open order: not free to spend, yet still in the balance."""

    order_id: str
    account: str
    asset: str
    amount: Decimal
    corr: str
    ts: int


class LedgerState(msgspec.Struct, kw_only=True):
    """Everything a ledger knows; encodes to msgpack and back unchanged (exact decimals)."""

    balances: dict[str, Decimal] = msgspec.field(default_factory=dict)
    assets: dict[str, str] = msgspec.field(default_factory=dict)
    """The asset of each account that has ever been posted to."""
    # Invariant: held[a] == sum of holds on a, and 0 <= held[a] <= balances[a].
    held: dict[str, Decimal] = msgspec.field(default_factory=dict)
    holds: dict[str, Hold] = msgspec.field(default_factory=dict)
    txs: list[Transaction] = msgspec.field(default_factory=list)
    fills: dict[str, int] = msgspec.field(default_factory=dict)
    """`<venue>/<fill_id>` -> the id of the transaction it made."""
    positions: dict[str, Position] = msgspec.field(default_factory=dict)
    trades: list[Trade] = msgspec.field(default_factory=list)
    lot_seq: int = 0
    peak_equity: Decimal | None = None
    last_hour: int = -1
    snapshots: list[EconomicSnapshot] = msgspec.field(default_factory=list)
    """The hourly snapshots, oldest first."""
