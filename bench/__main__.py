"""Run benchmarks by name and print their figures: `python -m bench --all [--quick] [--json]`.

This is the stable interface of DESIGN.md §7. Each benchmark is a module of this package with a
`run(quick: bool) -> list[dict]`; the registry below names them, in the order `--all` runs them.
`stores` (the store append rates) joins when `bench/stores.py` exists.

Exit status: 0 when every benchmark ran (figures short of their goal are printed as such), 1 when
one crashed or, with `--strict`, when a figure missed its goal; 2 on a usage error.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bench._measure import JSON_KEYS, Figure

REGISTRY: dict[str, str] = {
    "kernel_sim": "bench.kernel_sim",
    "kernel_live": "bench.kernel_live",
    "journal": "bench.journal",
    "stores": "bench.stores",
    "recovery": "bench.recovery",
    "control_api": "bench.control_api",
    "ledger": "bench.ledger",
    "backtest": "bench.backtest",
    "risk": "bench.risk",
    "webhooks": "bench.webhooks",
    "tick_to_order": "bench.tick_to_order",
    "analyze": "bench.analyze",
}
"""Benchmark name -> module, in the order `--all` runs them."""


def available() -> dict[str, str]:
    """Return the registered benchmarks whose module exists."""
    return {
        name: module
        for name, module in REGISTRY.items()
        if importlib.util.find_spec(module) is not None
    }


def summary(module: str, /) -> str:
    """Return the first line of `module`'s docstring, or why it cannot be imported."""
    try:
        mod = importlib.import_module(module)
    except Exception as exc:
        return f"(cannot import: {type(exc).__name__}: {exc})"
    doc = (mod.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def run_benchmark(module: str, /, *, quick: bool) -> list[Figure]:
    """Import `module` and return the figures of its `run(quick)`."""
    runner: Callable[[bool], list[Figure]] = importlib.import_module(module).run
    return list(runner(quick))


# -- output -----------------------------------------------------------------------------------


def _number(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3f}"


def _goal(f: Figure) -> str:
    goal = f.get("goal")
    if goal is None:
        return "-"
    op = {"higher": ">=", "lower": "<="}.get(f.get("better", ""), "")
    on = f.get("goal_on")
    if on == "ratio":
        return f"ratio {op} {goal:g}x"
    if on == "value":
        return f"{op} {_number(goal)} {f.get('unit', '')}".strip()
    return _number(goal)


def table(name: str, figures: Sequence[Figure], seconds: float, /, *, quick: bool) -> Table:
    """Return the readable table of one benchmark's figures."""
    mode = ", quick" if quick else ""
    t = Table(title=f"{name} ({seconds:.1f} s{mode})", title_justify="left")
    t.add_column("figure", no_wrap=True)
    t.add_column("value", justify="right")
    t.add_column("unit")
    t.add_column("baseline", justify="right")
    t.add_column("ratio", justify="right")
    t.add_column("goal", no_wrap=True)
    t.add_column("met")
    notes = []
    for f in figures:
        ratio = f.get("ratio")
        met = f.get("met")
        t.add_row(
            str(f.get("name")),
            _number(f.get("value")),
            str(f.get("unit", "")),
            _number(f.get("baseline")),
            f"{ratio:.3f}x" if isinstance(ratio, int | float) else "-",
            _goal(f),
            "-" if met is None else "[green]yes[/]" if met else "[bold red]NO[/]",
        )
        if f.get("note"):
            notes.append(f"{f.get('name')}: {f['note']}")
    if notes:
        t.caption = "\n".join(notes)
        t.caption_justify = "left"
    return t


# -- command ----------------------------------------------------------------------------------


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("names", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every benchmark, in registry order.")
@click.option("--quick", is_flag=True, help="Smaller runs: the whole --all well under 30 s.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per figure per line.")
@click.option("--list", "list_only", is_flag=True, help="List the benchmark names and exit.")
@click.option("--strict", is_flag=True, help="Exit 1 when a figure misses its goal.")
def main(
    names: tuple[str, ...],
    *,
    run_all: bool,
    quick: bool,
    as_json: bool,
    list_only: bool,
    strict: bool,
) -> None:
    """Run the named benchmarks (or --all) and print their figures against their goals."""
    known = available()
    if list_only:
        width = max(map(len, known))
        for name, module in known.items():
            click.echo(f"{name:<{width}}  {summary(module)}")
        return
    if run_all and names:
        raise click.UsageError("give benchmark names or --all, not both")
    if not run_all and not names:
        raise click.UsageError("name a benchmark or pass --all (see --list)")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.UsageError(f"unknown benchmark `{unknown[0]}` (known: {', '.join(known)})")
    chosen = list(known) if run_all else list(dict.fromkeys(names))
    # Measure what ships: `kinetic run` and `kinetic backtest` tune the collector this way.
    from runtime._app import tune_gc

    tune_gc()
    # Piped output gets room for the whole row rather than rich's 80-column default.
    console = Console(width=None if sys.stdout.isatty() else 140)
    err = Console(stderr=True)
    crashed: list[str] = []
    missed: list[str] = []
    total = 0
    for name in chosen:
        if not as_json:
            err.print(f"[dim]running {name}{' (quick)' if quick else ''}...[/]")
        t0 = time.perf_counter()
        try:
            figures = run_benchmark(known[name], quick=quick)
        except Exception:
            crashed.append(name)
            err.print(f"[bold red]benchmark `{name}` failed[/]")
            sys.stderr.write(traceback.format_exc())
            continue
        seconds = time.perf_counter() - t0
        total += len(figures)
        missed.extend(str(f.get("name")) for f in figures if f.get("met") is False)
        if as_json:
            for f in figures:
                sys.stdout.write(json.dumps({k: f.get(k) for k in JSON_KEYS}) + "\n")
            sys.stdout.flush()
        else:
            console.print(table(name, figures, seconds, quick=quick))
    if not as_json:
        line = f"{total} figure{'' if total == 1 else 's'}, {total - len(missed)} met their goal"
        if missed:
            line += f"; short of their goal: {', '.join(missed)}"
        if crashed:
            line += f"; crashed: {', '.join(crashed)}"
        console.print(line)
    if crashed or (strict and missed):
        sys.exit(1)


if __name__ == "__main__":
    main()
