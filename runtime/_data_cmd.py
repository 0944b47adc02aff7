"""Give operators `kinetic data`: backfill, sync and gap reports of candle history (issue #4).

The commands compose three kinds found by name in the `kinetic.adapters` entry points, so
`runtime` imports no adapter: the client (`ccxt_public`), the candle store of the configured
store backend (`candles_sqlite` under the data dir, or `candles_postgres` in the journal's
schema), and the job that drives them (`candle_sync`). A backfill is resumable: run the same
command again after an interruption and it continues from its last committed page.

Output: a rich progress bar on stderr while pages come in (on a terminal), a summary for
people, or one JSON object per series with `--json`. Errors are one line on stderr,
`kinetic: <reason>`: exit 2 for bad input (options, config, an unknown symbol), 1 when the venue
or the store failed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import click
import msgspec

from runtime._app import ADAPTERS, load_kind
from runtime._cli_common import fail as _fail
from runtime._errors import ConfigError, KineticError
from runtime.config import KineticConfig

if TYPE_CHECKING:
    from runtime.cli import _Ctx

_T = TypeVar("_T")
CLIENT_KIND = "ccxt_public"
SYNC_KIND = "candle_sync"
GAPS_SHOWN = 20
"""Gaps listed per series in the table output unless `--limit` says otherwise."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso_ns(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """Parse an ISO 8601 time (`2023-01-01`, `2023-01-01T00:00Z`; no zone = UTC) to ns."""
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"must be an ISO 8601 time, got {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def iso(ns: int | None, /) -> str:
    """Return ns since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (`-` for none)."""
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _venue_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--api-url",
                default=None,
                help="Send every API request to this origin (the fake Kraken: "
                "http://127.0.0.1:8788) instead of the exchange's.",
            ),
            click.option(
                "--rate-limit/--no-rate-limit",
                default=None,
                help="ccxt's request throttle; default: on, off with --api-url.",
            ),
            click.option(
                "--retries",
                type=click.IntRange(0, 100),
                default=3,
                show_default=True,
                help="Retries of a request that failed on the network.",
            ),
            click.option("--json", "as_json", is_flag=True, help="One JSON object per series."),
        ]
    ):
        fn = option(fn)
    return fn


@click.group("data")
def data() -> None:
    """Backfill, sync and check candle history from exchanges (ccxt public data)."""


@data.command("backfill")
@click.option("--exchange", default="kraken", show_default=True, help="ccxt exchange id.")
@click.option("--symbol", required=True, help="Unified symbol, e.g. BTC/USD.")
@click.option("--timeframe", default="1m", show_default=True, help="Candle length: 1m, 5m, 1h.")
@click.option("--since", required=True, callback=_iso_ns, help="First candle open, ISO 8601.")
@click.option(
    "--until", default=None, callback=_iso_ns, help="Stop before, ISO 8601; default: now."
)
@_venue_options
@click.pass_obj
def backfill(
    obj: _Ctx,
    /,
    exchange: str,
    symbol: str,
    timeframe: str,
    since: int,
    until: int | None,
    **venue: Any,
) -> None:
    """Store the candles of one series from --since; resume if it was interrupted."""
    as_json = venue.pop("as_json")
    if until is not None and until <= since:
        _fail(f"`--until` must be after `--since`, got {iso(until)} <= {iso(since)}", 2)

    async def run(job: Any, progress: Any) -> list[Any]:
        series = _series(exchange, symbol, timeframe)
        report = await job.backfill(series, start_ns=since, end_ns=until, on_progress=progress)
        return [report]

    _print_reports(_run(obj, venue, run), as_json)


@data.command("sync")
@click.option("--exchange", default=None, help="Only this exchange's series.")
@click.option("--symbol", default=None, help="Only this symbol's series.")
@click.option("--timeframe", default=None, help="Only this timeframe's series.")
@_venue_options
@click.pass_obj
def sync(
    obj: _Ctx, /, exchange: str | None, symbol: str | None, timeframe: str | None, **venue: Any
) -> None:
    """Continue every stored series from its last candle up to now."""
    as_json = venue.pop("as_json")

    async def run(job: Any, progress: Any) -> list[Any]:
        return list(
            await job.sync(
                exchange=exchange, symbol=symbol, timeframe=timeframe, on_progress=progress
            )
        )

    reports = _run(obj, venue, run)
    if not reports and not as_json:
        click.echo("no stored series match: run `kinetic data backfill` first", err=True)
    _print_reports(reports, as_json)


@data.command("gaps")
@click.option("--exchange", default=None, help="Only this exchange's series.")
@click.option("--symbol", default=None, help="Only this symbol's series.")
@click.option("--timeframe", default=None, help="Only this timeframe's series.")
@click.option("--since", default=None, callback=_iso_ns, help="Check this span, ISO 8601 ...")
@click.option("--until", default=None, callback=_iso_ns, help="... to this time (both needed).")
@click.option(
    "--limit",
    type=click.IntRange(0),
    default=None,
    help=f"Gaps listed per series (0: none); default {GAPS_SHOWN}, all with --json.",
)
@click.option("--check", is_flag=True, help="Exit 1 when any series has a gap.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per series.")
@click.pass_obj
def gaps(
    obj: _Ctx,
    /,
    exchange: str | None,
    symbol: str | None,
    timeframe: str | None,
    since: int | None,
    until: int | None,
    limit: int | None,
    check: bool,
    as_json: bool,
) -> None:
    """Report the missing candles of stored series (a quiet minute is a gap too)."""
    if (since is None) != (until is None):
        _fail("`--since` and `--until` go together: give both, or neither", 2)

    async def run(job: Any, progress: Any) -> list[Any]:
        return list(
            await job.gaps(
                exchange=exchange, symbol=symbol, timeframe=timeframe, start_ns=since, end_ns=until
            )
        )

    found = _run(obj, {}, run, progress=False)
    if as_json:
        for item in found:
            row = msgspec.to_builtins(item)
            row["gaps"] = row["gaps"][:limit] if limit is not None else row["gaps"]
            row["count"] = len(item.gaps)
            click.echo(json.dumps(row))
    else:
        _print_gaps(found, GAPS_SHOWN if limit is None else limit)
    sys.exit(1 if check and any(item.gaps for item in found) else 0)


# -- composition ----------------------------------------------------------------------------


def _series(exchange: str, symbol: str, timeframe: str) -> Any:
    sync_cls = load_kind(ADAPTERS, SYNC_KIND, where="kinetic data", source="entry points")
    return sync_cls.series_type(exchange=exchange, symbol=symbol, timeframe=timeframe)


def _run(
    obj: _Ctx,
    /,
    venue: dict[str, Any],
    fn: Callable[[Any, Any], Awaitable[list[_T]]],
    *,
    progress: bool = True,
) -> list[_T]:
    try:
        cfg, _ = obj.load()
        with _progress(enabled=progress) as on_progress:
            return anyio.run(_with_job, cfg, obj.data_dir, venue, fn, on_progress)
    except KineticError as exc:
        _fail(str(exc), 2 if isinstance(exc, (ConfigError, ValueError)) else 1)
    except KeyboardInterrupt:
        _fail("interrupted: committed pages are kept; run the same command to resume", 130)


async def _with_job(
    cfg: KineticConfig,
    data_dir: Path,
    venue: dict[str, Any],
    fn: Callable[[Any, Any], Awaitable[list[_T]]],
    on_progress: Any,
) -> list[_T]:
    where = "kinetic data"
    if cfg.store.kind == "memory":
        raise ConfigError(
            "candle history needs a store that persists: `store.kind` sqlite or postgres"
        )
    store_cls = load_kind(ADAPTERS, f"candles_{cfg.store.kind}", where=where, source="store")
    client_cls = load_kind(ADAPTERS, CLIENT_KIND, where=where, source="entry points")
    sync_cls = load_kind(ADAPTERS, SYNC_KIND, where=where, source="entry points")
    options = {k: v for k, v in venue.items() if v is not None}
    store = store_cls.from_config(cfg.store, data_dir=data_dir)
    await store.open()
    try:
        async with sync_cls(
            store, lambda ex: client_cls.from_options(exchange=ex, **options)
        ) as job:
            return await fn(job, on_progress)
    finally:
        with anyio.CancelScope(shield=True):
            await store.close()


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Any]:
    """Yield an `on_progress` callback drawing one rich bar per series (on a terminal only)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[candles]} candles"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    ) as bar:
        tasks: dict[Any, Any] = {}

        def on_progress(series: Any, /, *, done_ns: int, total_ns: int, candles: int) -> None:
            if series not in tasks:
                tasks[series] = bar.add_task(series.label, total=total_ns, candles=0)
            bar.update(tasks[series], completed=done_ns, total=total_ns, candles=candles)

        yield on_progress


# -- output ---------------------------------------------------------------------------------


def _print_reports(reports: list[Any], as_json: bool) -> None:
    for r in reports:
        rate = round(r.candles / r.wall_secs) if r.wall_secs else None
        if as_json:
            row = msgspec.to_builtins(r)
            row["candles_per_sec"] = rate
            click.echo(json.dumps(row))
            continue
        resumed = f", resumed at {iso(r.resumed_ns)}" if r.resumed_ns is not None else ""
        click.echo(
            f"{r.series.label}: {r.candles} candles in {r.pages} pages{resumed};"
            f" stored up to {iso(r.next_ns)} of [{iso(r.start_ns)}, {iso(r.end_ns)});"
            f" {r.wall_secs} s ({rate or 0} candles/s)"
        )


def _print_gaps(found: list[Any], limit: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table("series", "candles", "first", "last", "gaps", "missing", title="candle gaps")
    for item in found:
        summary.add_row(
            item.series.label,
            str(item.candles),
            iso(item.first_ns),
            iso(item.last_ns),
            str(len(item.gaps)),
            str(item.missing),
        )
    console.print(summary)
    for item in found:
        if item.gaps and limit:
            table = Table("from", "to (next candle)", "missing", title=item.series.label)
            for g in item.gaps[:limit]:
                table.add_row(iso(g.start_ns), iso(g.end_ns), str(g.missing))
            if len(item.gaps) > limit:
                table.caption = f"{len(item.gaps) - limit} more: --limit N, or --json"
            console.print(table)
