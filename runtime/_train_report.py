"""Judge a trained model out of sample: who wins on what, in words, a table and a plot.

The rule, stated in every report: the candidate *wins* against another variant when it has the
higher PnL **and** the higher Sharpe on the test window (the money); drawdown and inventory are
reported per metric beside it, lower being better. Nothing is rounded in the candidate's favour:
a tie is a tie, a loss is written as one.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from runtime._train import EngineRun

CRITERIA: tuple[tuple[str, str], ...] = (
    ("pnl", "higher"),
    ("sharpe", "higher"),
    ("max_drawdown", "lower"),
    ("inventory_std", "lower"),
)
"""The metrics a report compares, and which way is better."""
SHOWN = ("pnl", "return_pct", "sharpe", "max_drawdown", "inventory_std", "fills", "fees")


def _value(metrics: Mapping[str, Any], key: str, /) -> Decimal | float:
    v = metrics[key]
    return Decimal(v) if isinstance(v, str) else float(v)


def compare(candidate: EngineRun, other: EngineRun, /) -> dict[str, Any]:
    """Return, per criterion, both values and which run is better; and whether it wins."""
    rows = []
    for key, way in CRITERIA:
        a, b = _value(candidate.metrics, key), _value(other.metrics, key)
        if a == b:
            better = "tie"
        elif (a > b) == (way == "higher"):
            better = candidate.variant
        else:
            better = other.variant
        rows.append(
            {"metric": key, "better_is": way, candidate.variant: str(a), other.variant: str(b),
             "better": better}
        )  # fmt: skip
    won = [r["metric"] for r in rows if r["better"] == candidate.variant]
    lost = [r["metric"] for r in rows if r["better"] == other.variant]
    wins = "pnl" in won and "sharpe" in won
    text = (
        f"`{candidate.variant}` {'beats' if wins else 'does not beat'} `{other.variant}` out of "
        f"sample: better on {', '.join(won) or 'nothing'}"
        + (f"; worse on {', '.join(lost)}" if lost else "")
    )
    return {
        "candidate": candidate.variant,
        "against": other.variant,
        "wins": wins,
        "better_on": won,
        "worse_on": lost,
        "rows": rows,
        "text": text,
    }


def verdict(runs: Mapping[str, EngineRun], /, *, candidate: str, baseline: str) -> dict[str, Any]:
    """Compare the candidate with the baseline and with every other variant."""
    cand = runs[candidate]
    main = compare(cand, runs[baseline])
    others = [compare(cand, r) for name, r in runs.items() if name not in (candidate, baseline)]
    return {
        "rule": "the candidate wins when both its PnL and its Sharpe are higher",
        "candidate": candidate,
        "baseline": baseline,
        "candidate_wins": main["wins"],
        "against_baseline": main,
        "against_others": others,
        "text": [main["text"], *(o["text"] for o in others)],
    }


def markdown(report: Mapping[str, Any], /) -> str:
    """Return `report.md`: the window, a table of the variants, the verdict in words."""
    runs: Mapping[str, Any] = report["variants"]
    names = list(runs)
    lines = [
        f"# Out-of-sample report: {report['model']} v{report['version']}",
        "",
        f"Test window {report['test_window']} ({report['bars']:,} bars), event-driven engine "
        f"(`{report['backtest']}`: simulated venue, risk gate, execution, recorder). Created "
        f"{report['created']}.",
        "",
        "| metric | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for key in SHOWN:
        cells = [_cell(runs[n]["metrics"].get(key), key) for n in names]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    heads = [f"`{runs[n]['head'][:12]}…`" for n in names]
    lines.append("| journal head | " + " | ".join(heads) + " |")
    v = report["verdict"]
    lines += ["", f"**Verdict** ({v['rule']}):", ""]
    lines += [f"- {t}" for t in v["text"]]
    lines += [
        "",
        "One test window, one training seed: before trusting a small margin, train again with",
        "other seeds (`kinetic train --seed N`) and see whether the verdict holds.",
    ]
    lines += ["", "Reproduce a run: `kinetic backtest` with the test window and, for a policy,"]
    lines += ["the strategy's `policy` and `policy_sha256`:", ""]
    for n in names:
        params = runs[n]["params"]
        shown = ", ".join(f"{k} = {v!r}" for k, v in params.items()) or "(the backtest as is)"
        lines.append(f"- `{n}`: {shown}")
    return "\n".join(lines) + "\n"


def _cell(v: Any, key: str, /) -> str:
    if v is None:
        return ""
    if key in ("pnl", "fees"):
        return f"{Decimal(str(v)):,.2f}"
    if key == "max_drawdown":
        return f"{float(v):.4%}"
    if key in ("fills",):
        return f"{int(v):,}"
    return f"{float(v):.4g}"


def plot_equity(runs: Sequence[EngineRun], /, *, title: str) -> bytes:
    """Return `equity.png`: each variant's equity minus its start, over the test window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(10, 4.2))
    for run in runs:
        if not run.equity:
            continue
        step = max(1, len(run.equity) // 4000)
        pts = run.equity[::step]
        t = np.array([p[0] for p in pts], dtype="datetime64[ns]")
        e = np.array([p[1] for p in pts]) - run.equity[0][1]
        ax.plot(t, e, lw=1.1, label=f"{run.variant} (PnL {Decimal(run.metrics['pnl']):,.0f})")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("equity - start (quote asset)")
    ax.set_title(title)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))  # type: ignore[no-untyped-call]
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def summary_table(report: Mapping[str, Any], /) -> Any:
    """Return the rich table of the out-of-sample runs (the verdict prints below it)."""
    from rich.table import Table

    runs: Mapping[str, Any] = report["variants"]
    start, _, end = report["test_window"].partition(" .. ")
    table = Table(title=f"out of sample (engine) {start[:10]} .. {end[:10]}", title_justify="left")
    table.add_column("metric")
    for n in runs:
        table.add_column(n, justify="right")
    for key in SHOWN:
        table.add_row(key, *(_cell(runs[n]["metrics"].get(key), key) for n in runs))
    return table


__all__ = ["CRITERIA", "compare", "markdown", "plot_equity", "summary_table", "verdict"]
