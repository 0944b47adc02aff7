"""Plan what moves assets without a trade: deposits, withdrawals, transfers, fees; lots follow.

A holding (a venue wallet, or `wallet:<owner>`) is part *lotted* (open lots, each with its cost)
and part *unlotted* (deposited without a cost basis, or cash such as the numeraire). Whatever
leaves a holding without a trade takes the unlotted part first, then lots FIFO by acquisition
across every position of that asset there, so a sell (which may only sell lots) keeps its lots
as long as anything else can pay. A transfer carries the lots it takes to the same instrument at
the destination; a withdrawal takes their cost out of the books (`basis`); a fee expenses it
(`fees`). Like `runtime._fills`, nothing here writes: the ledger applies a plan only once every
check has passed.

    deposit x (cost C in Q):  holding +x          external -x
                              trading/Q +C         basis/Q -C          then a lot of x opens
    withdrawal x:             holding -x          external +x
                              trading/Q -c         basis/Q +c          for the lots it takes
    transfer x:               holding(from) -x    holding(to) +x
                              trading(from)/Q -c   trading(to)/Q +c    lots move with it
    fee f in F:               holding(F) -f       fees/F +f
                              trading/Q -c         fees/Q +c           for the lots it spends
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from runtime._errors import LedgerError
from runtime._ledger_post import Books
from runtime._lots import (
    _ALLOC,
    EXACT,
    ZERO,
    ClosePlan,
    Lot,
    LotMove,
    Position,
    plan_close,
    slices,
)
from runtime._postings import (
    Accounts,
    LedgerState,
    Posting,
    Transaction,
    TransactionKind,
    location,
    positive,
)


class Take(msgspec.Struct, frozen=True, gc=False):
    """What taking `qty` out of a holding does to its lots, computed before anything changes."""

    account: str
    qty: Decimal
    lotted: Decimal
    """The part taken from open lots (`qty` minus what the unlotted part paid)."""
    parts: tuple[tuple[str, ClosePlan], ...]
    """Position key -> how its lots are consumed, oldest acquisition first over all positions."""


def plan_take(
    st: LedgerState, venue: str, wallet: str, asset: str, qty: Decimal, /, *, quantum: Decimal
) -> Take:
    """Return how `qty` of `asset` leaves a holding: unlotted first, then lots FIFO.

    Taking more than the holding has is not refused here: the posting's balance check refuses it
    with the amounts, so the error reads the same as any other shortfall.
    """
    account = Accounts.venue(venue, asset, wallet)
    lotted = st.lotted.get(account, ZERO)
    if not lotted:
        return Take(account, qty, ZERO, ())
    unlotted = EXACT.subtract(st.balances.get(account, ZERO), lotted)
    need = EXACT.subtract(qty, unlotted) if qty > unlotted else ZERO
    need = min(need, lotted)
    if not need:
        return Take(account, qty, ZERO, ())
    # Oldest acquisition first over every position of `asset` in this venue wallet; each
    # position gives a prefix of its own lots (they are in `seq` order), so plan per position.
    lots = sorted(
        (lot.seq, key, lot.qty)
        for key, pos in st.positions.items()
        if pos.base == asset and pos.venue == venue and pos.wallet == wallet
        for lot in pos.lots
    )
    per: dict[str, Decimal] = {}
    left = need
    for _, key, q in lots:
        t = min(q, left)
        per[key] = EXACT.add(per.get(key, ZERO), t)
        left = EXACT.subtract(left, t)
        if not left:
            break
    parts = []
    for key, t in per.items():
        plan = plan_close(st.positions[key].lots, t, trade_id="", quantum=quantum)
        assert plan is not None  # t is at most the position's open quantity
        parts.append((key, plan))
    return Take(account, qty, need, tuple(parts))


def lot_moves(st: LedgerState, take: Take, /) -> tuple[LotMove, ...]:
    """Return the lot slices `take` removes, for the transaction's record."""
    out = []
    for key, plan in take.parts:
        instrument = st.positions[key].instrument
        for c in plan.closes:
            out.append(
                LotMove(instrument=instrument, lot_id=c.lot_id, qty=c.qty, cost=c.cost, fee=c.fee)
            )
    return tuple(out)


def cost_legs(st: LedgerState, take: Take, to: str, /, *, to_venue: str = "") -> list[Posting]:
    """Return the postings that move the cost of the lots `take` spends out of `trading`.

    `to` is where it goes: `basis` (a withdrawal), `fees` (a fee), or `trading` at `to_venue`
    (a transfer; nothing moves between two wallets of one venue, which share the account).
    """
    legs = []
    for key, plan in take.parts:
        if not plan.cost:
            continue
        pos = st.positions[key]
        q = pos.quote
        if to == "trading":
            if to_venue == pos.venue:
                continue
            dest = Accounts.trading(to_venue, pos.instrument, q)
        elif to == "basis":
            dest = Accounts.basis(pos.venue, pos.instrument, q)
        else:
            dest = Accounts.fees(pos.venue, q)
        legs.append(Posting(Accounts.trading(pos.venue, pos.instrument, q), q, -plan.cost))
        legs.append(Posting(dest, q, plan.cost))
    return legs


def deposit_lot(
    venue: str,
    wallet: str,
    asset: str,
    amount: Decimal,
    cost: Decimal,
    quote: str,
    /,
    *,
    corr: str,
    ref: str,
    ts: int,
    seq: int,
    quantum: Decimal,
) -> tuple[str, Lot, list[Posting]]:
    """Return the instrument, the lot and the cost postings of a deposit with a cost basis."""
    location(venue, wallet)
    if type(cost) is not Decimal or not cost.is_finite() or cost < 0:
        raise LedgerError(f"`cost` must be a `Decimal` >= 0, got {cost!r}")
    if not quote or "/" in quote or quote == asset:
        raise LedgerError(f"`quote` of a cost basis must be another asset than `{asset}`")
    instrument = f"{asset}/{quote}"
    try:
        price = EXACT.divide(cost, amount)
    except ArithmeticError:
        price = _ALLOC.divide(cost, amount).quantize(quantum, context=_ALLOC)
    lot = Lot(
        id=f"lot-{seq}", seq=seq, corr=corr, fill_id=ref, ts=ts, price=price, qty=amount,
        cost=cost, fee=ZERO,
    )  # fmt: skip
    legs = []
    if cost:
        legs.append(Posting(Accounts.trading(venue, instrument, quote), quote, cost))
        legs.append(Posting(Accounts.basis(venue, instrument, quote), quote, -cost))
    return instrument, lot, legs


class Movements(Books):
    """The ledger's deposits, withdrawals, transfers and fees (a base of `runtime.Ledger`)."""

    __slots__ = ()

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
        ref: str = "",
        cost: Decimal | None = None,
        quote: str = "",
    ) -> Transaction | None:
        """Credit `amount` of `asset` to a venue wallet (or `wallet:<owner>`) from `source`.

        With `cost` (the total cost basis, in `quote`, default the numeraire) the amount opens
        a lot that later sells, transfers and withdrawals consume FIFO; without it the amount is
        unlotted (cash, or coins of unknown cost, which a sell cannot take). Return None if
        `ref` was booked already with the same terms.
        """
        amount = positive("amount", amount)
        location(venue, wallet)
        terms = f"deposit|{venue}|{wallet}|{asset}|{amount}|{source}|{cost}|{quote}"
        if self._booked(ref, terms):
            return None
        to = Accounts.venue(venue, asset, wallet)
        legs = [
            Posting(to, asset, amount),
            Posting(Accounts.external(source, asset), asset, -amount),
        ]
        st = self.state
        lot = None
        if cost is not None:
            instrument, lot, cost_legs_ = deposit_lot(
                venue, wallet, asset, amount, cost, quote or self.numeraire, corr=corr, ref=ref,
                ts=ts, seq=st.lot_seq + 1, quantum=self._quantum,
            )  # fmt: skip
            legs += cost_legs_
        tx = self._post(
            "deposit",
            tuple(legs),
            (),
            corr=corr,
            ts=ts,
            ref=ref,
            terms=terms,
            lot_id=lot.id if lot is not None else "",
            lotted=((to, amount),) if lot is not None else (),
        )
        if lot is not None:
            st.lot_seq += 1
            base, _, q = instrument.partition("/")
            key = f"{venue}/{wallet}/{instrument}"
            pos = st.positions.get(key)
            if pos is None:
                pos = st.positions[key] = Position(
                    venue=venue, wallet=wallet, instrument=instrument, base=base, quote=q
                )
            pos.add(lot)
        return tx

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
        ref: str = "",
    ) -> Transaction | None:
        """Debit `amount` of `asset` to `dest` outside the books; its lots' cost leaves too."""
        amount = positive("amount", amount)
        location(venue, wallet)
        terms = f"withdrawal|{venue}|{wallet}|{asset}|{amount}|{dest}"
        if self._booked(ref, terms):
            return None
        take = plan_take(self.state, venue, wallet, asset, amount, quantum=self._quantum)
        legs = [
            Posting(take.account, asset, -amount),
            Posting(Accounts.external(dest, asset), asset, amount),
            *cost_legs(self.state, take, "basis"),
        ]
        return self._moved("withdrawal", legs, take, corr=corr, ts=ts, ref=ref, terms=terms)

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
        ref: str = "",
    ) -> Transaction | None:
        """Move `amount` of `asset` between venue wallets or wallets; lots travel with it."""
        amount = positive("amount", amount)
        location(venue, wallet)
        location(to_venue, to_wallet)
        to = Accounts.venue(to_venue, asset, to_wallet)
        if to == Accounts.venue(venue, asset, wallet):
            raise LedgerError(f"`transfer` needs two accounts, got `{to}` twice")
        terms = f"transfer|{venue}|{wallet}|{to_venue}|{to_wallet}|{asset}|{amount}"
        if self._booked(ref, terms):
            return None
        take = plan_take(self.state, venue, wallet, asset, amount, quantum=self._quantum)
        legs = [
            Posting(take.account, asset, -amount),
            Posting(to, asset, amount),
            *cost_legs(self.state, take, "trading", to_venue=to_venue),
        ]
        return self._moved(
            "transfer",
            legs,
            take,
            corr=corr,
            ts=ts,
            ref=ref,
            terms=terms,
            to=(to_venue, to_wallet, to),
        )

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
        ref: str = "",
    ) -> Transaction | None:
        """Post a fee charged outside a fill (a withdrawal fee, say); no trade bears it."""
        amount = positive("amount", amount)
        location(venue, wallet)
        terms = f"fee|{venue}|{wallet}|{asset}|{amount}"
        if self._booked(ref, terms):
            return None
        take = plan_take(self.state, venue, wallet, asset, amount, quantum=self._quantum)
        legs = [
            Posting(take.account, asset, -amount),
            Posting(Accounts.fees(venue, asset), asset, amount),
            *cost_legs(self.state, take, "fees"),
        ]
        return self._moved("fee", legs, take, corr=corr, ts=ts, ref=ref, terms=terms)

    def _moved(
        self,
        kind: TransactionKind,
        legs: list[Posting],
        take: Take,
        /,
        *,
        corr: str,
        ts: int,
        ref: str,
        terms: str,
        to: tuple[str, str, str] | None = None,
    ) -> Transaction:
        """Post a movement out of `take.account`, then move or drop the lots it took."""
        lotted: tuple[tuple[str, Decimal], ...] = ()
        moves: tuple[LotMove, ...] = ()
        if take.lotted:
            lotted = ((take.account, -take.lotted),)
            if to is not None:
                lotted += ((to[2], take.lotted),)
            moves = lot_moves(self.state, take)
        tx = self._post(
            kind, tuple(legs), (take.account,), corr=corr, ts=ts, ref=ref, terms=terms,
            lotted=lotted, lots_out=moves,
        )  # fmt: skip
        self._apply_take(take, to)
        return tx

    def _apply_take(self, take: Take, to: tuple[str, str, str] | None, /) -> None:
        """Consume the lots `take` planned; a transfer puts them in the same market at `to`."""
        positions = self.state.positions
        for key, plan in take.parts:
            pos = positions[key]
            moved = slices(pos.lots, plan) if to is not None else ()
            pos.close(plan)
            if to is None:
                continue
            dest_key = f"{to[0]}/{to[1]}/{pos.instrument}"
            dest = positions.get(dest_key)
            if dest is None:
                dest = positions[dest_key] = Position(
                    venue=to[0], wallet=to[1], instrument=pos.instrument, base=pos.base,
                    quote=pos.quote,
                )  # fmt: skip
            for lot in moved:
                dest.insert(lot)
