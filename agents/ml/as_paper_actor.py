"""Run the Avellaneda & Stoikov (2008) section 4 simulation as an actor (kind `as_paper`).

The actor fires one timer per path, simulates the whole path inside that handler with its seeded
`ctx.rng` (agents/ml/paper.py), folds it into running statistics, and after the last path
publishes one `ASPaperResult` per (gamma, strategy). Paths run gamma by gamma, strategy by
strategy, in config order, so a seed fixes every number. `config/as_paper.toml` runs it;
docs/as_paper.md records a run beside the paper's table.
"""

from __future__ import annotations

import math

import msgspec

from agents.ml.messages import ASPaperResult
from agents.ml.paper import Accumulator, PaperModel, Strategy, simulate_path
from runtime import Actor, ConfigBase, TimerFired

__all__ = ["ASPaperConfig", "ASPaperSimulation", "ASPaperState"]


class ASPaperConfig(ConfigBase, frozen=True, kw_only=True):
    """The paper's parameters (defaults are section 4's) and how many paths to run."""

    s0: float = 100.0
    """Initial mid price."""
    T: float = 1.0
    """Horizon."""
    sigma: float = 2.0
    """Mid volatility, price units per sqrt(time unit): binomial steps of +-sigma*sqrt(dt)."""
    dt: float = 0.005
    """Step length; T/dt steps per path."""
    k: float = 1.5
    """Decay of the arrival intensity A*exp(-k*delta), per price unit."""
    A: float = 140.0
    """Arrival intensity at delta = 0, per time unit."""
    gammas: list[float] = msgspec.field(default_factory=lambda: [0.01, 0.1, 0.5])
    """Risk aversions to run."""
    paths: int = 1000
    """Paths per (gamma, strategy)."""
    strategies: list[Strategy] = msgspec.field(default_factory=lambda: ["inventory", "symmetric"])
    """`inventory` quotes around the reservation price, `symmetric` around the mid."""
    interval_ms: int = 1
    """Simulated time between path firings; the backtest must last paths*cells*interval."""

    def __post_init__(self) -> None:
        for name in ("s0", "T", "dt", "k", "A"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"`{name}` must be finite and > 0, got {v!r}")
        if not (math.isfinite(self.sigma) and self.sigma >= 0.0):
            raise ValueError(f"`sigma` must be finite and >= 0, got {self.sigma!r}")
        if self.dt > self.T:
            raise ValueError(f"`dt` must be <= `T`, got dt={self.dt!r}, T={self.T!r}")
        if not self.gammas or any(not (math.isfinite(g) and g > 0.0) for g in self.gammas):
            raise ValueError(f"`gammas` must be non-empty, finite and > 0, got {self.gammas!r}")
        if not self.strategies or any(s not in ("inventory", "symmetric") for s in self.strategies):
            raise ValueError(
                f"`strategies` must be a non-empty list of inventory/symmetric, "
                f"got {self.strategies!r}"
            )
        if self.paths < 2:
            raise ValueError(f"`paths` must be >= 2 (a std needs two), got {self.paths}")
        if self.interval_ms <= 0:
            raise ValueError(f"`interval_ms` must be > 0, got {self.interval_ms}")


class ASPaperState(msgspec.Struct, kw_only=True):
    """Paths done so far and the running statistics per (gamma, strategy), in config order."""

    done: int = 0
    cells: list[Accumulator] = msgspec.field(default_factory=list)
    published: bool = False
    timer_id: int = -1


class ASPaperSimulation(Actor):
    """Simulate the paper's paths, one per timer firing; publish the statistics at the end."""

    Params = ASPaperConfig

    def __init__(self, params: ASPaperConfig | None = None) -> None:
        self.params = p = params or ASPaperConfig()
        self.model = PaperModel(s0=p.s0, T=p.T, sigma=p.sigma, dt=p.dt, k=p.k, A=p.A)
        self.cells: list[tuple[float, Strategy]] = [(g, s) for g in p.gammas for s in p.strategies]
        self.state = ASPaperState(cells=[Accumulator() for _ in self.cells])
        self.total = len(self.cells) * p.paths

    def on_start(self) -> None:
        if self.state.done < self.total and self.state.timer_id < 0:
            self.state.timer_id = self.ctx.schedule(
                self.params.interval_ms * 1_000_000, key="as_paper.path", every=True
            )

    def on_timer(self, msg: TimerFired) -> None:
        st = self.state
        if msg.key != "as_paper.path" or st.done >= self.total:
            return
        cell = st.done // self.params.paths
        gamma, strategy = self.cells[cell]
        st.cells[cell].add(simulate_path(self.model, gamma, strategy, self.ctx.rng))
        st.done += 1
        if st.done == self.total:
            self.ctx.cancel(st.timer_id)
            self._publish()

    def _publish(self) -> None:
        st = self.state
        for (gamma, strategy), acc in zip(self.cells, st.cells, strict=True):
            self.ctx.publish(
                ASPaperResult(
                    gamma=gamma,
                    strategy=strategy,
                    paths=acc.n,
                    spread_mean=acc.spread_mean,
                    profit_mean=acc.profit_mean,
                    profit_std=acc.profit_std,
                    q_mean=acc.q_mean,
                    q_std=acc.q_std,
                )
            )
        st.published = True
