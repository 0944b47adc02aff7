"""Measure the ledger's posting rate: every fill of a backtest goes through it.

Figure:

- `ledger.postings_per_s`: postings per second of `runtime.Ledger` over a trading session of
  orders that reserve funds, fill in one to three parts (each fill a transaction of 6 postings,
  or 5 to 7 for a sell: the trade legs, the realized PnL, the fee) and release what is left; buys
  open FIFO lots, sells consume them. Every check the ledger makes stays on (double entry per
  asset, the negative-balance and hold checks, exact decimal arithmetic). Quick: 10,000 orders;
  full: 30,000. Goal: value >= 200,000 postings/s.

Baseline: a bare loop over the same postings that appends `(account, asset, amount)` tuples to a
list and adds each amount to a dict of `Decimal` balances: the least code that keeps postings
and balances, with none of the ledger's checks, lots or trades.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any

from bench._measure import Figure, best_rates, figure
from runtime import Ledger, LedgerHistory

GOAL_POSTINGS_PER_S = 200_000
FEE_RATE = Decimal("0.001")
CENT = Decimal("0.01")
MINOR = Decimal("1e-8")

Op = tuple[Any, ...]


def session(orders: int, /, *, seed: int = 7) -> list[Op]:
    """Return a deterministic session: a deposit, then orders with their fills and releases."""
    rng = random.Random(seed)
    ops: list[Op] = [("deposit", Decimal(10) ** 9)]
    price = Decimal(60_000)
    held = Decimal(0)
    n = 0
    for i in range(orders):
        price = max(Decimal(1000), price + Decimal(rng.randint(-500, 500)) * CENT)
        side = "sell" if held and rng.random() < 0.5 else "buy"
        qty = Decimal(rng.randint(1, 2_000)).scaleb(-4)
        if side == "sell":
            qty = min(qty, held)
        order_id = f"o{i}"
        asset, amount = ("USDT", qty * price * (1 + FEE_RATE)) if side == "buy" else ("BTC", qty)
        ops.append(("reserve", order_id, asset, amount))
        left = qty
        for part in range(rng.randint(1, 3)):
            take = left if part == 2 or rng.random() < 0.4 else (left / 2).quantize(MINOR)
            if take <= 0:
                continue
            n += 1
            fee = (take * price * FEE_RATE).quantize(MINOR)
            ops.append(("fill", side, take, price, fee, f"f{n}", order_id, f"sig-{i}"))
            left -= take
            held += take if side == "buy" else -take
            if not left:
                break
        ops.append(("release", order_id))
    return ops


def ledger_run(ops: list[Op], /, *, history: bool = False) -> tuple[Ledger, float]:
    """Apply `ops` to a fresh ledger (as the ledger actor keeps it: no history in memory, unless
    `history`); return it and the seconds the ops took."""
    ledger = Ledger(history=LedgerHistory() if history else None)
    fill = ledger.apply_fill
    reserve = ledger.reserve
    release = ledger.release
    t0 = time.perf_counter()
    for ts, op in enumerate(ops):
        kind = op[0]
        if kind == "fill":
            _, side, qty, price, fee, fill_id, order_id, corr = op
            fill(
                "sim",
                "BTC/USDT",
                side,
                qty,
                price,
                fee,
                corr=corr,
                fill_id=fill_id,
                ts=ts,
                order_id=order_id,
            )
        elif kind == "reserve":
            reserve(op[1], "sim", op[2], op[3], corr=op[1], ts=ts)
        elif kind == "release":
            release(op[1])
        else:
            ledger.deposit("sim", "USDT", op[1], corr="fund", ts=ts)
    return ledger, time.perf_counter() - t0


def postings_of(ledger: Ledger, /) -> list[tuple[str, str, Decimal]]:
    """Return every posting of `ledger` (built with a history), in order, as plain tuples."""
    assert ledger.history is not None
    return [(p.account, p.asset, p.amount) for tx in ledger.history.txs for p in tx.postings]


def ledger_rate(ops: list[Op], /) -> float:
    """Return the postings per second of the ledger over `ops`."""
    ledger, seconds = ledger_run(ops)
    return ledger.state.postings / seconds


def baseline_rate(postings: list[tuple[str, str, Decimal]], /) -> float:
    """Return the postings per second of a bare append-and-add loop over `postings`."""
    out: list[tuple[str, str, Decimal]] = []
    append = out.append
    balances: dict[str, Decimal] = {}
    get = balances.get
    zero = Decimal(0)
    t0 = time.perf_counter()
    for account, asset, amount in postings:
        append((account, asset, amount))
        balances[account] = get(account, zero) + amount
    elapsed = time.perf_counter() - t0
    assert len(out) == len(postings)
    return len(postings) / elapsed


def run(quick: bool) -> list[Figure]:
    """Measure the ledger's postings per second against the bare loop."""
    orders = 10_000 if quick else 30_000
    ops = session(orders)
    ledger, _ = ledger_run(ops, history=True)
    ledger.audit()  # the session is valid: every op posted, the books balance from the first
    postings = postings_of(ledger)
    fills = sum(1 for op in ops if op[0] == "fill")
    best = best_rates(
        {"ledger": lambda: ledger_rate(ops), "baseline": lambda: baseline_rate(postings)},
        rounds=3 if quick else 5,
    )
    return [
        figure(
            "ledger.postings_per_s",
            best["ledger"],
            "postings/s",
            baseline=best["baseline"],
            goal=GOAL_POSTINGS_PER_S,
            goal_on="value",
            better="higher",
            note=(
                f"{orders:,} orders, {fills:,} fills, {len(postings):,} postings,"
                f" {ledger.state.trade_seq:,} trades"
            ),
        )
    ]
