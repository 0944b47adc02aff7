"""Keep the books: double-entry postings in exact units, per venue, asset and wallet.

Every money figure Kinetic reports (balances, PnL, equity, risk's no-leverage check) derives from
these postings, so this is where exactness and balance are enforced: on every transaction, in
production too (TigerBeetle's rule). The ledger takes plain values, not agent messages, because
`runtime` imports no agent; its state is one `msgspec.Struct`, so the actor that owns a ledger
snapshots and restores it like any other state.

The chart of accounts is in `runtime._postings` (`Accounts`) and docs/ledger.md. A refused
operation raises `LedgerError` and changes nothing: every check runs before the first write,
and every write goes through `Ledger._post`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec

from runtime._audit import audit
from runtime._errors import LedgerError
from runtime._fills import Market, plan_fill
from runtime._lots import EXACT, ZERO, LotClose, Position, Trade, apply_close
from runtime._postings import (
    Accounts,
    Fill,
    Hold,
    LedgerState,
    Posting,
    Side,
    Transaction,
    TransactionKind,
    positive,
)
from runtime._valuation import HOUR_NS, EconomicSnapshot, Marks, value


class Trace(msgspec.Struct, frozen=True, kw_only=True):
    """What one `corr` did to the books: Order -> Fill -> Lot -> Trade, and who closed its lots."""

    corr: str
    txs: tuple[Transaction, ...]
    orders: tuple[str, ...]
    fills: tuple[Fill, ...]
    lots: tuple[str, ...]
    """The lots its buys opened."""
    trades: tuple[Trade, ...]
    """The trades its sells made; each trade's `closes` names the lots (and their corr) consumed."""
    closed_by: tuple[LotClose, ...]
    """The slices of its lots that trades (of any corr) consumed."""


class Ledger:
    """Post deposits, transfers, fees and fills; keep FIFO lots, trades, holds and snapshots.

    `numeraire` is the asset snapshots value in (cash is what is held of it). `alloc_places` sets
    the quantum (10**-alloc_places) to which an inexact pro-rata share of a lot is rounded.
    Pass `state` to continue from a restored `LedgerState`.
    """

    __slots__ = ("_markets", "_quantum", "numeraire", "state")

    def __init__(
        self, *, numeraire: str = "USDT", alloc_places: int = 8, state: LedgerState | None = None
    ) -> None:
        self.numeraire = numeraire
        self.state = state if state is not None else LedgerState()
        self._quantum = Decimal(1).scaleb(-alloc_places)
        self._markets: dict[tuple[str, str, str], Market] = {}

    # -- queries ------------------------------------------------------------------------------

    def balance(self, account: str, /) -> Decimal:
        """Return the balance of `account` (0 if never posted to)."""
        return self.state.balances.get(account, ZERO)

    def held(self, account: str, /) -> Decimal:
        """Return how much of `account` is reserved for open orders."""
        return self.state.held.get(account, ZERO)

    def free(self, account: str, /) -> Decimal:
        """Return the balance of `account` not reserved for open orders."""
        return EXACT.subtract(self.balance(account), self.held(account))

    def balances(self, prefix: str = "", /) -> dict[str, Decimal]:
        """Return the balances of the accounts whose name starts with `prefix`, sorted by name."""
        bal = self.state.balances
        return {a: bal[a] for a in sorted(bal) if a.startswith(prefix)}

    def position(self, venue: str, instrument: str, /, *, wallet: str = "main") -> Position | None:
        """Return the position (open lots, realized PnL) of `instrument` in a venue wallet."""
        return self.state.positions.get(f"{venue}/{wallet}/{instrument}")

    def trace(self, corr: str, /) -> Trace:
        """Return what `corr` did: its transactions, orders, fills, lots and trades."""
        st = self.state
        txs = tuple(tx for tx in st.txs if tx.corr == corr)
        fills = tuple(tx.fill for tx in txs if tx.fill is not None)
        return Trace(
            corr=corr,
            txs=txs,
            orders=tuple(dict.fromkeys(f.order_id for f in fills if f.order_id)),
            fills=fills,
            lots=tuple(tx.lot_id for tx in txs if tx.lot_id),
            trades=tuple(t for t in st.trades if t.corr == corr),
            closed_by=tuple(c for t in st.trades for c in t.closes if c.lot_corr == corr),
        )

    # -- money in, out and between ------------------------------------------------------------

    def deposit(
        self,
        venue: str,
        asset: str,
        amount: Decimal,
        /,
        *,
        corr: str,
        ts: int,
        wallet: str = "main",
        source: str = "owner",
    ) -> Transaction:
        """Credit `amount` of `asset` to a venue wallet from `source` outside the books."""
        amount = positive("amount", amount)
        to = Accounts.venue(venue, asset, wallet)
        legs = (
            Posting(to, asset, amount),
            Posting(Accounts.external(source, asset), asset, -amount),
        )
        return self._post("deposit", legs, (), corr=corr, ts=ts)

    def withdraw(
        self,
        venue: str,
        asset: str,
        amount: Decimal,
        /,
        *,
        corr: str,
        ts: int,
        wallet: str = "main",
        dest: str = "owner",
    ) -> Transaction:
        """Debit `amount` of `asset` from a venue wallet to `dest` outside the books."""
        amount = positive("amount", amount)
        frm = Accounts.venue(venue, asset, wallet)
        legs = (
            Posting(frm, asset, -amount),
            Posting(Accounts.external(dest, asset), asset, amount),
        )
        return self._post("withdrawal", legs, (frm,), corr=corr, ts=ts)

    def transfer(
        self,
        venue: str,
        to_venue: str,
        asset: str,
        amount: Decimal,
        /,
        *,
        corr: str,
        ts: int,
        wallet: str = "main",
        to_wallet: str = "main",
    ) -> Transaction:
        """Move `amount` of `asset` between venue wallets (lots stay with their position)."""
        amount = positive("amount", amount)
        frm = Accounts.venue(venue, asset, wallet)
        to = Accounts.venue(to_venue, asset, to_wallet)
        legs = (Posting(frm, asset, -amount), Posting(to, asset, amount))
        return self._post("transfer", legs, (frm,), corr=corr, ts=ts)

    def charge_fee(
        self,
        venue: str,
        asset: str,
        amount: Decimal,
        /,
        *,
        corr: str,
        ts: int,
        wallet: str = "main",
    ) -> Transaction:
        """Post a fee charged outside a fill (a withdrawal fee, say); no trade bears it."""
        amount = positive("amount", amount)
        frm = Accounts.venue(venue, asset, wallet)
        legs = (Posting(frm, asset, -amount), Posting(Accounts.fees(venue, asset), asset, amount))
        return self._post("fee", legs, (frm,), corr=corr, ts=ts)

    def reserve(
        self,
        order_id: str,
        venue: str,
        asset: str,
        amount: Decimal,
        /,
        *,
        corr: str,
        ts: int,
        wallet: str = "main",
    ) -> Hold:
        """Reserve `amount` of a venue wallet's free `asset` for order `order_id`.

        Fills of that order spend the hold first; `release` frees what is left (on cancel, or
        when the order is done).
        """
        st = self.state
        amount = positive("amount", amount)
        if not order_id:
            raise LedgerError("`order_id` must not be empty")
        if order_id in st.holds:
            raise LedgerError(f"`order_id` {order_id} already holds funds")
        account = Accounts.venue(venue, asset, wallet)
        free = self.free(account)
        if amount > free:
            raise LedgerError(f"cannot reserve {amount} `{asset}` in `{account}`, free {free}")
        hold = Hold(
            order_id=order_id, account=account, asset=asset, amount=amount, corr=corr, ts=ts
        )
        st.holds[order_id] = hold
        st.held[account] = EXACT.add(self.held(account), amount)
        return hold

    def release(self, order_id: str, /) -> Decimal:
        """Free what order `order_id` still holds and return it (0 if it holds nothing)."""
        st = self.state
        hold = st.holds.pop(order_id, None)
        if hold is None:
            return ZERO
        self._unhold(hold.account, hold.amount)
        return hold.amount

    def _unhold(self, account: str, amount: Decimal, /) -> None:
        held = self.state.held
        left = EXACT.subtract(held[account], amount)
        if left:
            held[account] = left
        else:
            del held[account]

    # -- fills ----------------------------------------------------------------------------------

    def apply_fill(
        self,
        venue: str,
        instrument: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        fee: Decimal = ZERO,
        fee_asset: str = "",
        /,
        *,
        corr: str,
        fill_id: str,
        ts: int,
        order_id: str = "",
        wallet: str = "main",
    ) -> Transaction:
        """Post a spot fill (`fee_asset` defaults to the quote); open a lot or close lots FIFO.

        A buy moves `qty * price` of the quote out of the venue wallet and `qty` of the base in,
        and opens a lot; a sell does the reverse, consumes lots FIFO and records a `Trade`. A
        fill already applied (same venue and `fill_id`) with the same terms returns its
        transaction again and changes nothing; with other terms it is refused.
        """
        st = self.state
        m = self._markets.get((venue, wallet, instrument))
        if m is None:
            m = self._markets[venue, wallet, instrument] = Market.of(venue, wallet, instrument)
        fill = Fill(
            venue=venue,
            wallet=wallet,
            instrument=instrument,
            side=side,
            qty=qty,
            price=price,
            fee=fee,
            fee_asset=fee_asset or m.quote,
            fill_id=fill_id,
            order_id=order_id,
        )
        key = f"{venue}/{fill_id}"
        prior = st.fills.get(key)
        if prior is not None:
            tx = st.txs[prior]
            if tx.fill != fill:
                raise LedgerError(f"`fill_id` {fill_id} at `{venue}` was applied with other terms")
            return tx
        if not fill_id:
            raise LedgerError("`fill_id` must not be empty")
        pos = st.positions.get(m.key)
        plan = plan_fill(
            fill,
            m,
            pos,
            corr=corr,
            ts=ts,
            lot_id=f"lot-{st.lot_seq + 1}",
            trade_id=f"trade-{len(st.trades) + 1}",
            quantum=self._quantum,
        )
        lot, trade = plan.lot, plan.trade
        tx = self._post(
            "fill",
            plan.legs,
            plan.debited,
            corr=corr,
            ts=ts,
            fill=fill,
            lot_id=lot.id if lot is not None else "",
            trade_id=trade.id if trade is not None else "",
            hold=st.holds.get(order_id) if order_id else None,
        )
        # Past `_post` nothing can fail: the lots and the trade follow the postings.
        st.fills[key] = tx.id
        if pos is None:
            pos = st.positions[m.key] = Position(
                venue=venue, wallet=wallet, instrument=instrument, base=m.base, quote=m.quote
            )
        if lot is not None:
            st.lot_seq += 1
            pos.lots.append(lot)
        elif plan.close is not None and trade is not None:
            apply_close(pos.lots, plan.close)
            st.trades.append(trade)
            pos.realized = EXACT.add(pos.realized, trade.pnl)
        return tx

    def audit(self) -> None:
        """Re-check every invariant of the books from the transactions up; raise AssertionError."""
        audit(self.state)

    # -- valuation ------------------------------------------------------------------------------

    def snapshot(self, marks: Mapping[str, Decimal], /, *, ts: int) -> EconomicSnapshot:
        """Value the books at `marks` (per asset, or per `ASSET/<numeraire>`); raise the peak."""
        st = self.state
        bal = st.balances
        venue = ((a, st.assets[a], bal[a]) for a in sorted(bal) if a.startswith("venue:"))
        positions = (st.positions[k] for k in sorted(st.positions))
        snap = value(venue, positions, Marks(marks, self.numeraire), ts=ts, peak=st.peak_equity)
        st.peak_equity = snap.peak_equity
        return snap

    def hourly(self, marks: Mapping[str, Decimal], /, *, ts: int) -> EconomicSnapshot | None:
        """Return a snapshot, kept in the state, on the first call of each hour; else None.

        Call it as time passes (a timer, each tick): the first call at or after an hour boundary
        takes that hour's snapshot at the marks given. Hours with no call are skipped.
        """
        hour = ts // HOUR_NS
        if hour <= self.state.last_hour:
            return None
        snap = self.snapshot(marks, ts=ts)
        self.state.last_hour = hour
        self.state.snapshots.append(snap)
        return snap

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
        lot_id: str = "",
        trade_id: str = "",
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
        # -- writes: nothing below raises --
        n = len(bal)
        bal.update(after)
        if len(bal) != n:
            for p in legs:
                if p.account not in st.assets:
                    st.assets[p.account] = p.asset
        if use and hold is not None:
            hold.amount = EXACT.subtract(hold.amount, use)
            self._unhold(hold.account, use)
            if not hold.amount:
                del st.holds[hold.order_id]
        tx = Transaction(
            id=len(st.txs),
            kind=kind,
            corr=corr,
            ts=ts,
            postings=legs,
            fill=fill,
            lot_id=lot_id,
            trade_id=trade_id,
        )
        st.txs.append(tx)
        return tx
