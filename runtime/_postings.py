"""Define the vocabulary of the books: account names, postings, transactions, fills and holds.

These are the values the ledger stores and returns, its whole state among them, kept apart from
the code that writes them (`runtime._ledger`) so the chart of accounts reads on one page. Every
struct here encodes to msgpack and JSON unchanged; amounts are exact `Decimal`s.

The chart of accounts. Amounts are signed, debit positive; each account holds one asset, and
every transaction sums to zero per asset. A *location* is where assets sit: a venue (with its
sub-wallets, `main` by default) or a wallet outside any venue, named `wallet:<owner>`.

    venue:<venue>/asset:<A>/wallet:<w>         what we hold at a venue: never below what is held
    wallet:<owner>/asset:<A>                   what a wallet outside any venue holds (same rules)
    trading:<loc>/instrument:<I>/asset:<A>     the market, counterparty of our fills; in the
                                               quote asset its balance is the open lots' cost
    fees:<loc>/asset:<A>                       fees paid (debit)
    pnl:<loc>/instrument:<I>/asset:<Q>         realized gross gains (credit) and losses (debit)
    basis:<loc>/instrument:<I>/asset:<Q>       cost basis that came in with deposited lots
                                               (credit) or left with withdrawn ones (debit)
    external:<source>/asset:<A>                the world outside the books: deposits (credit)
                                               and withdrawals (debit), by source
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from runtime._errors import LedgerError
from runtime._lots import LotMove, Position
from runtime._valuation import EconomicSnapshot

WALLET = "wallet:"
"""The prefix of a location that is a wallet outside any venue (`wallet:<owner>`)."""


def positive(name: str, x: object, /) -> Decimal:
    """Return `x` if it is a finite `Decimal` > 0, else raise `LedgerError` naming `name`."""
    if type(x) is not Decimal:
        raise LedgerError(f"`{name}` must be a `Decimal`, got `{type(x).__name__}` {x!r}")
    if not x.is_finite() or x <= 0:
        raise LedgerError(f"`{name}` must be > 0, got {x}")
    return x


Side = Literal["buy", "sell"]
TransactionKind = Literal["deposit", "withdrawal", "transfer", "fill", "fee"]
MovementKind = Literal["deposit", "withdrawal", "transfer", "fee"]


def location(venue: str, wallet: str, /) -> None:
    """Raise `LedgerError` unless (`venue`, `wallet`) names a place that can hold assets."""
    if not venue or "/" in venue or not wallet or "/" in wallet:
        raise LedgerError(
            f"`venue` and `wallet` must be names without '/', got {venue!r} {wallet!r}"
        )
    if venue.startswith(WALLET) and (wallet != "main" or venue == WALLET):
        raise LedgerError(f"`{venue}` is a wallet outside any venue: no `wallet` {wallet!r}")


class Accounts:
    """Name the accounts of the chart (above); the ledger and its readers build names only here."""

    @staticmethod
    def venue(venue: str, asset: str, wallet: str = "main", /) -> str:
        """Return the account of `asset` held in `wallet` at `venue` (or at `wallet:<owner>`)."""
        if venue.startswith(WALLET):
            return f"{venue}/asset:{asset}"
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
    def basis(venue: str, instrument: str, asset: str, /) -> str:
        """Return the account of cost basis that deposits brought and withdrawals took away."""
        return f"basis:{venue}/instrument:{instrument}/asset:{asset}"

    @staticmethod
    def external(source: str, asset: str, /) -> str:
        """Return the account of `asset` that entered from or left to `source`."""
        return f"external:{source}/asset:{asset}"

    @staticmethod
    def is_holding(account: str, /) -> bool:
        """Return whether `account` holds our assets (a venue or a wallet account)."""
        return account.startswith(("venue:", WALLET))

    @staticmethod
    def holder(account: str, /) -> tuple[str, str, str]:
        """Return (venue or `wallet:<owner>`, wallet, asset) of a holding account."""
        if account.startswith(WALLET):
            owner, _, asset = account.partition("/asset:")
            return owner, "main", asset
        body = account.removeprefix("venue:")
        venue, _, rest = body.partition("/asset:")
        asset, _, wallet = rest.rpartition("/wallet:")
        return venue, wallet, asset


class Posting(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One line of a transaction: `amount` (debit > 0, credit < 0, never 0) of `asset`."""

    account: str
    asset: str
    amount: Decimal


class Fill(msgspec.Struct, frozen=True, kw_only=True, array_like=True, gc=False):
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


class Transaction(msgspec.Struct, frozen=True, kw_only=True, array_like=True, gc=False):
    """A balanced transaction; its postings share its `corr` (signal -> order -> fill)."""

    id: int
    kind: TransactionKind
    corr: str
    ts: int
    postings: tuple[Posting, ...]
    fill: Fill | None = None
    ref: str = ""
    """The idempotency reference of a deposit, withdrawal, transfer or fee ("" if none)."""
    lot_id: str = ""
    """The lot a buy fill, or a deposit with a cost basis, opened."""
    trade_id: str = ""
    """The trade a sell fill made; the trade names the lots it consumed."""
    lots_out: tuple[LotMove, ...] = ()
    """The lot slices a transfer carried away, a withdrawal took out, or a fee spent."""


class Hold(msgspec.Struct, kw_only=True, gc=False):
    """Funds reserved for an open order: not free to spend, yet still in the balance."""

    order_id: str
    account: str
    asset: str
    amount: Decimal
    corr: str
    ts: int


class LedgerState(msgspec.Struct, kw_only=True):
    """Everything a ledger needs to go on; encodes to msgpack and back unchanged (exact decimals).

    Bounded by what is open (accounts, holds, open lots, the dedupe window), never by history:
    the transactions and trades themselves live in the journal (a `LedgerHistory` keeps them
    when asked to); the state keeps their count and a hash chain over them.
    """

    balances: dict[str, Decimal] = msgspec.field(default_factory=dict)
    assets: dict[str, str] = msgspec.field(default_factory=dict)
    """The asset of each account that has ever been posted to."""
    # Invariant: held[a] == sum of holds on a, and 0 <= held[a] <= balances[a].
    held: dict[str, Decimal] = msgspec.field(default_factory=dict)
    holds: dict[str, Hold] = msgspec.field(default_factory=dict)
    # Invariant: lotted[a] == the open lots' qty of a's asset at a's venue wallet, <= balances[a].
    lotted: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """Per holding account, how much of it sits in open lots (the rest is unlotted)."""
    positions: dict[str, Position] = msgspec.field(default_factory=dict)
    # Dedupe in two generations: when `fills` reaches the window it becomes `fills_prev` and a
    # new generation starts, so the latest `dedupe_window` fills at least are always known.
    fills: dict[str, Fill] = msgspec.field(default_factory=dict)
    """`<venue>/<fill_id>` -> its terms, for the latest fills (the dedupe window)."""
    fills_prev: dict[str, Fill] = msgspec.field(default_factory=dict)
    refs: dict[str, str] = msgspec.field(default_factory=dict)
    """The `ref` of the latest movements -> their terms (the same window, the same way)."""
    refs_prev: dict[str, str] = msgspec.field(default_factory=dict)
    tx_count: int = 0
    tx_head: bytes = bytes(32)
    """`sha256(previous head || msgpack(transaction))` over every transaction so far."""
    postings: int = 0
    lot_seq: int = 0
    trade_seq: int = 0
    peak_equity: Decimal | None = None
    max_drawdown_ratio: Decimal = msgspec.field(default_factory=Decimal)
    last_hour: int = -1
    last_snapshot: EconomicSnapshot | None = None
