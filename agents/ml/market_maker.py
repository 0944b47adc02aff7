"""Wire the bar market maker: every bar, cancel the last quotes, then quote around the reservation.

Kind `bar_market_maker`. The quoting model is `bar_quotes.BarQuoter`; this actor only moves
messages: bars in (keyed by its instrument), `RequestCancel`s and `OrderIntent`s out, fills in
through `Trader`. With a simulated venue in `relay` mode the fills of a bar arrive before the
bar, so the inventory in each quote counts them, as in the peers' engines.

With `policy` set, a frozen RL adjuster (`rl.py`, trained by `kinetic train`) chooses a spread
multiplier and a skew per bar from the regime. The artifact is read and checked against
`policy_sha256` when the actor is built (by the composition root, never in a handler), so a
replay with other bytes at the path is refused instead of diverging. Without a policy the
plain quoter runs exactly as before.
"""

from __future__ import annotations

import msgspec

from agents.data.messages import Bar
from agents.ml.bar_quotes import BarQuoter, BarQuoterConfig, BarQuoterState
from agents.ml.rl import Adjuster, RegimeState, load_policy
from agents.ml.trader import Trader, TraderConfig, TraderState


class BarMarketMakerConfig(TraderConfig, frozen=True, kw_only=True):
    """Params of kind `bar_market_maker`: where to trade, and the quoting model."""

    model: BarQuoterConfig = BarQuoterConfig()
    policy: str | None = None
    """A frozen RL adjuster: the path of a `kinetic train` `policy.json`. Unset: plain quotes."""
    policy_sha256: str | None = None
    """The artifact's sha256 (hex), required with `policy`: other bytes are refused."""


class BarMarketMakerState(TraderState, kw_only=True):
    """The trading state and the model's recursion."""

    model: BarQuoterState = msgspec.field(default_factory=BarQuoterState)
    regime: RegimeState | None = None
    """The adjuster's trend window (None without a policy)."""


class BarMarketMaker(Trader):
    """Quote one instrument on every bar; size and caps from the model's config."""

    Params = BarMarketMakerConfig
    params: BarMarketMakerConfig
    state: BarMarketMakerState

    def __init__(self, params: BarMarketMakerConfig | None = None) -> None:
        self.params = p = params or BarMarketMakerConfig()
        self.state = BarMarketMakerState()
        self._quoter = BarQuoter(p.model, self.state.model)
        self._policy = None if p.policy is None else load_policy(p.policy, sha256=p.policy_sha256)
        if self._policy is not None:
            trained = self._policy.training.model
            mine = msgspec.to_builtins(p.model)
            if trained != mine:
                diff = ", ".join(
                    f"`{k}` {trained.get(k)!r} != {mine.get(k)!r}"
                    for k in sorted(set(trained) | set(mine))
                    if trained.get(k) != mine.get(k)
                )
                raise ValueError(f"the policy {p.policy} was trained with another `model` ({diff})")
            self.state.regime = RegimeState()
        self._adjuster: Adjuster | None = None
        self._bind()

    def _bind(self) -> None:
        policy, st = self._policy, self.state
        if policy is None or st.regime is None:
            self._adjuster = None
            return
        m = self.params.model
        self._adjuster = Adjuster(policy, qmax=m.qmax, tick=m.tick, state=st.regime)

    def restore(self, data: bytes, /) -> None:
        super().restore(data)
        self._quoter = BarQuoter(self.params.model, self.state.model)
        if self._policy is not None and self.state.regime is None:
            self.state.regime = RegimeState()
        self._bind()

    def on_start(self) -> None:
        super().on_start()
        self.ctx.subscribe(Bar, key=self.params.instrument)

    def on_bar(self, msg: Bar) -> None:
        if self.state.open:
            self.cancel_all()
        adjuster = self._adjuster
        if adjuster is None:
            bid, ask = self._quoter.update(msg.close, self.state.position)
        else:
            quoter, q = self._quoter, self.state.position
            quoter.observe(msg.close)
            mult, skew = adjuster.step(msg.close, quoter.state.var, q)
            bid, ask = quoter.quote(msg.close, q, spread_mult=mult, skew=skew)
        size = self.params.model.size
        if bid is not None:
            self.submit("buy", size, bid)
        if ask is not None:
            self.submit("sell", size, ask)
