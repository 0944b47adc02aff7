"""Re-check every invariant of the books from scratch, for tests and for an operator's doubt.

The ledger checks each transaction as it posts (balance per asset, venue accounts never below
their holds). This module checks what those checks add up to, from the transactions up, so a bug
in the incremental bookkeeping cannot hide behind the bookkeeping itself. It costs O(postings);
call it in tests, after a restore, or on demand, not per fill.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from runtime._lots import EXACT, ZERO
from runtime._postings import Accounts, LedgerState


def _check(ok: bool, what: str, /) -> None:
    if not ok:
        raise AssertionError(what)


def audit(state: LedgerState, /) -> None:
    """Raise AssertionError naming the first invariant of `state` that does not hold."""
    replayed: dict[str, Decimal] = {}
    for i, tx in enumerate(state.txs):
        _check(tx.id == i, f"transaction {i} has id {tx.id}")
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for p in tx.postings:
            _check(p.amount != 0, f"transaction {i} posts 0 to `{p.account}`")
            _check(state.assets.get(p.account) == p.asset, f"`{p.account}` mixes assets")
            sums[p.asset] = EXACT.add(sums[p.asset], p.amount)
            replayed[p.account] = EXACT.add(replayed.get(p.account, ZERO), p.amount)
        _check(not any(sums.values()), f"transaction {i} does not balance: {dict(sums)}")
    _check(replayed == state.balances, "balances differ from the sum of their postings")
    _check(set(state.assets) == set(state.balances), "accounts without an asset, or vice versa")

    per_asset: dict[str, Decimal] = defaultdict(Decimal)
    for account, amount in state.balances.items():
        per_asset[state.assets[account]] = EXACT.add(per_asset[state.assets[account]], amount)
    _check(not any(per_asset.values()), f"the books do not sum to zero: {dict(per_asset)}")

    holds: dict[str, Decimal] = defaultdict(Decimal)
    for order_id, hold in state.holds.items():
        _check(hold.order_id == order_id and hold.amount > 0, f"bad hold of `{order_id}`")
        holds[hold.account] = EXACT.add(holds[hold.account], hold.amount)
    _check(dict(holds) == state.held, "held amounts differ from the sum of the holds")
    for account, amount in state.balances.items():
        if account.startswith("venue:"):
            floor = state.held.get(account, ZERO)
            _check(amount >= floor >= 0, f"`{account}` is {amount}, below its holds {floor}")

    # The trading account of an instrument holds, in the quote asset, what its open lots cost.
    cost: dict[str, Decimal] = defaultdict(Decimal)
    for key, pos in state.positions.items():
        _check(key == f"{pos.venue}/{pos.wallet}/{pos.instrument}", f"position `{key}` misfiled")
        realized = ZERO
        for t in state.trades:
            if (t.venue, t.wallet, t.instrument) == (pos.venue, pos.wallet, pos.instrument):
                realized = EXACT.add(realized, t.pnl)
        _check(realized == pos.realized, f"position `{key}` realized {pos.realized} != {realized}")
        trading = Accounts.trading(pos.venue, pos.instrument, pos.quote)
        cost[trading] = EXACT.add(cost[trading], ZERO)  # a flat position's account is at 0
        for lot in pos.lots:
            _check(lot.qty > 0 and lot.cost >= 0 and lot.fee >= 0, f"bad lot `{lot.id}`")
            cost[trading] = EXACT.add(cost[trading], lot.cost)
    for trading, total in cost.items():
        _check(state.balances.get(trading, ZERO) == total, f"`{trading}` != open lot cost {total}")
    for key, tx_id in state.fills.items():
        fill = state.txs[tx_id].fill
        _check(fill is not None and key == f"{fill.venue}/{fill.fill_id}", f"fill `{key}` lost")
