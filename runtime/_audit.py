"""Re-check every invariant of the books from scratch, for tests and for an operator's doubt.

The ledger checks each transaction as it posts (balance per asset, holds, lots). This module
checks what those checks add up to, so a bug in the incremental bookkeeping cannot hide behind
the bookkeeping itself. On the state alone it checks the balances, holds, lots and positions
against each other; given a complete `LedgerHistory` (a ledger rebuilt from a journal) it also
re-derives everything from the first transaction up: every transaction balanced per asset, no
holding ever negative, the balances and the hash chain, and realized PnL from the trades' lots.
It costs O(postings): call it in tests, after a rebuild, or on demand, never per fill.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from decimal import Decimal

import msgspec

from runtime._ledger_history import LedgerHistory
from runtime._lots import EXACT, ZERO
from runtime._postings import Accounts, LedgerState


class AuditProblem(msgspec.Struct, frozen=True, kw_only=True):
    """The first invariant that does not hold, and where: a transaction and posting if known."""

    check: str
    detail: str
    tx: int | None = None
    posting: int | None = None
    account: str = ""

    def __str__(self) -> str:
        where = "" if self.tx is None else f"transaction {self.tx}"
        if self.posting is not None:
            where += f" posting {self.posting}"
        if self.account:
            where += f" `{self.account}`"
        return f"{self.check}: {where.strip()}: {self.detail}" if where else self.detail


def audit(state: LedgerState, history: LedgerHistory | None = None, /) -> None:
    """Raise AssertionError naming the first invariant of the books that does not hold."""
    problem = find_problem(state, history)
    if problem is not None:
        raise AssertionError(str(problem))


def find_problem(
    state: LedgerState, history: LedgerHistory | None = None, /
) -> AuditProblem | None:
    """Return the first invariant of the books that does not hold, or None."""
    if history is not None and history.complete:
        found = _history_problem(state, history)
        if found is not None:
            return found
    return _state_problem(state)


def _state_problem(st: LedgerState) -> AuditProblem | None:
    if set(st.assets) != set(st.balances):
        return AuditProblem(check="accounts", detail="accounts without an asset, or vice versa")
    per_asset: dict[str, Decimal] = defaultdict(Decimal)
    for account, amount in st.balances.items():
        per_asset[st.assets[account]] = EXACT.add(per_asset[st.assets[account]], amount)
    for asset, total in per_asset.items():
        if total:
            return AuditProblem(check="balanced", detail=f"the books are off by {total} `{asset}`")

    holds: dict[str, Decimal] = defaultdict(Decimal)
    for order_id, hold in st.holds.items():
        if hold.order_id != order_id or hold.amount <= 0:
            return AuditProblem(check="holds", detail=f"bad hold of `{order_id}`")
        holds[hold.account] = EXACT.add(holds[hold.account], hold.amount)
    if dict(holds) != st.held:
        return AuditProblem(check="holds", detail="held amounts differ from the sum of the holds")
    for account, amount in st.balances.items():
        if Accounts.is_holding(account):
            floor = st.held.get(account, ZERO)
            if not amount >= floor >= 0:
                return AuditProblem(
                    check="no negative free balance",
                    account=account,
                    detail=f"balance {amount} is below its holds {floor}",
                )

    # The trading account of an instrument holds, in the quote asset, what its open lots cost;
    # the open lots of an asset in a venue wallet are at most what the wallet holds of it.
    cost: dict[str, Decimal] = defaultdict(Decimal)
    lotted: dict[str, Decimal] = defaultdict(Decimal)
    for key, pos in st.positions.items():
        if key != f"{pos.venue}/{pos.wallet}/{pos.instrument}":
            return AuditProblem(check="positions", detail=f"position `{key}` misfiled")
        trading = Accounts.trading(pos.venue, pos.instrument, pos.quote)
        cost[trading] = EXACT.add(cost[trading], ZERO)  # a flat position's account is at 0
        holding = Accounts.venue(pos.venue, pos.base, pos.wallet)
        seq = 0
        sums = [ZERO, ZERO, ZERO]
        for lot in pos.lots:
            sums = [
                EXACT.add(x, y) for x, y in zip(sums, (lot.qty, lot.cost, lot.fee), strict=True)
            ]
            if not (lot.qty > 0 and lot.cost >= 0 and lot.fee >= 0 and lot.seq > seq):
                return AuditProblem(
                    check="lots", detail=f"bad or misordered lot `{lot.id}` in `{key}`"
                )
            seq = lot.seq
            cost[trading] = EXACT.add(cost[trading], lot.cost)
            lotted[holding] = EXACT.add(lotted[holding], lot.qty)
        if sums != [pos.qty, pos.cost, pos.fee]:
            return AuditProblem(check="lots", detail=f"`{key}` totals differ from its lots")
    for trading, total in cost.items():
        if st.balances.get(trading, ZERO) != total:
            return AuditProblem(
                check="lots cost",
                account=trading,
                detail=f"balance {st.balances.get(trading, ZERO)} != open lots' cost {total}",
            )
    found = {a: q for a, q in lotted.items() if q}
    if found != st.lotted:
        return AuditProblem(check="lots sum to positions", detail=f"{found} != {st.lotted}")
    for account, q in found.items():
        if q > st.balances.get(account, ZERO):
            return AuditProblem(
                check="lots sum to positions",
                account=account,
                detail=f"open lots {q} exceed the balance {st.balances.get(account, ZERO)}",
            )
    for key, fill in (st.fills | st.fills_prev).items():
        if key != f"{fill.venue}/{fill.fill_id}":
            return AuditProblem(check="fills", detail=f"fill `{key}` misfiled")
    return None


def _history_problem(st: LedgerState, h: LedgerHistory) -> AuditProblem | None:
    enc = msgspec.msgpack.Encoder()
    head = bytes(32)
    balances: dict[str, Decimal] = {}
    assets: dict[str, str] = {}
    postings = 0
    for i, tx in enumerate(h.txs):
        if tx.id != i:
            return AuditProblem(check="sequence", tx=i, detail=f"transaction {i} has id {tx.id}")
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for j, p in enumerate(tx.postings):
            if not p.amount:
                return AuditProblem(
                    check="postings", tx=i, posting=j, account=p.account, detail="posts 0"
                )
            if assets.setdefault(p.account, p.asset) != p.asset:
                return AuditProblem(
                    check="postings",
                    tx=i,
                    posting=j,
                    account=p.account,
                    detail=f"posts `{p.asset}` to an account of `{assets[p.account]}`",
                )
            sums[p.asset] = EXACT.add(sums[p.asset], p.amount)
            balances[p.account] = EXACT.add(balances.get(p.account, ZERO), p.amount)
        for asset, total in sums.items():
            if total:
                return AuditProblem(
                    check="double entry",
                    tx=i,
                    posting=len(tx.postings) - 1,
                    detail=f"the transaction is off by {total} `{asset}`",
                )
        for j, p in enumerate(tx.postings):
            if p.amount < 0 and Accounts.is_holding(p.account) and balances[p.account] < 0:
                return AuditProblem(
                    check="no negative balance",
                    tx=i,
                    posting=j,
                    account=p.account,
                    detail=f"leaves the balance at {balances[p.account]}",
                )
        postings += len(tx.postings)
        head = hashlib.sha256(head + enc.encode(tx)).digest()
    n = len(h.txs)
    if (n, postings, head) != (st.tx_count, st.postings, st.tx_head):
        return AuditProblem(
            check="hash chain",
            detail=f"history has {n} transactions ({postings} postings, head {head.hex()}), "
            f"the state {st.tx_count} ({st.postings}, head {st.tx_head.hex()})",
        )
    for account, amount in balances.items():
        if st.balances.get(account) != amount:
            return AuditProblem(
                check="balances",
                account=account,
                detail=f"the postings sum to {amount}, the state says {st.balances.get(account)}",
            )
    if set(balances) != set(st.balances):
        return AuditProblem(check="balances", detail="the state has accounts no posting made")

    # Realized PnL, recomputed from the lots each trade consumed.
    realized: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    gains: dict[str, Decimal] = defaultdict(Decimal)
    trades = {tx.trade_id for tx in h.txs if tx.trade_id}
    for t in h.trades:
        cost = fee = ZERO
        for c in t.closes:
            cost = EXACT.add(cost, c.cost)
            fee = EXACT.add(fee, c.fee)
        gain = EXACT.subtract(t.proceeds, cost)
        if t.id not in trades or cost != t.cost or t.fees < fee:
            return AuditProblem(
                check="realized PnL", detail=f"trade `{t.id}` does not match the lots it closed"
            )
        if EXACT.subtract(gain, t.fees) != t.pnl:
            return AuditProblem(
                check="realized PnL",
                detail=f"trade `{t.id}` pnl {t.pnl} != proceeds - cost - fees",
            )
        realized[t.venue, t.wallet, t.instrument] = EXACT.add(
            realized[t.venue, t.wallet, t.instrument], t.pnl
        )
        quote = t.instrument.partition("/")[2]
        pnl = Accounts.pnl(t.venue, t.instrument, quote)
        gains[pnl] = EXACT.add(gains[pnl], gain)
    if len(trades) != len(h.trades):
        return AuditProblem(check="realized PnL", detail="a sell fill has no trade, or vice versa")
    for pos in st.positions.values():
        got = realized.get((pos.venue, pos.wallet, pos.instrument), ZERO)
        if got != pos.realized:
            return AuditProblem(
                check="realized PnL",
                detail=f"`{pos.venue}/{pos.wallet}/{pos.instrument}` realized {pos.realized},"
                f" its trades {got}",
            )
    for account, gain in gains.items():
        if EXACT.add(st.balances.get(account, ZERO), gain):
            return AuditProblem(
                check="realized PnL",
                account=account,
                detail=f"balance {st.balances.get(account, ZERO)} != -(the trades' gains) {gain}",
            )
    opened = {tx.lot_id for tx in h.txs if tx.lot_id}
    for pos in st.positions.values():
        for lot in pos.lots:
            if lot.id not in opened:
                return AuditProblem(check="lots", detail=f"lot `{lot.id}` was never opened")
    return None
