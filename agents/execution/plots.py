"""Draw a backtest for people: price with quotes and fills, inventory, equity and drawdown.

Rendered off-screen (matplotlib's Agg backend) to PNG bytes; the backtest writes them next to
the CSVs. Long runs are drawn from at most `MAX_POINTS` evenly spaced bars per line, so a
130,000-bar run plots in about a second; fills are drawn only when there are few enough to see.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

MAX_POINTS = 4_000
MAX_FILL_MARKS = 3_000


def _thin(n: int) -> range:
    step = max(1, n // MAX_POINTS)
    return range(0, n, step)


def plot_run(
    bars: Sequence[tuple[int, float, float, float, float, float]],
    samples: Sequence[tuple[float | None, float | None, float, float]],
    fills: Sequence[tuple[Any, ...]],
) -> dict[str, bytes]:
    """Return `price.png`, `inventory.png` and `equity.png` for one strategy's run."""
    if not bars or not samples:
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import numpy as np

    n = min(len(bars), len(samples))
    idx = list(_thin(n))
    t = np.array([bars[i][0] for i in idx], dtype="datetime64[ns]")
    close = [bars[i][4] for i in idx]
    out: dict[str, bytes] = {}

    def save(fig: Any, name: str) -> None:
        ax = fig.axes[0]
        locator = ax.xaxis.get_major_locator()
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        out[name] = buf.getvalue()

    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(t, close, color="black", lw=0.8, label="close")
    bid = [samples[i][0] for i in idx]
    ask = [samples[i][1] for i in idx]
    ax.plot(t, [np.nan if v is None else v for v in bid], color="tab:green", lw=0.5, label="bid")
    ax.plot(t, [np.nan if v is None else v for v in ask], color="tab:red", lw=0.5, label="ask")
    if 0 < len(fills) <= MAX_FILL_MARKS:
        for side, color, marker in (("buy", "tab:green", "^"), ("sell", "tab:red", "v")):
            pts = [(f[0], float(f[4])) for f in fills if f[2] == side]
            if pts:
                ax.scatter(np.array([p[0] for p in pts], dtype="datetime64[ns]"),
                           [p[1] for p in pts], s=10, color=color, marker=marker,
                           label=f"{side} fills")  # fmt: skip
    ax.set_title("price, quotes and fills")
    ax.legend(loc="upper left", fontsize="small")
    save(fig, "price.png")

    fig, ax = plt.subplots(figsize=(11, 3.5))
    ax.plot(t, [samples[i][2] for i in idx], color="tab:blue", lw=0.8)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_title("inventory (base units)")
    save(fig, "inventory.png")

    equity = np.array([s[3] for s in samples[:n]])
    peak = np.maximum.accumulate(equity)
    dd = np.where(peak > 0, (equity - peak) / peak * 100, 0.0)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True,
                                   gridspec_kw={"height_ratios": [2, 1]})  # fmt: skip
    ax1.plot(t, equity[idx], color="tab:blue", lw=0.8)
    ax1.set_title("equity (quote asset)")
    ax2.fill_between(t, dd[idx], 0, color="tab:red", alpha=0.4)
    ax2.set_title("drawdown from peak (%)")
    save(fig, "equity.png")
    return out
