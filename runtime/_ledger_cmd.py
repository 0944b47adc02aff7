"""Give operators `kinetic ledger`: a run's books rebuilt from its journal, shown and verified.

The ledger is a read model (DESIGN.md §3): nothing stores it but the journal. `rebuild` makes a
fresh ledger actor of the run's config (the agent of kind `ledger_keeper`, or `--keeper NAME`),
with a `LedgerHistory` attached so every transaction and trade is kept, and drives it:

- level `full` (the daemon's journals; backtests recorded at `full`): every stored envelope is
  decoded by its tag and redelivered to the keeper in journal order; the keeper's recorded
  outputs are compared with what it derives again, so a rebuild that diverges says so;
- level `inputs` (backtests): fills are outputs, not stored, so the run is re-executed from its
  recorded inputs and seed as `kinetic replay --verify` does, every row and checkpoint compared.
  The run's data files must be where its config says (run from the same directory).

Message tags resolve through the registry: the run's agent and adapter kinds are loaded through
their entry points first, which imports their `messages` modules; `runtime` names none of them.

Subcommands: `balances`, `lots`, `trades` print rich tables (or JSON with `--json`); `verify`
re-checks the books from the first transaction (double entry per transaction, no holding ever
negative, holds within balances, lots summing to at most their holdings and to the trading
accounts, realized PnL recomputed from the lots each trade closed, the hash chain) and exits 1
naming the first bad transaction and posting. Errors are one line, `kinetic: <reason>`: exit 2
for bad input, 1 when the run does not rebuild.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
import click
import msgspec

from runtime import _app
from runtime._audit import find_problem
from runtime._cli_common import fail as _fail
from runtime._errors import ConfigError, JournalBrokenError, KineticError
from runtime._journal import RunInfo, Store, verify_rows
from runtime._ledger import Ledger
from runtime._ledger_history import LedgerHistory
from runtime._ledger_messages import holder_of
from runtime._message import CODEC, message_types
from runtime._recovery import conflation_skips
from runtime._replay import replay
from runtime._sim import SimKernel
from runtime.config import KineticConfig

if TYPE_CHECKING:
    from runtime.cli import _Ctx

KEEPER_KIND = "ledger_keeper"


class Rebuilt(NamedTuple):
    """A run's ledger rebuilt from its journal, and how."""

    run: RunInfo
    keeper: str
    how: str
    """`redelivered` (level `full`) or `re-executed` (level `inputs`)."""
    rows: int
    ledger: Ledger
    """The books, with a complete `LedgerHistory`."""
    marks: dict[str, Decimal]
    """The keeper's last marks (instrument -> price), for equity."""


def _iso(ns: int, /) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- rebuilding ---------------------------------------------------------------------------------


def _load_kinds(cfg: KineticConfig, source: str, /) -> None:
    """Import every agent and adapter kind of the run, so its message tags decode."""
    for i, agent in enumerate(cfg.agents):
        _app.load_kind(_app.AGENTS, agent.kind, where=f"$.agents[{i}].kind", source=source)
    for i, ad in enumerate(cfg.adapters):
        _app.load_kind(_app.ADAPTERS, ad.kind, where=f"$.adapters[{i}].kind", source=source)


def _keeper_name(cfg: KineticConfig, run: RunInfo, keeper: str | None, /) -> str:
    if keeper is not None:
        if not any(a.name == keeper for a in cfg.agents):
            names = ", ".join(a.name for a in cfg.agents) or "none"
            raise ConfigError(f"run `{run.run_id}` has no agent `{keeper}` (agents: {names})")
        return keeper
    for agent in cfg.agents:
        if agent.kind == KEEPER_KIND:
            return agent.name
    raise ConfigError(
        f"run `{run.run_id}` has no `{KEEPER_KIND}` agent, so no books to rebuild; "
        f"name the actor that keeps them with --keeper"
    )


def _attach(kernel: Any, name: str, /) -> Ledger:
    """Give the keeper's ledger a history (every transaction from the first); return it."""
    actor = kernel.cells[name].actor
    ledger = getattr(actor, "ledger", None)
    if not isinstance(ledger, Ledger):
        raise ConfigError(f"agent `{name}` keeps no `runtime.Ledger` (no `ledger` attribute)")
    ledger.history = LedgerHistory(start=ledger.state.tx_count)
    return ledger


async def _pick_run(store: Store, run_id: str | None, /) -> RunInfo:
    if run_id is not None:
        run = await store.get_run(run_id)
        if run is None:
            raise ConfigError(f"unknown run `{run_id}`")
        return run
    runs = await store.list_runs()
    if not runs:
        raise ConfigError("the store has no runs")
    return runs[-1]


async def rebuild(
    store: Store,
    run_id: str | None,
    /,
    *,
    keeper: str | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> Rebuilt:
    """Rebuild the ledger of `run_id` (default: the latest run) from `store`; see the docstring.

    `progress(done, total)` is called as the work advances. Raises `ConfigError` for a run that
    has no ledger to rebuild, `KineticError` for one whose journal does not rebuild it.
    """
    run = await _pick_run(store, run_id)
    source = f"run {run.run_id}"
    cfg = _app.config_of(run)
    _load_kinds(cfg, source)
    name = _keeper_name(cfg, run, keeper)
    if run.level == "off":
        raise ConfigError(f"run `{run.run_id}` was recorded at journal level `off`: no journal")
    if run.level == "full":
        return await _redeliver(store, run, cfg, name, progress)
    return await _reexecute(store, run, cfg, name, progress)


async def _redeliver(
    store: Store,
    run: RunInfo,
    cfg: KineticConfig,
    name: str,
    progress: Callable[[int, int], Any] | None,
) -> Rebuilt:
    kernel = SimKernel(seed=run.seed, run_id=run.run_id, effect_namespace=f"{run.run_id}:")
    for spec in _app.actor_specs(cfg, source=f"run {run.run_id}"):
        if spec.name == name:
            kernel.add_actor(spec)
    ledger = _attach(kernel, name)
    last = await store.last_row(run.run_id)
    total = last.seq if last is not None else 0
    skips = await conflation_skips(store, run.run_id, after_seq=0)
    known = message_types()
    kernel.begin_redelivery()
    state = None
    rows = 0
    try:
        async for batch in store.read(run.run_id):
            state = verify_rows(run.run_id, batch, state=state)
            for row in batch:
                rows += 1
                if row.kind == "ck" or row.type not in known:
                    continue  # a message no imported module defines: not one the keeper reads
                env = CODEC.decode(row.data)
                if not kernel.redeliver(env, row.data, skips):
                    d = kernel.divergence
                    assert d is not None
                    raise KineticError(
                        f"the ledger of run `{run.run_id}` does not rebuild: seq {d.seq} "
                        f"({d.actor}): {d.detail}; expected {d.expected}; got {d.got}"
                    )
            if progress is not None and batch:
                progress(batch[-1].seq, total)
    except JournalBrokenError as exc:
        raise KineticError(f"journal broken run={exc.run_id} seq={exc.seq}: {exc}") from exc
    kernel.end_redelivery()
    return Rebuilt(
        run=run, keeper=name, how="redelivered", rows=rows, ledger=ledger,
        marks=_marks(kernel.cells[name].actor),
    )  # fmt: skip


async def _reexecute(
    store: Store,
    run: RunInfo,
    cfg: KineticConfig,
    name: str,
    progress: Callable[[int, int], Any] | None,
) -> Rebuilt:
    if run.kernel != "sim":
        raise ConfigError(f"run `{run.run_id}` is a live run at level `{run.level}`: no outputs")
    built: dict[str, Any] = {}

    def build(run_: RunInfo, /, *, sink: Any) -> Any:
        kernel: Any = _app.build_replay_kernel(run_, sink=sink)  # a `Backtest`: sim runs only
        built["ledger"] = _attach(kernel, name)
        built["kernel"] = kernel
        drive = kernel.run_to_end
        if progress is not None:
            kernel.run_to_end = lambda: drive(progress=lambda i, n, _seq: progress(i, n))
        return kernel

    build.checkpoint_every = cfg.journal.checkpoint_every  # type: ignore[attr-defined]
    report = await replay(store, run.run_id, build=build)
    d = report.divergence
    if d is not None:
        raise KineticError(
            f"the ledger of run `{run.run_id}` does not rebuild: the run does not replay at "
            f"seq {d.seq} ({d.actor}): {d.detail}"
        )
    return Rebuilt(
        run=run, keeper=name, how="re-executed", rows=report.rows, ledger=built["ledger"],
        marks=_marks(built["kernel"].cells[name].actor),
    )  # fmt: skip


def _marks(actor: Any, /) -> dict[str, Decimal]:
    marks = getattr(getattr(actor, "state", None), "marks", None)
    return dict(marks) if isinstance(marks, dict) else {}


# -- the commands -------------------------------------------------------------------------------


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("rebuilding the ledger"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("rebuild", total=1)
        yield lambda done, total: bar.update(task, completed=done, total=max(total, 1))


def _rebuilt(obj: _Ctx, run_id: str | None, keeper: str | None) -> Rebuilt:
    try:
        cfg, _ = obj.load()
    except KineticError as exc:
        _fail(str(exc), 2)

    async def go(progress: Callable[[int, int], None] | None) -> Rebuilt:
        store = _app.open_store(cfg, obj.data_dir)
        await store.open()
        try:
            return await rebuild(store, run_id, keeper=keeper, progress=progress)
        finally:
            await store.close()

    try:
        with _progress(enabled=True) as progress:
            return anyio.run(go, progress)
    except ConfigError as exc:
        _fail(str(exc), 2)
    except KineticError as exc:
        _fail(str(exc), 1)


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--run", "run_id", default=None, help="The run; default: the latest."),
            click.option(
                "--keeper",
                default=None,
                help=f"The agent that keeps the books; default: the `{KEEPER_KIND}` one.",
            ),
            click.option("--json", "as_json", is_flag=True, help="JSON instead of a table."),
        ]
    ):
        fn = option(fn)
    return fn


def _echo_json(body: Any, /) -> None:
    click.echo(json.dumps(msgspec.to_builtins(body)))


def _table(title: str, *columns: str) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c, justify="left" if c in _TEXT else "right")
    return table


_TEXT = frozenset(
    {"holder", "asset", "account", "instrument", "lot", "corr", "from", "trade", "time", "venue"}
) | {"lots"}


def _print(table: Any, /) -> None:
    from rich.console import Console

    Console(width=200).print(table)


@click.group("ledger")
def ledger() -> None:
    """Rebuild a run's books from its journal: balances, lots, trades; verify every posting."""


@ledger.command("balances")
@_common
@click.option("--all", "all_accounts", is_flag=True, help="Every account, not only holdings.")
@click.pass_obj
def balances_cmd(
    obj: _Ctx, /, run_id: str | None, keeper: str | None, as_json: bool, all_accounts: bool
) -> None:
    """Print each holder's balances: total, held by open orders, free, and not in lots."""
    r = _rebuilt(obj, run_id, keeper)
    book: Ledger = r.ledger
    holders: dict[str, dict[str, dict[str, Decimal]]] = {}
    for account, total in book.holdings().items():
        holder, _, _, asset = holder_of(account)
        holders.setdefault(holder, {})[asset] = {
            "total": total,
            "held": book.held(account),
            "free": book.free(account),
            "unlotted": book.unlotted(account),
        }
    try:
        snap = book.snapshot(r.marks, ts=0) if r.marks or not _non_cash(book) else None
    except KineticError:
        snap = None
    if as_json:
        body: dict[str, Any] = {
            "run_id": r.run.run_id,
            "ledger": r.keeper,
            "numeraire": book.numeraire,
            "holders": holders,
            "marks": r.marks,
            "equity": snap.equity if snap is not None else None,
        }
        if all_accounts:
            body["accounts"] = book.balances()
        _echo_json(body)
        return
    table = _table(f"balances of run {r.run.run_id} ({r.keeper})", "holder", "asset", "total",
                   "held", "free", "unlotted")  # fmt: skip
    for holder, assets in holders.items():
        for asset, row in assets.items():
            table.add_row(
                holder, asset, *(str(row[k]) for k in ("total", "held", "free", "unlotted"))
            )
    _print(table)
    if snap is not None:
        click.echo(f"equity {snap.equity} {book.numeraire} at the last marks")
    if all_accounts:
        every = _table("every account", "account", "balance")
        for account, amount in book.balances().items():
            every.add_row(account, str(amount))
        _print(every)


def _non_cash(book: Ledger, /) -> bool:
    return any(
        amount and book.state.assets[a] != book.numeraire for a, amount in book.holdings().items()
    )


@ledger.command("lots")
@_common
@click.pass_obj
def lots_cmd(obj: _Ctx, /, run_id: str | None, keeper: str | None, as_json: bool) -> None:
    """Print the open FIFO lots of every position, oldest first, and what is unlotted."""
    r = _rebuilt(obj, run_id, keeper)
    book: Ledger = r.ledger
    st = book.state
    positions = [st.positions[k] for k in sorted(st.positions)]
    unlotted = {a: book.unlotted(a) for a in book.holdings() if book.unlotted(a)}
    if as_json:
        rows = [
            msgspec.to_builtins(p)
            | {"lots": [{f: getattr(x, f) for f in x.__struct_fields__} for x in p.lots]}
            for p in positions
        ]
        _echo_json({"run_id": r.run.run_id, "positions": rows, "unlotted": unlotted})
        return
    table = _table(f"open lots of run {r.run.run_id}", "holder", "instrument", "lot", "time",
                   "corr", "from", "qty", "price", "cost", "fee")  # fmt: skip
    for pos in positions:
        holder = pos.venue if pos.wallet == "main" else f"{pos.venue}/{pos.wallet}"
        for lot in pos.lots:
            table.add_row(holder, pos.instrument, lot.id, _iso(lot.ts), lot.corr, lot.fill_id,
                          str(lot.qty), str(lot.price), str(lot.cost), str(lot.fee))  # fmt: skip
    _print(table)
    for pos in positions:
        qty = pos.open_qty()
        click.echo(f"{pos.venue}/{pos.wallet} {pos.instrument}: {len(pos.lots)} lots, "
                   f"{qty} open, realized {pos.realized} {pos.quote}")  # fmt: skip
    for account, amount in unlotted.items():
        click.echo(f"unlotted {amount} in {account}")


@ledger.command("trades")
@_common
@click.option("--limit", type=click.IntRange(0), default=None, help="Only the last N trades.")
@click.pass_obj
def trades_cmd(
    obj: _Ctx, /, run_id: str | None, keeper: str | None, as_json: bool, limit: int | None
) -> None:
    """Print the trades (sells against FIFO lots) with their realized PnL and the lots closed."""
    r = _rebuilt(obj, run_id, keeper)
    history = r.ledger.history
    assert history is not None
    trades = history.trades if limit is None else history.trades[len(history.trades) - limit :]
    if as_json:
        _echo_json({"run_id": r.run.run_id, "trades": trades})
        return
    table = _table(f"trades of run {r.run.run_id}", "trade", "time", "venue", "instrument", "qty",
                   "price", "proceeds", "cost", "fees", "pnl", "corr", "lots")  # fmt: skip
    for t in trades:
        table.add_row(t.id, _iso(t.ts), t.venue, t.instrument, str(t.qty), str(t.price),
                      str(t.proceeds), str(t.cost), str(t.fees), str(t.pnl), t.corr,
                      " ".join(c.lot_id for c in t.closes))  # fmt: skip
    _print(table)
    total = sum((t.pnl for t in history.trades), Decimal(0))
    click.echo(f"{len(history.trades)} trades, realized {total}")


@ledger.command("verify")
@_common
@click.pass_obj
def verify_cmd(obj: _Ctx, /, run_id: str | None, keeper: str | None, as_json: bool) -> None:
    """Re-check every posting from the first; exit 1 naming the first bad one."""
    r = _rebuilt(obj, run_id, keeper)
    book: Ledger = r.ledger
    problem = find_problem(book.state, book.history)
    st = book.state
    if as_json:
        _echo_json(
            {
                "run_id": r.run.run_id,
                "ok": problem is None,
                "problem": problem,
                "transactions": st.tx_count,
                "postings": st.postings,
                "trades": st.trade_seq,
                "head": st.tx_head.hex(),
                "rebuilt": r.how,
            }
        )
    elif problem is None:
        click.echo(
            f"ledger ok run={r.run.run_id} transactions={st.tx_count} postings={st.postings} "
            f"trades={st.trade_seq} head={st.tx_head.hex()}"
        )
    else:
        click.echo(f"ledger broken run={r.run.run_id}: {problem}")
    sys.exit(0 if problem is None else 1)


__all__ = ["Rebuilt", "ledger", "rebuild"]
