"""Turn a finished sweep into what a person decides with: picks, readiness, agreement, files.

- **Walk-forward picks.** Per split the candidate best in sample (`rank_by` on the train window)
  is judged by the event-driven engine on the test window after it. The chain of those picks is
  the out-of-sample record of the *procedure* (re-choose on the trailing window, trade the next);
  readiness is judged on it, never on candidates chosen by their test results.
- **Readiness.** `ready_for_live` is true only when every check in `[readiness]` passes; each
  check says what it measured and against what.
- **Agreement.** Every (candidate, split) that both the screen and the engine ran out of sample
  is compared: counts and money exactly, float statistics to `RTOL`.
- **Files.** `analysis.json`, `results.csv` (one row per candidate x split), `oos.png`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from runtime._analysis import Plan, ScreenPass, as_decimal, ranked
from runtime._analysis_config import ns_to_iso
from runtime._analysis_runs import RunKey, RunResult

EXACT = (
    "bars", "orders", "fills", "initial_equity", "final_equity", "pnl", "fees", "final_cash",
    "final_inventory",
)  # fmt: skip
"""Metrics the screen must reproduce exactly (counts and money)."""
FLOATS = (
    "fill_rate", "return_pct", "sharpe", "sortino", "max_drawdown", "turnover", "inventory_mean",
    "inventory_std", "inventory_max", "quote_uptime",
)  # fmt: skip
"""Float statistics: equal within `RTOL` (relative) or `ATOL` (absolute, for values near 0)."""
RTOL = 1e-9
ATOL = 1e-12
ENGINE_FIELDS = (
    "bars", "orders", "fills", "fill_rate", "pnl", "return_pct", "sharpe", "sortino",
    "max_drawdown", "turnover", "fees", "final_inventory", "inventory_mean", "inventory_std",
    "inventory_max", "quote_uptime",
)  # fmt: skip
SCREEN_FIELDS = ("pnl", "sharpe", "fills", "max_drawdown", "final_inventory")


def compare(screen: Mapping[str, Any], engine: Mapping[str, Any], /) -> dict[str, Any]:
    """Return how one screened run differs from the engine's: fields off, worst float gap."""
    off = [k for k in EXACT if as_decimal(screen[k]) != as_decimal(engine[k])]
    worst = 0.0
    for key in FLOATS:
        a, b = float(screen[key]), float(engine[key])
        gap = abs(a - b)
        if not gap <= ATOL + RTOL * max(abs(a), abs(b)):
            off.append(key)
        if gap:
            worst = max(worst, gap / max(abs(a), abs(b)))
    pnl_gap = abs(as_decimal(screen["pnl"]) - as_decimal(engine["pnl"]))
    return {"agrees": not off, "off": off, "worst_rel": worst, "pnl_gap": pnl_gap}


def agreement(
    plan: Plan, screened: ScreenPass | None, runs: Mapping[RunKey, RunResult], /
) -> dict[str, Any] | None:
    """Compare screen and engine on every test window both ran; None without a screen."""
    if screened is None:
        return None
    pairs = 0
    failed: list[dict[str, Any]] = []
    worst = 0.0
    pnl_gap = Decimal(0)
    for (c, s, phase), result in sorted(runs.items()):
        if phase != "test":
            continue
        d = compare(screened.test[s][c], result.metrics)
        pairs += 1
        worst = max(worst, d["worst_rel"])
        pnl_gap = max(pnl_gap, d["pnl_gap"])
        if not d["agrees"]:
            failed.append({"candidate": plan.candidates[c].id, "split": s, "fields": d["off"]})
    return {
        "pairs": pairs,
        "agree": pairs - len(failed),
        "disagreements": failed[:20],
        "max_pnl_gap": str(pnl_gap),
        "max_float_rel_gap": worst,
        "tolerance": {
            "exact": list(EXACT),
            "floats": list(FLOATS),
            "float_rtol": RTOL,
            "float_atol": ATOL,
        },
    }


def chain(
    plan: Plan, rankings: Sequence[Sequence[int]], runs: Mapping[RunKey, RunResult], /
) -> list[dict[str, Any]]:
    """Return the walk-forward picks: per split the best in sample, judged out of sample."""
    out = []
    for sp, order in zip(plan.splits, rankings, strict=True):
        c = order[0]
        run = runs[(c, sp.index, "test")]
        out.append(
            {
                "split": sp.index,
                "test_start": ns_to_iso(sp.test_start_ns),
                "test_end": ns_to_iso(sp.test_end_ns),
                "pick": plan.candidates[c].id,
                "params": plan.candidates[c].params,
                **{k: run.metrics[k] for k in ENGINE_FIELDS},
                "denied": run.denied,
            }
        )
    return out


class _Checks:
    """Collect readiness checks, each with its value, its threshold and a sentence."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, name: str, passed: bool, value: Any, threshold: Any, text: str) -> None:
        self.items.append(
            {"check": name, "passed": passed, "value": value, "threshold": threshold,
             "reason": f"{'ok' if passed else 'FAIL'}: {text}"}
        )  # fmt: skip


def readiness(
    plan: Plan, picks: Sequence[Mapping[str, Any]], agree: Mapping[str, Any] | None, /
) -> dict[str, Any]:
    """Judge the walk-forward picks against `[readiness]`; `ready_for_live` needs every check."""
    r = plan.cfg.readiness
    n = len(picks)
    checks = _Checks()
    positive = sum(1 for p in picks if as_decimal(p["pnl"]) > 0)
    share = positive / n if n else 0.0
    checks.add(
        "positive_oos_share", share >= r.min_positive_share, round(share, 4),
        r.min_positive_share,
        f"out-of-sample PnL > 0 in {positive}/{n} splits ({share:.0%}); "
        f"needs >= {r.min_positive_share:.0%}",
    )  # fmt: skip
    bound, origin = plan.max_drawdown()
    worst = max((float(p["max_drawdown"]) for p in picks), default=0.0)
    checks.add(
        "max_drawdown", worst <= bound, round(worst, 6), bound,
        f"worst out-of-sample drawdown {worst:.2%}; the bound is {bound:.2%} ({origin})",
    )  # fmt: skip
    mean_sharpe = sum(float(p["sharpe"]) for p in picks) / n if n else 0.0
    checks.add(
        "mean_sharpe", mean_sharpe >= r.min_sharpe, round(mean_sharpe, 4), r.min_sharpe,
        f"mean out-of-sample Sharpe {mean_sharpe:.2f}; needs >= {r.min_sharpe:g}",
    )  # fmt: skip
    fewest = min((int(p["fills"]) for p in picks), default=0)
    checks.add(
        "min_fills", fewest >= r.min_fills, fewest, r.min_fills,
        f"fewest fills in a test window {fewest}; needs >= {r.min_fills}",
    )  # fmt: skip
    if agree is not None:
        ok = agree["agree"] == agree["pairs"]
        checks.add(
            "screen_agrees", ok, agree["agree"], agree["pairs"],
            f"screen and engine agree on {agree['agree']}/{agree['pairs']} out-of-sample runs "
            f"(the screen chose what the engine ran)",
        )  # fmt: skip
    items = checks.items
    ready = all(c["passed"] for c in items)
    failing = [c["reason"] for c in items if not c["passed"]]
    return {
        "ready_for_live": ready,
        "judged": "the walk-forward picks (per split, the best in sample), out of sample",
        "reasons": failing or [c["reason"] for c in items],
        "checks": items,
    }


def candidate_summary(plan: Plan, runs: Mapping[RunKey, RunResult], /) -> list[dict[str, Any]]:
    """Return the engine's out-of-sample record of every candidate it ran, best mean PnL first."""
    per: dict[int, list[RunResult]] = {}
    for (c, _, phase), result in runs.items():
        if phase == "test":
            per.setdefault(c, []).append(result)
    out: list[dict[str, Any]] = []
    for c, results in per.items():
        pnls = [as_decimal(r.metrics["pnl"]) for r in results]
        total = sum(pnls, Decimal(0))
        out.append(
            {
                "candidate": plan.candidates[c].id,
                "params": plan.candidates[c].params,
                "splits": len(results),
                "total_pnl": str(total),
                "mean_pnl": float(total / len(pnls)),
                "mean_sharpe": sum(float(r.metrics["sharpe"]) for r in results) / len(results),
                "positive_share": sum(1 for p in pnls if p > 0) / len(pnls),
                "worst_drawdown": max(float(r.metrics["max_drawdown"]) for r in results),
            }
        )
    out.sort(key=lambda d: (-float(d["mean_pnl"]), str(d["candidate"])))
    return out


def results_csv(
    plan: Plan,
    screened: ScreenPass | None,
    rankings: Sequence[Sequence[int]],
    runs: Mapping[RunKey, RunResult],
    /,
) -> bytes:
    """Return `results.csv`: one row per candidate x split, screen and engine side by side."""
    keys = list(plan.cfg.sweep)
    header = ["candidate", *keys, "split", "train_start", "train_end", "test_start", "test_end",
              "train_rank", "engine_ran", "pick"]  # fmt: skip
    if screened is not None:
        header += [f"screen_train_{k}" for k in SCREEN_FIELDS]
        header += [f"screen_test_{k}" for k in SCREEN_FIELDS]
    else:
        header += [f"engine_train_{k}" for k in SCREEN_FIELDS]
    header += [f"engine_test_{k}" for k in ENGINE_FIELDS]
    header += ["engine_test_denied", "engine_test_secs", "screen_agrees"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for sp, order in zip(plan.splits, rankings, strict=True):
        full = order if screened is None else ranked(screened.train[sp.index], plan.cfg.rank_by)
        rank = {c: i + 1 for i, c in enumerate(full)}
        for c, cand in enumerate(plan.candidates):
            test = runs.get((c, sp.index, "test"))
            row: list[Any] = [cand.id, *(cand.params[k] for k in keys), sp.index,
                              ns_to_iso(sp.train_start_ns), ns_to_iso(sp.train_end_ns),
                              ns_to_iso(sp.test_start_ns), ns_to_iso(sp.test_end_ns),
                              rank[c], test is not None, order[0] == c]  # fmt: skip
            if screened is not None:
                row += [screened.train[sp.index][c][k] for k in SCREEN_FIELDS]
                row += [screened.test[sp.index][c][k] for k in SCREEN_FIELDS]
            else:
                train = runs[(c, sp.index, "train")].metrics
                row += [train[k] for k in SCREEN_FIELDS]
            if test is None:
                row += [""] * (len(ENGINE_FIELDS) + 3)
            else:
                agrees: Any = ""
                if screened is not None:
                    agrees = compare(screened.test[sp.index][c], test.metrics)["agrees"]
                row += [test.metrics[k] for k in ENGINE_FIELDS]
                denied = "" if test.denied is None else test.denied
                row += [denied, round(test.secs, 4), agrees]
            w.writerow(row)
    return buf.getvalue().encode()


def plot_oos(plan: Plan, screened: ScreenPass | None, runs: Mapping[RunKey, RunResult], /) -> bytes:
    """Return `oos.png`: out-of-sample PnL per candidate (engine dots; screen means below)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per: dict[int, list[float]] = {}
    for (c, _, phase), result in runs.items():
        if phase == "test":
            per.setdefault(c, []).append(float(result.metrics["pnl"]))
    order = sorted(per, key=lambda c: (-sum(per[c]) / len(per[c]), c))
    rows = 2 if screened is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(10, 3.4 * rows), squeeze=False)
    ax = axes[0][0]
    for x, c in enumerate(order):
        ys = per[c]
        ax.scatter([x] * len(ys), ys, s=14, color="tab:blue", alpha=0.6)
        ax.scatter([x], [sum(ys) / len(ys)], s=120, marker="_", color="black")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(order)), [plan.candidates[c].id for c in order], rotation=90,
                  fontsize=6 if len(order) > 30 else 8)  # fmt: skip
    ax.set_ylabel("out-of-sample PnL")
    ax.set_title("event-driven engine: PnL per test window (dots) and mean (bar)")
    if screened is not None:
        ax2 = axes[1][0]
        n = len(plan.candidates)
        splits = max(1, len(screened.test))
        means = [sum(float(s[c]["pnl"]) for s in screened.test) / splits for c in range(n)]
        idx = sorted(range(n), key=lambda c: -means[c])
        colors = ["tab:blue" if c in per else "lightgrey" for c in idx]
        ax2.bar(range(n), [means[c] for c in idx], color=colors, width=1.0)
        ax2.axhline(0, color="grey", lw=0.8)
        ax2.set_ylabel("mean test PnL")
        ax2.set_xlabel(f"all {n} candidates, best first (blue: also run by the engine)")
        ax2.set_title(f"screen ({screened.kind})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def summary_tables(analysis: Mapping[str, Any], /) -> list[Any]:
    """Return the rich tables of the one-screen summary."""
    from rich.table import Table

    head = Table(title=f"analysis {analysis['id']}", show_header=False, title_justify="left")
    head.add_row("candidates x splits", f"{analysis['candidates']} x {len(analysis['splits'])}")
    scr = analysis.get("screen")
    head.add_row("screen", "off" if scr is None else f"{scr['kind']}, top {scr['top']} per split")
    sp = analysis["speed"]
    head.add_row("engine runs", f"{sp['engine_runs']} test windows ({analysis['workers']} workers)")
    if sp.get("speedup") is not None:
        head.add_row("screen speedup", f"{sp['speedup']:,.0f}x per candidate-bar (this run)")
    agree = analysis.get("agreement")
    if agree is not None:
        head.add_row("screen = engine", f"{agree['agree']}/{agree['pairs']} out-of-sample runs")
    head.add_row("wall", f"{analysis['wall_secs']:.1f} s")
    wf = Table(title="walk-forward picks, out of sample (event-driven)", title_justify="left")
    numeric = ("pnl", "sharpe", "max dd", "fills")
    for col in ("split", "test window", "pick", "params", *numeric):
        wf.add_column(col, justify="right" if col in numeric else "left")
    for p in analysis["walk_forward"]["picks"]:
        params = " ".join(f"{k}={v}" for k, v in p["params"].items())
        window = f"{p['test_start'][5:16]} .. {p['test_end'][5:16]}".replace("T", " ")
        wf.add_row(str(p["split"]), window, p["pick"],
                   params, f"{float(p['pnl']):,.2f}", _num(p["sharpe"]),
                   f"{float(p['max_drawdown']):.2%}", str(p["fills"]))  # fmt: skip
    rd = analysis["readiness"]
    verdict = Table(
        title="ready_for_live: " + ("[green]yes[/]" if rd["ready_for_live"] else "[red]no[/]"),
        show_header=False, title_justify="left",
    )  # fmt: skip
    for reason in rd["reasons"]:
        verdict.add_row(reason)
    rec = analysis.get("recommended")
    if rec is not None:
        params = " ".join(f"{k}={v}" for k, v in rec["params"].items())
        verdict.add_row(f"next: {rec['candidate']} ({params}), {rec['basis']}")
    return [head, wf, verdict]


def _num(x: Any) -> str:
    v = float(x)
    return "nan" if math.isnan(v) else f"{v:.2f}"


__all__ = [
    "ATOL",
    "ENGINE_FIELDS",
    "EXACT",
    "FLOATS",
    "RTOL",
    "agreement",
    "candidate_summary",
    "chain",
    "compare",
    "plot_oos",
    "readiness",
    "results_csv",
    "summary_tables",
]
