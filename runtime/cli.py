"""Give operators and scripts one command, `kinetic`, over the kernel (DESIGN.md §7).

This is the composition root's front door: it parses options (click), loads config, sets up
logging, and calls `runtime._app`. Output meant for people is a table (rich); output meant for
scripts is one stable line (`journal verify`) or JSON (`--json`). Errors are one line on stderr:
exit 1 for a broken chain or a divergence, 2 for bad input (config, usage).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import click
import msgspec

from runtime import _app
from runtime._cli_common import fail as _fail
from runtime._errors import ActorEscalatedError, KineticError
from runtime._journal import Store, verify_rows
from runtime._kernel_messages import Resumed, TradingStateChanged
from runtime._lock import DataDirLock
from runtime._recovery import recover
from runtime._replay import replay
from runtime._service import Daemon
from runtime._tokens import TokenStore
from runtime.config import KineticConfig, dump_toml, load_config, redact, to_json
from runtime.logging import configure_logging, get_logger

DEFAULT_CONFIG = Path("config/default.toml")


class _Ctx:
    def __init__(
        self, config: str | None, data_dir: str, log_format: str, log_level: str | None
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.log_format = log_format
        self.log_level = log_level

    def config_path(self, override: str | None) -> Path | None:
        chosen = override or self.config or os.environ.get("KINETIC_CONFIG")
        if chosen:
            return Path(chosen)
        return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None

    def load(self, override: str | None = None, **overrides: Any) -> tuple[KineticConfig, str]:
        path = self.config_path(override)
        cfg = load_config(path, overrides=overrides)
        level = self.log_level or cfg.log.level
        fmt = self.log_format if self.log_format != "auto" else cfg.log.format
        configure_logging(level=level, fmt=fmt)  # type: ignore[arg-type]
        return cfg, str(path) if path is not None else "<defaults>"


config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (TOML); overrides the global --config.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (TOML). Default: $KINETIC_CONFIG, else config/default.toml if present.",
)
@click.option(
    "--data-dir",
    default=lambda: os.environ.get("KINETIC_DATA_DIR", "./var"),
    show_default="./var",
    help="Where the embedded store, snapshots and tokens live.",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default=lambda: os.environ.get("KINETIC_LOG_FORMAT", "auto"),
    show_default="auto",
    help="json lines, readable console, or auto (console on a TTY).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Override the config's log level.",
)
@click.pass_context
def main(
    ctx: click.Context, config: str | None, data_dir: str, log_format: str, log_level: str | None
) -> None:
    """Kinetic: a deterministic, crash-safe runtime for trading and fintech operations."""
    ctx.obj = _Ctx(config, data_dir, log_format, log_level)


# -- run --------------------------------------------------------------------------------------


@main.command()
@config_option
@click.option(
    "--mode",
    type=click.Choice(["paper", "live"]),
    default=None,
    help="Trading mode; default: the config's (paper).",
)
@click.option(
    "--new-run",
    is_flag=True,
    help="Start a new run instead of continuing this data dir's open one.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Control API port on 127.0.0.1; default: the config's (8787).",
)
@click.pass_obj
def run(
    obj: _Ctx, config_file: str | None, mode: str | None, new_run: bool, port: int | None
) -> None:
    """Run the daemon: recover, serve the control API, supervise the actors until SIGTERM.

    SIGINT and SIGTERM stop it cleanly; SIGUSR1 halts all trading (the kill switch without HTTP).
    """
    try:
        cfg, source = obj.load(config_file, mode=mode, **{"control_api.port": port})
        if cfg.mode == "live":
            _check_live(cfg)
        else:
            _refuse_live_adapters(cfg, source)
        if cfg.mode == "backtest":
            _fail("mode `backtest` runs with `kinetic backtest`, not the daemon")
        code = anyio.run(
            _daemon,
            cfg,
            source,
            obj.data_dir,
            new_run,
            backend_options=_app.loop_options(cfg.kernel.event_loop, source=source),
        )
    except KineticError as exc:
        _fail(str(exc), 1 if not isinstance(exc, _config_errors()) else 2)
    except BaseExceptionGroup as group:
        # A service that cannot start (a port in use) is a one-line error, not a traceback.
        failed = _first_kinetic(group)
        if failed is None:
            raise
        _fail(str(failed), 1)
    sys.exit(code)


def _config_errors() -> tuple[type[Exception], ...]:
    from runtime._errors import ConfigError, StoreLockedError

    return (ConfigError, StoreLockedError)


def _check_live(cfg: KineticConfig) -> None:
    missing = [v for v in ("EXCHANGE_API_KEY", "EXCHANGE_API_SECRET") if not os.environ.get(v)]
    if missing:
        _fail(f"mode=live requires env vars: {', '.join(missing)}")
    gates = [a for a in cfg.agents if a.kind in ("risk_gate", "agents.risk.actor:RiskGate")]
    if not gates or any(a.params.get("paper_only", True) is not False for a in gates):
        _fail(
            "mode=live refused: the paper-only guard is on; set `paper_only = false` in the "
            "risk gate's params to start live (the control API may turn it back on at any time)"
        )


def _loop_name() -> str:
    """Name the running event loop's implementation: `uvloop` or `asyncio`."""
    import asyncio

    return type(asyncio.get_running_loop()).__module__.partition(".")[0]


def _refuse_live_adapters(cfg: KineticConfig, source: str) -> None:
    """Refuse an adapter that trades for real (class attribute `live`) outside mode=live."""
    for i, ad in enumerate(cfg.adapters):
        cls = _app.load_kind(_app.ADAPTERS, ad.kind, where=f"$.adapters[{i}].kind", source=source)
        if getattr(cls, "live", False) is True:
            _fail(
                f"adapter `{ad.name}` (kind `{ad.kind}`) trades live and runs only with "
                f"mode=live, not {cfg.mode} - at `$.adapters[{i}]`"
            )


async def _daemon(cfg: KineticConfig, source: str, data_dir: Path, new_run: bool) -> int:
    log = get_logger("kinetic")
    with DataDirLock(data_dir):
        store = _app.open_store(cfg, data_dir)
        await store.open()
        try:
            run_, created = await _app.resolve_run(store, cfg, new=new_run)
            kernel = _app.build_live(cfg, store, source=source, run=run_, logger=log)
            for adapter in kernel.adapters.values():
                adapter.data_dir = data_dir
            services = _app.load_services(cfg, source=source)
            tokens = TokenStore(data_dir, admin_file=cfg.control_api.token_file)
            if services and (token_path := tokens.ensure_admin()) is not None:
                log.info("admin_token_created", path=str(token_path), mode="0600")
            daemon = Daemon(
                kernel=kernel,
                store=store,
                run=run_,
                config=cfg,
                data_dir=data_dir,
                tokens=tokens,
                log=log,
            )
            async with anyio.create_task_group() as signals:
                # Signals first: a SIGTERM during recovery stops the daemon once it is consistent.
                signals.start_soon(_watch_signals, daemon, log)
                _app.tune_gc()
                report = await recover(kernel, store, run_.run_id, log=log)
                log.info(
                    "runtime_started",
                    run_id=run_.run_id,
                    mode=cfg.mode,
                    store=store.name,
                    data_dir=str(data_dir),
                    pid=os.getpid(),
                    new_run=created,
                    actors=list(kernel.cells),
                    resumed_at_seq=report.last_seq,
                    event_loop=_loop_name(),
                )
                await _serve(daemon, services, log, resumed=None if created else report.last_seq)
                signals.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await store.close()
    failures = sum(c.failures for c in kernel.cells.values())
    log.info(
        "runtime_complete",
        run_id=run_.run_id,
        failures=failures,
        events=kernel.seq,
        head=kernel.journal.head.hex() if kernel.journal else "",
        reason=kernel.stop_reason,
        escalated=kernel.escalated is not None,
    )
    return 1 if kernel.escalated is not None else 0


def _first_kinetic(group: BaseExceptionGroup[Any]) -> KineticError | None:
    for exc in group.exceptions:
        if isinstance(exc, KineticError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_kinetic(exc)
            if found is not None:
                return found
    return None


async def _serve(
    daemon: Daemon, services: list[Any], log: Any, *, resumed: int | None = None
) -> None:
    """Run the kernel, then the services once it runs; stop them all when the kernel stops."""
    kernel = daemon.kernel
    async with anyio.create_task_group() as tg:
        running = anyio.Event()

        async def run_kernel() -> None:
            try:
                await kernel.run(started=running.set)
            except ActorEscalatedError:
                pass  # journaled and logged; the exit code says it
            finally:
                tg.cancel_scope.cancel()

        tg.start_soon(run_kernel)
        await running.wait()
        if resumed is not None:
            # A resumed run: let actors look outside after the gap (execution reconciles).
            await kernel.inject("kernel", Resumed(last_seq=resumed))
        urls = {}
        for svc in services:
            urls[svc.name] = await tg.start(svc.serve, daemon)
        log.info("runtime_ready", run_id=daemon.run.run_id, **urls)


async def _watch_signals(daemon: Daemon, log: Any) -> None:
    kernel = daemon.kernel
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGUSR1) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if signum == signal.SIGUSR1:
                # The kill switch without HTTP: every trading scope halts.
                log.warning("kill_switch", by="signal", signal=name)
                await daemon.command(
                    TradingStateChanged(
                        scope="global",
                        target="*",
                        state="HALTED",
                        reason="SIGUSR1",
                        by="signal:SIGUSR1",
                    ),
                    by="signal",
                )
                continue
            log.info("runtime_stopping", signal=name)
            kernel.request_stop(f"signal {name}")


# -- backtest ---------------------------------------------------------------------------------


@main.command()
@config_option
@click.option(
    "--seed", type=int, default=None, help="Seed for every actor's rng; default: the config's."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Artifacts directory; default: artifacts/<run_id>/.",
)
@click.option(
    "--duration-secs",
    type=float,
    default=None,
    help="Simulated time to run; default: the config's.",
)
@click.pass_obj
def backtest(
    obj: _Ctx,
    config_file: str | None,
    seed: int | None,
    out: str | None,
    duration_secs: float | None,
) -> None:
    """Run the configured actors in the sim kernel; print the artifacts directory last."""
    try:
        cfg, source = obj.load(config_file, seed=seed, **{"backtest.duration_secs": duration_secs})
        out_dir = _run_backtest(cfg, source, obj.data_dir, out)
    except KineticError as exc:
        _fail(str(exc))
    click.echo(str(out_dir))


def _run_backtest(cfg: KineticConfig, source: str, data_dir: Path, out: str | None) -> Path:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    log = get_logger("kinetic")
    run_id = _app.new_run_id("bt")
    console = Console(stderr=True)
    started = time.perf_counter()
    with anyio.from_thread.start_blocking_portal() as portal:
        store = _app.open_store(cfg, data_dir)
        portal.call(store.open)
        try:
            run_ = _app.run_info(cfg, run_id=run_id, kernel="sim")
            portal.call(store.create_run, run_)
            sink = _app.PortalSink(portal, store, run_id)
            kernel = _app.build_sim(cfg, source=source, run_id=run_id, sink=sink)
            _app.tune_gc()
            setup = time.perf_counter() - started
            started = time.perf_counter()  # `wall_secs` is the run: no imports, no store open
            log.info(
                "runtime_started",
                run_id=run_id,
                mode=cfg.mode,
                kernel="sim",
                level=run_.level,
                seed=cfg.seed,
                actors=list(kernel.cells),
            )
            with Progress(
                TextColumn("backtest"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[events]} events"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=not console.is_terminal,
            ) as bar:
                task = bar.add_task("run", total=100, events=0)
                kernel.run_to_end(
                    progress=lambda i, n, seq: bar.update(task, completed=100 * i / n, events=seq)
                )
            portal.call(store.set_run_status, run_id, "closed")
        finally:
            portal.call(store.close)
    elapsed = time.perf_counter() - started
    head = kernel.journal.head.hex() if kernel.journal else ""
    out_dir = Path(out) if out else Path(cfg.backtest.out_dir) / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "run_id": run_id,
        "seed": cfg.seed,
        "level": run_.level,
        "events": kernel.seq,
        "rows": sink.rows,
        "head": head,
        "sim_start_ns": cfg.backtest.start_ns,
        "sim_end_ns": kernel.end_ns,
        "wall_secs": round(elapsed, 3),
        "setup_secs": round(setup, 3),
        "events_per_sec": round(kernel.seq / elapsed) if elapsed else None,
        "actors": kernel.stats(),
        "store": store.name,
    }
    (out_dir / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    reports = _reports(kernel)
    if reports:
        (out_dir / "reports.jsonl").write_text(
            "".join(json.dumps(msgspec.to_builtins(r)) + "\n" for r in reports)
        )
    (out_dir / "config.toml").write_text(dump_toml(redact(cfg)))
    for name, body in _app.artifacts(kernel, reports).items():
        (out_dir / name).write_bytes(body)
    failures = sum(c.failures for c in kernel.cells.values())
    log.info("runtime_complete", run_id=run_id, failures=failures, events=kernel.seq, head=head)
    table = Table(title=f"backtest {run_id}", show_header=False)
    for key in ("level", "events", "rows", "head", "wall_secs", "events_per_sec"):
        table.add_row(key, str(summary[key]))
    for name, st in kernel.stats().items():
        table.add_row(f"actor {name}", f"handled={st['handled']} failures={st['failures']}")
    Console(stderr=True).print(table)
    _print_reports(reports, Console(stderr=True))
    return out_dir


def _reports(kernel: Any) -> list[Any]:
    cell = kernel.cells.get(_app.REPORTS)
    return list(cell.actor.reports) if cell is not None else []


def _print_reports(reports: list[Any], console: Any) -> None:
    """Print report messages as one table per message type, a row per message."""
    from rich.table import Table

    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in reports:
        row = msgspec.to_builtins(r)
        by_type.setdefault(row.pop("type"), []).append(row)

    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    for tag, rows in by_type.items():
        if len(rows[0]) > 6:  # too wide for a row per message: a column per message instead
            table = Table("field", *(str(i + 1) for i in range(len(rows))), title=tag)
            for key in rows[0]:
                table.add_row(key, *(cell(r.get(key)) for r in rows))
        else:
            table = Table(*rows[0].keys(), title=tag)
            for row in rows:
                table.add_row(*(cell(v) for v in row.values()))
        console.print(table)


# -- replay -----------------------------------------------------------------------------------


@main.command("replay")
@click.argument("run_id")
@click.option(
    "--verify", is_flag=True, help="Compare every re-derived output with the journal (required)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def replay_cmd(obj: _Ctx, run_id: str, verify: bool, as_json: bool) -> None:
    """Re-drive RUN_ID's recorded inputs through fresh actors; exit 1 at the first divergence."""
    if not verify:
        _fail("replay needs --verify (the only replay mode so far)")
    try:
        cfg, _ = obj.load()
        report = anyio.run(_replay, cfg, obj.data_dir, run_id)
    except KineticError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(report)))
    elif report.divergence is None:
        click.echo(
            f"replay ok run={run_id} rows={report.rows} matched={report.matched} head={report.head}"
        )
    else:
        d = report.divergence
        click.echo(f"replay diverged run={run_id} seq={d.seq} actor={d.actor}: {d.detail}")
        click.echo(f"  expected: {d.expected}")
        click.echo(f"  got:      {d.got}")
    sys.exit(0 if report.divergence is None else 1)


async def _replay(cfg: KineticConfig, data_dir: Path, run_id: str) -> Any:
    store = _app.open_store(cfg, data_dir)
    await store.open()
    try:
        return await replay(store, run_id, build=_app.build_replay_kernel)
    finally:
        await store.close()


# -- journal ----------------------------------------------------------------------------------


@main.group()
def journal() -> None:
    """Inspect and verify the journal."""


@journal.command("verify")
@click.option("--run", "run_id", default=None, help="The run to verify; default: the latest.")
@click.option("--all", "all_runs", is_flag=True, help="Verify every run, one line each.")
@click.pass_obj
def journal_verify(obj: _Ctx, run_id: str | None, all_runs: bool) -> None:
    """Check the hash chain; print `events=N head=<hex>`; exit 1 naming the first broken seq."""
    try:
        cfg, _ = obj.load()
        code = anyio.run(_verify, cfg, obj.data_dir, run_id, all_runs)
    except KineticError as exc:
        _fail(str(exc))
    sys.exit(code)


async def _verify(cfg: KineticConfig, data_dir: Path, run_id: str | None, all_runs: bool) -> int:
    from runtime._errors import JournalBrokenError

    store = _app.open_store(cfg, data_dir)
    await store.open()
    try:
        runs = await store.list_runs()
        if not runs:
            click.echo("events=0 head=" + "00" * 32)
            return 0
        if all_runs:
            chosen = runs
        elif run_id is not None:
            chosen = [r for r in runs if r.run_id == run_id]
            if not chosen:
                raise KineticError(f"unknown run `{run_id}`")
        else:
            chosen = [runs[-1]]
        code = 0
        for r in chosen:
            try:
                n, head = await _verify_run(store, r.run_id)
            except JournalBrokenError as exc:
                click.echo(f"journal broken run={exc.run_id} seq={exc.seq}: {exc}", err=True)
                code = 1
                continue
            prefix = f"run={r.run_id} " if all_runs else ""
            click.echo(f"{prefix}events={n} head={head.hex()}")
        return code
    finally:
        await store.close()


async def _verify_run(store: Store, run_id: str) -> tuple[int, bytes]:
    state = None
    events = 0
    async for batch in store.read(run_id):
        state = verify_rows(run_id, batch, state=state)
        events += sum(1 for r in batch if r.kind != "ck")
    return events, state.head if state is not None else bytes(32)


@journal.command("runs")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
@click.pass_obj
def journal_runs(obj: _Ctx, as_json: bool) -> None:
    """List the runs in the store, oldest first."""
    try:
        cfg, _ = obj.load()
        runs = anyio.run(_runs, cfg, obj.data_dir)
    except KineticError as exc:
        _fail(str(exc))
    if as_json:
        for r in runs:
            d = msgspec.to_builtins(r)
            d.pop("config", None)
            click.echo(json.dumps(d))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("run_id", "kernel", "mode", "level", "seed", "status")
    for r in runs:
        table.add_row(r.run_id, r.kernel, r.mode, r.level, str(r.seed), r.status)
    Console().print(table)


async def _runs(cfg: KineticConfig, data_dir: Path) -> list[Any]:
    store = _app.open_store(cfg, data_dir)
    await store.open()
    try:
        return await store.list_runs()
    finally:
        await store.close()


# -- config, version --------------------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Inspect configuration."""


@config_group.command("show")
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of TOML.")
@click.pass_obj
def config_show(obj: _Ctx, config_file: str | None, as_json: bool) -> None:
    """Print the effective config (file < KINETIC_* env < flags), secrets redacted."""
    try:
        cfg, source = obj.load(config_file)
    except KineticError as exc:
        _fail(str(exc))
    data = redact(cfg)
    click.echo(
        to_json(data) if as_json else f"# effective config from {source}\n{dump_toml(data)}",
        nl=False,
    )


@main.command("version")
def version_cmd() -> None:
    """Print the installed version."""
    try:
        click.echo(f"kinetic {version('kinetic')}")
    except PackageNotFoundError:
        click.echo("kinetic (not installed)")


from runtime._ctl import ctl  # noqa: E402  (the `kinetic ctl` group: HTTP to the daemon)

main.add_command(ctl)

from runtime._data_cmd import data  # noqa: E402  (the `kinetic data` group: candle history)

main.add_command(data)

from runtime._ledger_cmd import ledger  # noqa: E402  (the `kinetic ledger` group: the books)

main.add_command(ledger)

from runtime._demo_cmd import demo  # noqa: E402  (the `kinetic demo` group: end-to-end demos)

main.add_command(demo)

from runtime._analyze_cmd import analyze  # noqa: E402  (`kinetic analyze`: walk-forward sweeps)

main.add_command(analyze)

from runtime._train_cmd import train  # noqa: E402  (`kinetic train`: offline models)

main.add_command(train)
