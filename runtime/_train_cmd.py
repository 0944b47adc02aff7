"""Give users `kinetic train`: learn a model offline, version it, judge it out of sample.

`kinetic train --config config/train_mm.toml [--seed N] [--out-dir DIR] [--no-report]` trains
with the trainer the config names (`runtime/_train.py`), writes the new version to
`<out_dir>/<name>/v<N>/` (never into an existing one), then backtests the variants on the test
window in the event-driven engine and writes `report.json`, `report.md` and `equity.png` there.
A progress bar runs on a terminal, a one-screen summary prints to stderr, and the last line on
stdout is the version's directory. Errors are one line, `kinetic: <reason>`: exit 2 for bad
input (the config, a trainer param), 1 when a run failed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import msgspec

from runtime._cli_common import fail as _fail
from runtime._errors import ConfigError, KineticError
from runtime._train import (
    EngineRun,
    TrainPlan,
    claim_version,
    next_version,
    run_variant,
    window_text,
)
from runtime._train_config import TrainConfig, load_train_config
from runtime._train_report import markdown, plot_equity, summary_table, verdict
from runtime.logging import configure_logging, get_logger

if TYPE_CHECKING:
    from runtime.cli import _Ctx


@click.command("train")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Train config (TOML, e.g. config/train_mm.toml); overrides the global --config.",
)
@click.option("--seed", type=int, default=None, help="The trainer's seed; default: the config's.")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where models live; default: the config's `out_dir` (artifacts/models).",
)
@click.option(
    "--report/--no-report",
    default=None,
    help="Backtest the policy against the baseline on the test window (default: `report`).",
)
@click.pass_obj
def train(
    obj: _Ctx, config_file: str | None, seed: int | None, out_dir: str | None, report: bool | None
) -> None:
    """Train a model on backtests, write it as a new version, judge it out of sample."""
    path = config_file or obj.config
    if not path:
        _fail("`train` needs --config FILE (a train config, e.g. config/train_mm.toml)", 2)
    level = obj.log_level or "info"
    fmt = obj.log_format if obj.log_format in ("json", "console") else "auto"
    configure_logging(level=level, fmt=fmt)  # type: ignore[arg-type]
    try:
        cfg = load_train_config(path)
        overrides: dict[str, Any] = {}
        if seed is not None:
            overrides["seed"] = seed
        if out_dir is not None:
            overrides["out_dir"] = out_dir
        if report is not None:
            overrides["report"] = report
        if overrides:
            cfg = msgspec.structs.replace(cfg, **overrides)
        directory = run_training(cfg, source=str(path))
    except ConfigError as exc:
        _fail(str(exc), 2)
    except KineticError as exc:
        _fail(str(exc), 1)
    click.echo(str(directory))


def run_training(cfg: TrainConfig, /, *, source: str) -> Path:
    """Train, write the version, run the report; return the version's directory."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    log = get_logger("kinetic")
    started = time.perf_counter()
    plan = TrainPlan(cfg, source=source)
    root = Path(cfg.out_dir) / cfg.name
    version = next_version(root)
    data_file, data_sha = plan.data_identity()
    log.info(
        "train_started", trainer=cfg.trainer, name=cfg.name, version=version, seed=cfg.seed,
        train=window_text(cfg.train.start_ns, cfg.train.end_ns),
        validation=window_text(cfg.validation.start_ns, cfg.validation.end_ns),
    )  # fmt: skip
    console = Console(stderr=True)
    if not console.is_terminal:
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

        progress("load", 0, 1)
        bars = plan.bars(cfg.train.start_ns, cfg.validation.end_ns)
        data = plan.trainer.load(bars)
        progress("load", 1, 1)
        out = plan.trainer.train(
            data,
            train=(cfg.train.start_ns, cfg.train.end_ns),
            validation=(cfg.validation.start_ns, cfg.validation.end_ns),
            seed=cfg.seed,
            meta={"name": cfg.name, "version": version, "data_file": data_file,
                  "data_sha256": data_sha},
            progress=progress,
        )  # fmt: skip
        directory = claim_version(root, version)
        files: dict[str, bytes] = dict(out.files)
        metrics = {
            **out.metrics,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source": source,
            "train_secs": round(time.perf_counter() - started, 3),
            "files": sorted(files),
        }
        files["metrics.json"] = msgspec.json.format(msgspec.json.encode(metrics), indent=2) + b"\n"
        for name, body in files.items():
            (directory / name).write_bytes(body)
        log.info("train_written", directory=str(directory), files=sorted(files))
        report = None
        if cfg.report:
            variants: dict[str, dict[str, Any]] = plan.trainer.variants(str(directory), out.files)
            window = (cfg.test.start_ns, cfg.test.end_ns)
            runs: dict[str, EngineRun] = {}
            total = 100 * len(variants)
            for i, (variant, params) in enumerate(variants.items()):

                def step(done: int, steps: int, base: int = 100 * i) -> None:
                    progress("engine", base + 100 * done // steps, total)

                runs[variant] = run_variant(plan, variant, params, window, progress=step)
                log.info(
                    "train_variant_ran", variant=variant, pnl=runs[variant].metrics["pnl"],
                    secs=runs[variant].secs, head=runs[variant].head,
                )  # fmt: skip
            report = _report(cfg, plan, version, directory, runs)
    head = Table(title=f"train {cfg.name} v{version}", show_header=False, title_justify="left")
    for key, value in out.summary:
        head.add_row(key, value)
    head.add_row("directory", str(directory))
    head.add_row("wall", f"{time.perf_counter() - started:.1f} s")
    console.print(head)
    if report is not None:
        console.print(summary_table(report))
        for line in report["verdict"]["text"]:
            console.print(line, markup=False, highlight=False)
    log.info("train_complete", directory=str(directory), wall_secs=time.perf_counter() - started)
    return directory


def _report(
    cfg: TrainConfig, plan: TrainPlan, version: int, directory: Path, runs: dict[str, EngineRun]
) -> dict[str, Any]:
    """Write `report.json`, `report.md` and `equity.png`; return the report."""
    trainer = plan.trainer
    v = verdict(runs, candidate=trainer.candidate, baseline=trainer.baseline)
    first = next(iter(runs.values()))
    report: dict[str, Any] = {
        "model": cfg.name,
        "version": version,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "backtest": cfg.backtest,
        "strategy": cfg.strategy,
        "test_window": window_text(cfg.test.start_ns, cfg.test.end_ns),
        "bars": first.metrics["bars"],
        "variants": {
            name: {
                "params": r.params,
                "metrics": r.metrics,
                "head": r.head,
                "events": r.events,
                "secs": r.secs,
            }
            for name, r in runs.items()
        },
        "verdict": v,
        "artifacts": ["report.json", "report.md", "equity.png"],
    }
    body = msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n"
    (directory / "report.json").write_bytes(body)
    (directory / "report.md").write_text(markdown(report), encoding="utf-8")
    title = f"{cfg.name} v{version}, out of sample: {report['test_window']}"
    (directory / "equity.png").write_bytes(plot_equity(list(runs.values()), title=title))
    return report


__all__ = ["run_training", "train"]
