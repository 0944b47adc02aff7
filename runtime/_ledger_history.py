"""Keep what the books did, when someone asks: transactions, trades, snapshots, traces by corr.

The ledger's state holds only what it needs to go on (balances, holds, open lots, a hash chain
over its transactions), so a long run's state stays small and its snapshots cheap. The history
itself lives in the journal: `kinetic ledger` rebuilds a ledger from a run with a
`LedgerHistory` attached, and reads transactions, trades and traces from it. Tests attach one
to check every posting.
"""

from __future__ import annotations

import msgspec

from runtime._lots import LotClose, Trade
from runtime._postings import Fill, LedgerState, Transaction
from runtime._valuation import EconomicSnapshot


class LedgerHistory:
    """Everything a ledger posted since it was attached (`start` = transactions before that)."""

    __slots__ = ("snapshots", "start", "trades", "txs")

    def __init__(self, *, start: int = 0) -> None:
        self.start = start
        self.txs: list[Transaction] = []
        self.trades: list[Trade] = []
        self.snapshots: list[EconomicSnapshot] = []
        """The hourly snapshots, oldest first."""

    @property
    def complete(self) -> bool:
        """Return whether it holds every transaction of the books (attached to a new ledger)."""
        return self.start == 0

    def truncate(self, state: LedgerState, /) -> None:
        """Forget what came after `state` (the books went back to it: a restart restored it)."""
        del self.txs[max(0, state.tx_count - self.start) :]
        self.trades = [
            t for t in self.trades if int(t.id.removeprefix("trade-")) <= state.trade_seq
        ]
        last = state.last_snapshot.ts if state.last_snapshot is not None else None
        self.snapshots = [s for s in self.snapshots if last is not None and s.ts <= last]


class Trace(msgspec.Struct, frozen=True, kw_only=True):
    """What one `corr` did to the books: Order -> Fill -> Lot -> Trade, and who closed its lots."""

    corr: str
    txs: tuple[Transaction, ...]
    orders: tuple[str, ...]
    fills: tuple[Fill, ...]
    lots: tuple[str, ...]
    """The lots its buys (and deposits with a cost basis) opened."""
    trades: tuple[Trade, ...]
    """The trades its sells made; each trade's `closes` names the lots (and their corr) consumed."""
    closed_by: tuple[LotClose, ...]
    """The slices of its lots that trades (of any corr) consumed."""


def trace(history: LedgerHistory, corr: str, /) -> Trace:
    """Return what `corr` did, as far as `history` saw."""
    txs = tuple(tx for tx in history.txs if tx.corr == corr)
    fills = tuple(tx.fill for tx in txs if tx.fill is not None)
    return Trace(
        corr=corr,
        txs=txs,
        orders=tuple(dict.fromkeys(f.order_id for f in fills if f.order_id)),
        fills=fills,
        lots=tuple(tx.lot_id for tx in txs if tx.lot_id),
        trades=tuple(t for t in history.trades if t.corr == corr),
        closed_by=tuple(c for t in history.trades for c in t.closes if c.lot_corr == corr),
    )
