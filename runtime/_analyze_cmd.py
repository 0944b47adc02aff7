"""Give users `kinetic analyze`: a walk-forward parameter sweep with a readiness verdict.

`kinetic analyze --config config/analyze_mm.toml [--workers N] [--screen-top N] [--out DIR]`
plans the sweep, screens the candidates (a vectorized replay of the strategy, when the config
names a screen kind), runs the best of each split through the event-driven engine in worker
processes, and writes `analysis.json`, `results.csv` and `oos.png` to
`<out_dir>/<analysis id>/`. A progress bar runs on a terminal, a one-screen summary prints to
stderr at the end, and the last line on stdout is the artifacts directory (as for
`kinetic backtest`). Errors are one line, `kinetic: <reason>`: exit 2 for bad input (the
config, a swept value that does not build), 1 when a run failed.

`runtime` imports no domain code: the backtest's agents and the screen are found by kind.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import msgspec

from runtime import _app
from runtime._analysis import (
    Plan,
    ScreenPass,
    as_decimal,
    engine_tasks,
    ranked,
    run_engine,
    run_screen,
    speed,
    split_rankings,
)
from runtime._analysis import Progress as ProgressHook
from runtime._analysis_config import AnalyzeConfig, load_analyze_config, ns_to_iso
from runtime._analysis_report import (
    agreement,
    candidate_summary,
    chain,
    plot_oos,
    readiness,
    results_csv,
    summary_tables,
)
from runtime._analysis_runs import RunKey, RunResult
from runtime._cli_common import fail as _fail
from runtime._errors import ConfigError, KineticError
from runtime.logging import configure_logging, get_logger

if TYPE_CHECKING:
    from runtime.cli import _Ctx


@click.command("analyze")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Analysis config (TOML, e.g. config/analyze_mm.toml); overrides the global --config.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes for the event-driven runs; default: the config's `workers`.",
)
@click.option(
    "--screen-top",
    type=click.IntRange(min=0),
    default=None,
    help="Candidates per split the engine runs after the screen, best in sample first; "
    "0 turns the screen off (the engine runs every candidate). Default: `screen.top`.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Artifacts directory; default: <out_dir>/<analysis id>/.",
)
@click.pass_obj
def analyze(
    obj: _Ctx,
    config_file: str | None,
    workers: int | None,
    screen_top: int | None,
    out: str | None,
) -> None:
    """Sweep parameters walk-forward: screen, run the best event-driven, judge readiness."""
    path = config_file or obj.config
    if not path:
        _fail("`analyze` needs --config FILE (an analysis config, e.g. config/analyze_mm.toml)", 2)
    level = obj.log_level or "info"
    fmt = obj.log_format if obj.log_format in ("json", "console") else "auto"
    configure_logging(level=level, fmt=fmt)  # type: ignore[arg-type]
    try:
        cfg = load_analyze_config(path)
        out_dir = run_analysis(
            cfg, source=str(path), workers=workers, screen_top=screen_top, out=out
        )
    except ConfigError as exc:
        _fail(str(exc), 2)
    except KineticError as exc:
        _fail(str(exc), 1)
    click.echo(str(out_dir))


def run_analysis(
    cfg: AnalyzeConfig,
    /,
    *,
    source: str,
    workers: int | None = None,
    screen_top: int | None = None,
    out: str | None = None,
) -> Path:
    """Run the sweep `cfg` describes; write its artifacts; return their directory."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    log = get_logger("kinetic")
    started = time.perf_counter()
    plan = Plan(cfg, source=source, screen_top=screen_top, workers=workers)
    plan.validate()
    analysis_id = _app.new_run_id("an")
    log.info(
        "analysis_started", id=analysis_id, candidates=len(plan.candidates),
        splits=len(plan.splits), screen=cfg.screen.kind if plan.use_screen and cfg.screen else None,
        top=plan.top, workers=plan.workers,
    )  # fmt: skip
    console = Console(stderr=True)
    if not console.is_terminal:  # a log file gets the whole row, not rich's 80 columns
        console = Console(stderr=True, width=140)
    with Progress(
        TextColumn("{task.description:<7}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        ids: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in ids:
                ids[stage] = bar.add_task(stage, total=total)
            bar.update(ids[stage], completed=done, total=total)

        hook: ProgressHook = progress
        screened = run_screen(plan, progress=hook) if plan.use_screen else None
        tasks = engine_tasks(plan, screened)
        runs = run_engine(tasks, workers=plan.workers, progress=hook)
    analysis = _assemble(plan, screened, runs, analysis_id, time.perf_counter() - started)
    out_dir = Path(out) if out else Path(cfg.out_dir) / analysis_id
    out_dir.mkdir(parents=True, exist_ok=True)
    rankings = split_rankings(plan, screened, runs)
    (out_dir / "results.csv").write_bytes(results_csv(plan, screened, rankings, runs))
    (out_dir / "oos.png").write_bytes(plot_oos(plan, screened, runs))
    body = msgspec.json.format(msgspec.json.encode(analysis), indent=2)
    (out_dir / "analysis.json").write_bytes(body + b"\n")
    log.info(
        "analysis_complete", id=analysis_id, runs=len(runs),
        ready_for_live=analysis["readiness"]["ready_for_live"], wall_secs=analysis["wall_secs"],
    )  # fmt: skip
    for table in summary_tables(analysis):
        console.print(table)
    return out_dir


def _assemble(
    plan: Plan,
    screened: ScreenPass | None,
    runs: dict[RunKey, RunResult],
    analysis_id: str,
    wall_secs: float,
    /,
) -> dict[str, Any]:
    """Return the content of `analysis.json`."""
    cfg = plan.cfg
    rankings = split_rankings(plan, screened, runs)
    agree = agreement(plan, screened, runs)
    picks = chain(plan, rankings, runs)
    ready = readiness(plan, picks, agree)
    pnls = [as_decimal(p["pnl"]) for p in picks]
    if screened is not None:
        best = ranked(screened.live, cfg.rank_by)[0]
        basis = (
            f"best `{cfg.rank_by}` by the screen over the last train window "
            f"({ns_to_iso(plan.live[0])}..{ns_to_iso(plan.live[1])}); not yet run by the engine"
        )
        live_metrics: dict[str, Any] | None = screened.live[best]
    else:
        best = rankings[-1][0]
        basis = "the last split's pick"
        live_metrics = None
    return {
        "id": analysis_id,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": plan.source,
        "backtest": cfg.backtest,
        "config": msgspec.to_builtins(cfg),
        "window": {
            "start": cfg.window.start,
            "end": cfg.window.end,
            "bars": screened.bars if screened is not None else None,
        },
        "candidates": len(plan.candidates),
        "rank_by": cfg.rank_by,
        "workers": plan.workers,
        "splits": [
            {
                "index": s.index,
                "train_start": ns_to_iso(s.train_start_ns),
                "train_end": ns_to_iso(s.train_end_ns),
                "test_start": ns_to_iso(s.test_start_ns),
                "test_end": ns_to_iso(s.test_end_ns),
                "engine_ran": [plan.candidates[c].id for c in order],
            }
            for s, order in zip(plan.splits, rankings, strict=True)
        ],
        "screen": None
        if screened is None
        else {
            "kind": screened.kind,
            "top": plan.top,
            "secs": round(screened.secs, 3),
            "load_secs": round(screened.load_secs, 3),
        },
        "speed": speed(plan, screened, runs),
        "agreement": agree,
        "walk_forward": {
            "picks": picks,
            "total_pnl": str(sum(pnls, as_decimal(0))),
            "positive_splits": sum(1 for p in pnls if p > 0),
            "mean_sharpe": sum(float(p["sharpe"]) for p in picks) / len(picks),
            "worst_drawdown": max(float(p["max_drawdown"]) for p in picks),
        },
        "readiness": ready,
        "recommended": {
            "candidate": plan.candidates[best].id,
            "params": plan.candidates[best].params,
            "basis": basis,
            "screen_metrics": live_metrics,
        },
        "engine_candidates": candidate_summary(plan, runs),
        "wall_secs": round(wall_secs, 3),
        "artifacts": ["analysis.json", "results.csv", "oos.png"],
    }


__all__ = ["analyze", "run_analysis"]
