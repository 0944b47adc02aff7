"""Define the messages the ml agents publish.

Statistics are floats: they are model outputs, not money that reaches an order or the ledger.
"""

from __future__ import annotations

from typing import ClassVar

from runtime import Message

__all__ = ["ASPaperResult"]


class ASPaperResult(Message, frozen=True, kw_only=True, tag="ml.ASPaperResult"):
    """Report one (gamma, strategy) cell of the Avellaneda-Stoikov paper simulation.

    `paths` paths were simulated; stds are sample stds (n - 1). `spread_mean` is the mean over
    paths of each path's time-averaged quoted spread. Render many with `agents.ml.paper.table`.
    """

    report: ClassVar[bool] = True

    gamma: float
    strategy: str
    paths: int
    spread_mean: float
    profit_mean: float
    profit_std: float
    q_mean: float
    q_std: float
