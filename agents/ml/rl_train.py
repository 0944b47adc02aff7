"""Train the RL adjuster of the bar market maker: kind `bar_market_maker_rl` of `kinetic train`.

`kinetic train` (`runtime/_train.py`) finds this class in the `kinetic.trainers` entry-point
group, builds it from the backtest's actors (`from_actors`, as the analysis screen is built),
hands it the bars of the train and validation windows, and writes what `train` returns as a
versioned artifact; then it backtests the `variants` in the event-driven engine out of sample.

The procedure (docs/ml.md, "RL-enhanced adjuster"):

1. bins: volatility edges at `vol_quantiles` of the training window's EWMA sigma, fixed trend
   and inventory edges; actions: every (spread multiplier, skew) of the grid;
2. `episodes` passes of Q-learning over the training window (`rl_env.run_episode`), epsilon
   falling linearly from `epsilon_start` to `epsilon_end`, one seeded `numpy.random.Generator`
   drawing every exploration (so the same seed gives the same artifact bytes);
3. after each episode the greedy table is scored on the validation window; the best (by
   reward) is kept: early stopping, so the validation window chooses, the test window judges;
4. baselines in the same env: plain AS (multiplier 1, skew 0) and the best *static* action (one
   (multiplier, skew) everywhere, chosen on the training window by the same reward). The static
   one says whether the states add anything beyond "quote wider".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
from msgspec import Meta

from agents.ml.qlearning import QLearner
from agents.ml.rl import (
    ActionGrid,
    Policy,
    RegimeBins,
    TrainingInfo,
    encode_policy,
    sha256_hex,
)
from agents.ml.rl_env import EnvTerms, MarketPath, run_episode
from agents.ml.screen import BarArrays, BarMarketMakerScreen
from runtime import ConfigBase, ConfigError

Share = Annotated[float, Meta(ge=0.0, le=1.0)]
Progress = Callable[[str, int, int], None]
PLAIN = (1.0, 0.0)
"""The plain quoter's action: the multiplier and skew that change nothing."""


class RlTrainerConfig(ConfigBase, frozen=True, kw_only=True):
    """The `[params]` of a train config for kind `bar_market_maker_rl`."""

    episodes: Annotated[int, Meta(ge=1)] = 20
    """Passes of Q-learning over the training window."""
    discount: Annotated[float, Meta(ge=0.0, lt=1.0)] = 0.9
    """Q-learning's discount per bar (0.9: a horizon of about ten bars)."""
    alpha: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.01
    """The step size's floor: `alpha_n = max(alpha, 1 / n(s, a))`."""
    epsilon_start: Share = 1.0
    """Exploration rate of the first episode ..."""
    epsilon_end: Share = 0.05
    """... falling linearly to this in the last."""
    inventory_penalty: Annotated[float, Meta(ge=0.0)] = 0.001
    """`kappa` per USDT: the reward subtracts `kappa / 2 * (q * sp)^2` each bar."""
    spread_multipliers: list[Annotated[float, Meta(gt=0.0)]] = msgspec.field(
        default_factory=lambda: [1.0, 2.0, 3.0, 4.0, 6.0, 8.0]
    )
    """The half-spread multipliers of the action grid."""
    skews: list[float] = msgspec.field(default_factory=lambda: [-0.5, 0.0, 0.5])
    """The reservation shifts of the action grid, in units of the quoter's sigma `sp`."""
    vol_quantiles: list[Share] = msgspec.field(default_factory=lambda: [1 / 3, 2 / 3])
    """Volatility edges: these quantiles of the training window's EWMA sigma."""
    trend_edges: list[float] = msgspec.field(default_factory=lambda: [-0.3, 0.3])
    """Signed efficiency ratio edges (in [-1, 1])."""
    trend_bars: Annotated[int, Meta(ge=1)] = 30
    """Closes the efficiency ratio spans."""
    inventory_edges: list[float] = msgspec.field(default_factory=lambda: [-0.5, -0.1, 0.1, 0.5])
    """Inventory edges, as fractions of the model's `qmax`."""
    select: Literal["validation", "last"] = "validation"
    """Keep the episode whose greedy table scored best on the validation window, or the last."""

    def grid(self) -> ActionGrid:
        """Return the action grid."""
        return ActionGrid(
            spread_multipliers=tuple(self.spread_multipliers), skews=tuple(self.skews)
        )


class TrainOutput(msgspec.Struct, frozen=True, kw_only=True):
    """What `train` gives `kinetic train`: the files of the version and what to backtest."""

    files: dict[str, bytes]
    """File name -> bytes, written into `<out_dir>/<name>/v<N>/`."""
    metrics: dict[str, Any]
    """The content of `metrics.json`."""
    summary: list[tuple[str, str]]
    """Rows for the one-screen summary."""


class BarMarketMakerTrainer:
    """Learn a `Policy` for a `bar_market_maker` from the bars of its own backtest."""

    Params = RlTrainerConfig
    baseline = "plain_as"
    """The variant the candidate is judged against."""
    candidate = "rl"

    def __init__(self, screen: BarMarketMakerScreen, params: RlTrainerConfig) -> None:
        self.screen = screen
        self.params = params
        self.grid = params.grid()
        self.terms = EnvTerms(
            model=screen.model, venue=screen.venue, books=screen.books,
            inventory_penalty=params.inventory_penalty,
        )  # fmt: skip

    @classmethod
    def from_actors(
        cls, actors: Mapping[str, Any], /, *, strategy: str, params: RlTrainerConfig
    ) -> BarMarketMakerTrainer:
        """Read the strategy's model, venue and books as the screen does; refuse what the env
        cannot reproduce, naming the key."""
        screen = BarMarketMakerScreen.from_actors(actors, strategy=strategy)
        if getattr(actors[strategy].params, "policy", None) is not None:
            raise ConfigError(
                f"agent `{strategy}` already has a `policy`; train on the plain market maker "
                f"- at `strategy`"
            )
        try:
            params.grid()
        except ValueError as err:
            raise ConfigError(f"{err} - at `$.params`") from err
        return cls(screen, params)

    def load(self, bars: list[Any], /) -> BarArrays:
        """Convert the bars of every window to arrays once."""
        return self.screen.load(bars)

    def train(
        self,
        data: BarArrays,
        /,
        *,
        train: tuple[int, int],
        validation: tuple[int, int],
        seed: int,
        meta: Mapping[str, Any],
        progress: Progress | None = None,
    ) -> TrainOutput:
        """Learn the policy; return its artifact, the static baseline's, and the metrics."""
        p = self.params
        model = self.screen.model
        train_bars, val_bars = data.window(*train), data.window(*validation)
        for name, bars in (("train", train_bars), ("validation", val_bars)):
            if len(bars) <= model.warmup + 1:
                raise ConfigError(
                    f"the {name} window has {len(bars)} bars; the quoter needs more than "
                    f"`warmup` + 1 = {model.warmup + 1} - at `$.{name}`"
                )
        bins = self._bins(train_bars)
        path = MarketPath(train_bars, model, bins)
        val = MarketPath(val_bars, model, bins)
        learner = QLearner(bins.states, self.grid.size, discount=p.discount, alpha=p.alpha)
        rng = np.random.default_rng(seed)
        curve: list[dict[str, Any]] = []
        best: tuple[float, int, list[int], list[list[float]], list[int]] | None = None
        for e in range(p.episodes):
            eps = _epsilon(p, e)
            draws = (rng.random(path.n).tolist(), rng.integers(0, learner.actions, path.n).tolist())
            ep = run_episode(
                path, self.terms, bins, self.grid, learner=learner, epsilon=eps, draws=draws
            )
            greedy = learner.greedy_table()
            score = self._score(val, bins, self.grid, greedy)
            curve.append(
                {"episode": e + 1, "epsilon": eps, "train_reward": ep.reward,
                 "validation_reward": score}
            )  # fmt: skip
            if p.select == "last" or best is None or score > best[0]:
                best = (score, e + 1, greedy, learner.table(), learner.visits())
            if progress is not None:
                progress("train", e + 1, p.episodes)
        assert best is not None
        _, episode, greedy, table, visits = best
        static_a, static_scores = self._static(path, bins)
        evaluated = self._evaluate(path, val, bins, greedy, static_a)
        info = self._info(data, train_bars, val_bars, meta, seed, episode)
        rl = Policy(
            name=str(meta["name"]), version=int(meta["version"]), bins=bins, actions=self.grid,
            greedy=tuple(greedy), q=tuple(tuple(r) for r in table), visits=tuple(visits),
            training=info, metrics=evaluated["rl"],
        )  # fmt: skip
        static = Policy(
            name=str(meta["name"]), version=int(meta["version"]), kind="static", bins=bins,
            actions=self.grid, greedy=(static_a,) * bins.states, training=info,
            metrics=evaluated["static"],
        )  # fmt: skip
        files = {"policy.json": encode_policy(rl), "static_policy.json": encode_policy(static)}
        mult, skew = self.grid.action(static_a)
        usage = _usage(greedy, visits, self.grid)
        metrics = {
            "trainer": "bar_market_maker_rl",
            "name": meta["name"],
            "version": meta["version"],
            "seed": seed,
            "selected_episode": episode,
            "states": bins.states,
            "actions": self.grid.size,
            "bins": msgspec.to_builtins(bins),
            "training": msgspec.to_builtins(info),
            "episodes": curve,
            "static_action": {"spread_multiplier": mult, "skew": skew},
            "static_train_reward": static_scores,
            "greedy_usage": usage,
            "env": evaluated,
            "note": "env numbers (float64 books, the fast simulator); the report's engine "
            "numbers are the ones to judge by",
        }
        summary = [
            ("train bars", f"{len(train_bars):,} ({info.train_first} .. {info.train_last})"),
            ("validation bars", f"{len(val_bars):,}"),
            ("states x actions", f"{bins.states} x {self.grid.size}"),
            ("selected episode", f"{episode} of {p.episodes}"),
            ("static action", f"spread x{mult:g}, skew {skew:+g}"),
        ]
        for window in ("in_sample", "validation"):
            for name in ("plain_as", "static", "rl"):
                m = evaluated[window][name]
                summary.append(
                    (f"env {window} {name}",
                     f"pnl {m['pnl']:,.2f}  sharpe {m['sharpe']:.2f}  fills {m['fills']:,}")
                )  # fmt: skip
        return TrainOutput(files=files, metrics=metrics, summary=summary)

    def variants(self, directory: str, files: Mapping[str, bytes], /) -> dict[str, dict[str, Any]]:
        """Return the strategy params each out-of-sample run sets (relative to its table)."""
        out: dict[str, dict[str, Any]] = {self.baseline: {}}
        for name, file in (("static", "static_policy.json"), (self.candidate, "policy.json")):
            out[name] = {
                "params.policy": f"{directory}/{file}",
                "params.policy_sha256": sha256_hex(files[file]),
            }
        return out

    # -- the procedure's parts ---------------------------------------------------------------

    def _bins(self, bars: BarArrays, /) -> RegimeBins:
        p = self.params
        model = self.screen.model
        probe = RegimeBins(
            vol_edges=(), trend_edges=tuple(p.trend_edges),
            inventory_edges=tuple(p.inventory_edges), trend_bars=p.trend_bars,
        )  # fmt: skip
        vol = MarketPath(bars, model, probe).vol[model.warmup :]
        edges = sorted({float(x) for x in np.quantile(vol, p.vol_quantiles)}) if len(vol) else []
        try:
            return RegimeBins(
                vol_edges=tuple(edges), trend_edges=tuple(p.trend_edges),
                inventory_edges=tuple(p.inventory_edges), trend_bars=p.trend_bars,
            )  # fmt: skip
        except ValueError as err:
            raise ConfigError(f"{err} - at `$.params`") from err

    def _score(
        self, path: MarketPath, bins: RegimeBins, grid: ActionGrid, greedy: list[int], /
    ) -> float:
        return run_episode(path, self.terms, bins, grid, greedy=greedy).reward

    def _static(self, path: MarketPath, bins: RegimeBins, /) -> tuple[int, list[float]]:
        """Return the best constant action on the training window, and every action's reward."""
        scores = [
            self._score(path, bins, self.grid, [a] * bins.states) for a in range(self.grid.size)
        ]
        return scores.index(max(scores)), scores

    def _evaluate(
        self,
        path: MarketPath,
        val: MarketPath,
        bins: RegimeBins,
        greedy: list[int],
        static_a: int,
        /,
    ) -> dict[str, Any]:
        plain_grid = ActionGrid(spread_multipliers=(PLAIN[0],), skews=(PLAIN[1],))
        out: dict[str, Any] = {"in_sample": {}, "validation": {}}
        for window, mp in (("in_sample", path), ("validation", val)):
            for name, grid, table in (
                ("plain_as", plain_grid, [0] * bins.states),
                ("static", self.grid, [static_a] * bins.states),
                ("rl", self.grid, greedy),
            ):
                ep = run_episode(mp, self.terms, bins, grid, greedy=table, record=True)
                out[window][name] = ep.metrics
        return {
            **out,
            "rl": {w: out[w]["rl"] for w in ("in_sample", "validation")},
            "static": {w: out[w]["static"] for w in ("in_sample", "validation")},
        }

    def _info(
        self,
        data: BarArrays,
        train_bars: BarArrays,
        val_bars: BarArrays,
        meta: Mapping[str, Any],
        seed: int,
        episode: int,
        /,
    ) -> TrainingInfo:
        iso = _iso
        return TrainingInfo(
            data_file=str(meta["data_file"]),
            data_sha256=str(meta["data_sha256"]),
            train_first=iso(int(train_bars.end_ns[0])),
            train_last=iso(int(train_bars.end_ns[-1])),
            train_bars=len(train_bars),
            validation_first=iso(int(val_bars.end_ns[0])),
            validation_last=iso(int(val_bars.end_ns[-1])),
            validation_bars=len(val_bars),
            model=msgspec.to_builtins(self.screen.model),
            venue=msgspec.to_builtins(self.screen.venue),
            config=msgspec.to_builtins(self.params),
            seed=seed,
            episode=episode,
        )


def _iso(ns: int, /) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epsilon(p: RlTrainerConfig, e: int, /) -> float:
    if p.episodes == 1:
        return p.epsilon_end
    return p.epsilon_start + (p.epsilon_end - p.epsilon_start) * e / (p.episodes - 1)


def _usage(greedy: list[int], visits: list[int], grid: ActionGrid, /) -> list[dict[str, Any]]:
    """Return each action's share of the training updates of the states that choose it."""
    total = sum(visits) or 1
    weight: dict[int, int] = {}
    for a, n in zip(greedy, visits, strict=True):
        weight[a] = weight.get(a, 0) + n
    out = []
    for a, n in sorted(weight.items(), key=lambda kv: -kv[1]):
        mult, skew = grid.action(a)
        out.append({"spread_multiplier": mult, "skew": skew, "share": n / total})
    return out


__all__ = ["BarMarketMakerTrainer", "RlTrainerConfig", "TrainOutput"]
