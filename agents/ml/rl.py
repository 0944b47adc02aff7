"""Adjust the bar market maker's quotes with a frozen policy learned offline by Q-learning.

The policy maps a discrete *regime state* to an *action*, a (spread multiplier, skew) pair that
`BarQuoter.quote` applies: the half-spread `k * sp` becomes `k * sp * m` and the reservation
price moves by `skew * sp` (`sp`: the quoter's sigma in price units). It is learned by
`kinetic train` (`rl_train.py`) on backtests of past bars and loaded read-only at run time: the
actor never learns, so a run with the same artifact bytes replays to the same journal.

State, per bar (`RegimeBins`), three features binned by edges stored in the artifact:

- **volatility**: `sqrt(var)`, the quoter's own EWMA sigma per bar, a fraction of the price;
- **trend**: the signed efficiency ratio over `trend_bars` closes, `(c_t - c_{t-N}) /
  sum |c_i - c_{i-1}|` in [-1, 1] (1: a straight rise, -1: a straight fall, ~0: chop), computed
  in integer ticks so the streaming tracker and the training arrays agree exactly; 0 until warm;
- **inventory**: `position / qmax`.

`state = (v * n_trend + t) * n_inventory + i`; the bins are `bisect_right` of the edges (a value
equal to an edge falls in the bin above it), as `numpy.searchsorted(..., side="right")`.

This module is pure: no I/O but `load_policy`, which the composition root calls when it builds
the actor (never a handler). `Policy.act` is the one call another quoter needs.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from bisect import bisect_right
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

FORMAT = "kinetic.rl_policy.v1"
"""The artifact format: a change that old readers cannot read gets a new name."""


class RegimeBins(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Edges that cut the three regime features into bins (ascending, each may be empty)."""

    vol_edges: tuple[float, ...]
    trend_edges: tuple[float, ...]
    inventory_edges: tuple[float, ...]
    trend_bars: int

    def __post_init__(self) -> None:
        for name in ("vol_edges", "trend_edges", "inventory_edges"):
            edges = getattr(self, name)
            if any(b <= a for a, b in itertools.pairwise(edges)):
                raise ValueError(f"`{name}` must be strictly ascending, got {list(edges)}")
        if self.trend_bars < 1:
            raise ValueError(f"`trend_bars` must be >= 1, got {self.trend_bars}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Return the bins per feature: (volatility, trend, inventory)."""
        return len(self.vol_edges) + 1, len(self.trend_edges) + 1, len(self.inventory_edges) + 1

    @property
    def states(self) -> int:
        """Return the number of states."""
        nv, nt, ni = self.shape
        return nv * nt * ni

    def market(self, vol: float, trend: float, /) -> int:
        """Return the market part of the state: `v * n_trend + t`."""
        return bisect_right(self.vol_edges, vol) * (len(self.trend_edges) + 1) + bisect_right(
            self.trend_edges, trend
        )

    def inventory(self, ratio: float, /) -> int:
        """Return the inventory bin of `position / qmax`."""
        return bisect_right(self.inventory_edges, ratio)

    def state(self, vol: float, trend: float, ratio: float, /) -> int:
        """Return the state index of the three features."""
        return self.market(vol, trend) * (len(self.inventory_edges) + 1) + self.inventory(ratio)


class ActionGrid(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every (spread multiplier, skew) pair; action `a` is `divmod(a, len(skews))`."""

    spread_multipliers: tuple[float, ...]
    """Times the quoter's half-spread `k * sp`; each > 0."""
    skews: tuple[float, ...]
    """Moves of the reservation price in units of `sp` (> 0 raises both quotes)."""

    def __post_init__(self) -> None:
        if not self.spread_multipliers or not self.skews:
            raise ValueError("`spread_multipliers` and `skews` must each list at least one value")
        if any(not m > 0 for m in self.spread_multipliers):
            got = list(self.spread_multipliers)
            raise ValueError(f"`spread_multipliers` must be > 0, got {got}")
        for name in ("spread_multipliers", "skews"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"`{name}` must not repeat a value, got {list(values)}")

    @property
    def size(self) -> int:
        """Return the number of actions."""
        return len(self.spread_multipliers) * len(self.skews)

    def action(self, a: int, /) -> tuple[float, float]:
        """Return action `a` as (spread multiplier, skew)."""
        i, j = divmod(a, len(self.skews))
        return self.spread_multipliers[i], self.skews[j]

    def index(self, spread_mult: float, skew: float, /) -> int:
        """Return the action of a (multiplier, skew) pair on the grid."""
        try:
            i = self.spread_multipliers.index(spread_mult)
            j = self.skews.index(skew)
        except ValueError:
            raise ValueError(f"({spread_mult}, {skew}) is not on the action grid") from None
        return i * len(self.skews) + j


class TrainingInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Where a policy came from: data, windows, model, trainer config, seed."""

    data_file: str
    """The feed's file name (no directory: the same bytes may live elsewhere)."""
    data_sha256: str
    train_first: str
    """Stamp (ISO 8601 UTC) of the first and last training bar."""
    train_last: str
    train_bars: int
    validation_first: str
    validation_last: str
    validation_bars: int
    model: dict[str, Any]
    """The `BarQuoterConfig` the policy was trained with; the actor refuses another."""
    venue: dict[str, Any]
    """The venue terms of the training backtest (fees, fill model)."""
    config: dict[str, Any]
    """The trainer's params (`[params]` of the train config)."""
    seed: int
    episode: int
    """The episode whose greedy table the artifact holds (chosen on validation)."""


class Policy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A frozen adjuster: the greedy action per state, the Q table behind it, and its origin."""

    format: str = FORMAT
    name: str
    version: int
    """The model version (`v<N>` of its directory)."""
    kind: str = "q_learning"
    """`q_learning` (a learned table) or `static` (one action everywhere: a baseline)."""
    bins: RegimeBins
    actions: ActionGrid
    greedy: tuple[int, ...]
    """The action per state: what runs."""
    q: tuple[tuple[float, ...], ...] | None = None
    """The learned action values per state (None for a static policy)."""
    visits: tuple[int, ...] | None = None
    """Training updates per state (how much each row of `q` is worth)."""
    training: TrainingInfo
    metrics: dict[str, Any] = msgspec.field(default_factory=dict)
    """In-sample and validation metrics of the training environment (`rl_env.py`)."""

    def __post_init__(self) -> None:
        if self.format != FORMAT:
            raise ValueError(f"`format` must be {FORMAT!r}, got {self.format!r}")
        n, na = self.bins.states, self.actions.size
        if len(self.greedy) != n:
            got = len(self.greedy)
            raise ValueError(f"`greedy` must have one action per state ({n}), got {got}")
        if any(not 0 <= a < na for a in self.greedy):
            raise ValueError(f"`greedy` actions must be in [0, {na}), got {list(self.greedy)}")
        if self.q is not None and (len(self.q) != n or any(len(row) != na for row in self.q)):
            raise ValueError(f"`q` must be {n} rows of {na} values")

    def act(self, vol: float, trend: float, inventory_ratio: float, /) -> tuple[float, float]:
        """Return (spread multiplier, skew) for the features: the call any quoter can make."""
        return self.actions.action(self.greedy[self.bins.state(vol, trend, inventory_ratio)])


def encode_policy(policy: Policy, /) -> bytes:
    """Return the artifact bytes: indented JSON, fields in a fixed order, floats round-tripped."""
    return msgspec.json.format(msgspec.json.encode(policy), indent=2) + b"\n"


def decode_policy(data: bytes, /, *, source: str = "policy") -> Policy:
    """Decode artifact bytes; errors name the source and the field."""
    try:
        return msgspec.json.decode(data, type=Policy, strict=True)
    except msgspec.ValidationError as err:
        raise ValueError(f"{source} is not a valid policy artifact: {err}") from err
    except msgspec.DecodeError as err:
        raise ValueError(f"{source} is not a JSON policy artifact: {err}") from err


def sha256_hex(data: bytes, /) -> str:
    """Return the hex sha256 of `data` (the pin of an artifact)."""
    return hashlib.sha256(data).hexdigest()


def load_policy(path: str | Path, /, *, sha256: str | None) -> Policy:
    """Read a policy artifact, check it against its pinned sha256, decode it.

    The pin is required: a run records it in its config, so a replay that finds different bytes
    at the path is refused here, naming both hashes, instead of diverging somewhere later.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read the policy `{path}`: {err.strerror or err}") from err
    got = sha256_hex(data)
    if sha256 is None:
        raise ValueError(
            f"`policy_sha256` is required with `policy` (pin the artifact); {path} has sha256 {got}"
        )
    if got != sha256.lower():
        raise ValueError(
            f"the policy {path} has sha256 {got}, not the pinned `policy_sha256` {sha256}: the "
            f"artifact changed, refusing it"
        )
    return decode_policy(data, source=str(path))


class RegimeState(msgspec.Struct, kw_only=True):
    """The trend tracker's window: the last `trend_bars + 1` closes in ticks, oldest first."""

    ticks: list[int] = msgspec.field(default_factory=list)
    moved: int = 0
    """Sum of |tick moves| between consecutive closes of the window."""


class RegimeTracker:
    """Follow the signed efficiency ratio of closes, one bar at a time (exact: integer ticks)."""

    __slots__ = ("_n", "state")

    def __init__(self, trend_bars: int, state: RegimeState | None = None) -> None:
        self._n = trend_bars
        self.state = state if state is not None else RegimeState()

    def update(self, ticks: int, /) -> float:
        """Take the next close in ticks; return the trend (0.0 until `trend_bars` moves seen)."""
        st = self.state
        w = st.ticks
        if w:
            st.moved += abs(ticks - w[-1])
        w.append(ticks)
        if len(w) > self._n + 1:
            st.moved -= abs(w[1] - w[0])
            del w[0]
        if len(w) <= self._n or not st.moved:
            return 0.0
        return (w[-1] - w[0]) / st.moved


class Adjuster:
    """Turn each bar's features into the frozen policy's action (the actor's side of `Policy`)."""

    __slots__ = ("_qmax", "_tick", "_tracker", "policy")

    def __init__(
        self, policy: Policy, /, *, qmax: Decimal, tick: Decimal, state: RegimeState
    ) -> None:
        self.policy = policy
        self._qmax = float(qmax)
        self._tick = tick
        self._tracker = RegimeTracker(policy.bins.trend_bars, state)

    def step(self, close: Decimal, var: float, q: Decimal, /) -> tuple[float, float]:
        """Take the bar's close, the quoter's variance after it and the position; return the
        action (spread multiplier, skew)."""
        trend = self._tracker.update(int(close / self._tick))
        return self.policy.act(math.sqrt(var), trend, float(q) / self._qmax)


__all__ = [
    "FORMAT",
    "ActionGrid",
    "Adjuster",
    "Policy",
    "RegimeBins",
    "RegimeState",
    "RegimeTracker",
    "TrainingInfo",
    "decode_policy",
    "encode_policy",
    "load_policy",
    "sha256_hex",
]
