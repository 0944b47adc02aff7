"""Hold the ledger's state and its one write path: every transaction is checked here, then applied.

`Books` is the base of `runtime.Ledger`: the state, the optional history, the dedupe window and
`_post`, which checks a transaction (double entry per asset, holds, lots) and raises before any
write, then applies it and extends the hash chain over transactions. Kept apart so the rules
that make the books trustworthy read on one page; `runtime._ledger` and `runtime._ledger_moves`
only plan transactions and hand them here.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from runtime._errors import LedgerError
from runtime._ledger_history import LedgerHistory
from runtime._lots import EXACT, ZERO, LotMove
from runtime._postings import Fill, Hold, LedgerState, Posting, Transaction, TransactionKind

if TYPE_CHECKING:
    from runtime._fills import Market

DEDUPE_WINDOW = 10_000
"""Fills and movement refs remembered for deduplication: at least the latest this many of each
(at most twice as many are kept)."""


class Books:
    """The state of a ledger and the checks every write passes; see `runtime.Ledger`."""

    __slots__ = ("_enc", "_markets", "_quantum", "dedupe_window", "history", "numeraire", "state")

    def __init__(
        self,
        *,
        numeraire: str = "USDT",
        alloc_places: int = 8,
        dedupe_window: int = DEDUPE_WINDOW,
        state: LedgerState | None = None,
        history: LedgerHistory | None = None,
    ) -> None:
        self.numeraire = numeraire
        self.state = state if state is not None else LedgerState()
        self.history = history
        self.dedupe_window = dedupe_window
        self._quantum = Decimal(1).scaleb(-alloc_places)
        self._markets: dict[tuple[str, str, str], Market] = {}
        self._enc = msgspec.msgpack.Encoder()

    def _booked(self, ref: str, terms: str, /) -> bool:
        """Return whether movement `ref` was booked with `terms`; refuse it with other terms."""
        if not ref:
            return False
        prior = self.state.refs.get(ref)
        if prior is None:
            prior = self.state.refs_prev.get(ref)
        if prior is None:
            return False
        if prior != terms:
            raise LedgerError(f"`ref` {ref} was booked with other terms: {prior}")
        return True

    def _unhold(self, account: str, amount: Decimal, /) -> None:
        held = self.state.held
        left = EXACT.subtract(held[account], amount)
        if left:
            held[account] = left
        else:
            del held[account]

    # -- the one write path -----------------------------------------------------------------------

    def _post(
        self,
        kind: TransactionKind,
        legs: tuple[Posting, ...],
        debited: tuple[str, ...],
        *,
        corr: str,
        ts: int,
        fill: Fill | None = None,
        ref: str = "",
        terms: str = "",
        lot_id: str = "",
        trade_id: str = "",
        lots_out: tuple[LotMove, ...] = (),
        lotted: tuple[tuple[str, Decimal], ...] = (),
        hold: Hold | None = None,
    ) -> Transaction:
        """Check one transaction and apply it; raise `LedgerError` before any write if it fails."""
        if type(ts) is not int:
            raise LedgerError(f"`ts` must be an `int` (ns), got {ts!r}")
        st = self.state
        bal = st.balances
        after: dict[str, Decimal] = {}
        sums: dict[str, Decimal] = {}
        for p in legs:
            a = p.account
            before = after.get(a)
            after[a] = EXACT.add(bal.get(a, ZERO) if before is None else before, p.amount)
            sums[p.asset] = EXACT.add(sums.get(p.asset, ZERO), p.amount)
        # Invariant: every transaction sums to zero in each asset (double entry), always checked.
        for asset, total in sums.items():
            if total:
                raise AssertionError(f"transaction of `{corr}` is off by {total} `{asset}`")
        # A fill spends its own order's hold first: that part of the hold stops counting.
        use = ZERO
        if hold is not None and hold.account in after:
            spent = EXACT.subtract(bal.get(hold.account, ZERO), after[hold.account])
            if spent > 0:
                use = min(spent, hold.amount)
        held = st.held
        in_lots = st.lotted
        for a in debited:
            # Invariant: a venue account never falls below what open orders hold, nor below 0.
            floor = held.get(a, ZERO)
            if use and hold is not None and a == hold.account:
                floor = EXACT.subtract(floor, use)
            if after[a] < floor:
                now = bal.get(a, ZERO)
                raise LedgerError(
                    f"insufficient funds in `{a}`: needs {EXACT.subtract(now, after[a])},"
                    f" free {EXACT.subtract(now, floor)}"
                )
            # Invariant: open lots never hold more than their account; only what leaves a
            # holding as lots (a sell, a transfer, a withdrawal, a fee) may spend lotted units.
            lots = in_lots.get(a)
            if lots is not None:
                for acct, d in lotted:
                    if acct == a:
                        lots = EXACT.add(lots, d)
                if after[a] < lots:
                    now = bal.get(a, ZERO)
                    raise LedgerError(
                        f"insufficient unlotted funds in `{a}`: needs"
                        f" {EXACT.subtract(now, after[a])}, unlotted"
                        f" {EXACT.subtract(now, in_lots[a])} (lots leave by a sell)"
                    )
        # -- writes: nothing below raises --
        n = len(bal)
        bal.update(after)
        if len(bal) != n:
            for p in legs:
                if p.account not in st.assets:
                    st.assets[p.account] = p.asset
        for acct, d in lotted:
            if d:
                left = EXACT.add(in_lots.get(acct, ZERO), d)
                if left:
                    in_lots[acct] = left
                else:
                    del in_lots[acct]
        if use and hold is not None:
            hold.amount = EXACT.subtract(hold.amount, use)
            self._unhold(hold.account, use)
            if not hold.amount:
                del st.holds[hold.order_id]
        if ref:
            st.refs[ref] = terms
            if len(st.refs) >= self.dedupe_window:
                st.refs_prev = st.refs
                st.refs = {}
        tx = Transaction(
            id=st.tx_count,
            kind=kind,
            corr=corr,
            ts=ts,
            postings=legs,
            fill=fill,
            ref=ref,
            lot_id=lot_id,
            trade_id=trade_id,
            lots_out=lots_out,
        )
        st.tx_count += 1
        st.postings += len(legs)
        st.tx_head = hashlib.sha256(st.tx_head + self._enc.encode(tx)).digest()
        if self.history is not None:
            self.history.txs.append(tx)
        return tx
