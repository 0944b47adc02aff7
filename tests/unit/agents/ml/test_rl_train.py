"""Training on real candles: deterministic, and the env it learns in is the engine it runs in.

The engine is the backtest of config/mm_binance.toml (feed, simulated venue in relay mode, risk
gate, execution, the market maker with the policy, the recorder), run as `kinetic train`'s
report runs it.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agents.ml.bar_quotes import BarQuoter, BarQuoterConfig
from agents.ml.market_maker import BarMarketMaker, BarMarketMakerConfig
from agents.ml.rl import Policy, decode_policy, encode_policy, sha256_hex
from agents.ml.rl_env import MarketPath, run_episode
from runtime import _app
from runtime._analysis_runs import window_overrides
from runtime._train import TrainPlan, run_variant
from runtime._train_config import load_train_config
from runtime.config import load_config
from tests.conftest import shared_data

pytestmark = pytest.mark.shared_data

REPO = Path(__file__).resolve().parents[4]
BTC_1M = "binance_btcusdt_1m_20250520_20250818.csv.gz"
TRAIN = ("2025-05-20T00:00:00Z", "2025-05-21T12:00:00Z")  # 2,159 bars (the first at 00:01)
VALIDATION = ("2025-05-21T12:00:00Z", "2025-05-22T00:00:00Z")
TEST = ("2025-05-22T00:00:00Z", "2025-05-22T12:00:00Z")


def plan(tmp_path: Path, **params: Any) -> TrainPlan:
    data = shared_data(BTC_1M)
    backtest = (REPO / "config" / "mm_binance.toml").read_text()
    backtest = backtest.replace("../shared/data/" + BTC_1M, str(data))
    (tmp_path / "mm.toml").write_text(backtest)
    table = ", ".join(f"{k} = {v!r}" for k, v in {"episodes": 3, **params}.items())
    (tmp_path / "train.toml").write_text(
        f'trainer = "bar_market_maker_rl"\nbacktest = "{tmp_path / "mm.toml"}"\n'
        f'strategy = "mm"\nfeed = "candles"\nname = "t"\n'
        f'train = {{ start = "{TRAIN[0]}", end = "{TRAIN[1]}" }}\n'
        f'validation = {{ start = "{VALIDATION[0]}", end = "{VALIDATION[1]}" }}\n'
        f'test = {{ start = "{TEST[0]}", end = "{TEST[1]}" }}\n'
        f"params = {{ {table} }}\n"
    )
    path = tmp_path / "train.toml"
    return TrainPlan(load_train_config(path), source=str(path))


def train(p: TrainPlan, seed: int) -> dict[str, bytes]:
    cfg = p.cfg
    data = p.trainer.load(p.bars(cfg.train.start_ns, cfg.validation.end_ns))
    out = p.trainer.train(
        data, train=(cfg.train.start_ns, cfg.train.end_ns),
        validation=(cfg.validation.start_ns, cfg.validation.end_ns), seed=seed,
        meta={"name": "t", "version": 1, "data_file": BTC_1M, "data_sha256": "00"},
    )  # fmt: skip
    files: dict[str, bytes] = out.files
    return files


def test_the_same_seed_gives_the_same_artifact_bytes(tmp_path: Path) -> None:
    p = plan(tmp_path)
    a, b = train(p, seed=5), train(p, seed=5)
    assert a == b
    assert train(p, seed=6)["policy.json"] != a["policy.json"]
    pol = decode_policy(a["policy.json"])
    assert pol.kind == "q_learning" and pol.q is not None
    assert pol.training.train_bars == 2_159 and pol.training.validation_bars == 720
    assert pol.training.train_first == "2025-05-20T00:01:00Z"  # bars are stamped at their close
    assert pol.training.seed == 5 and pol.training.data_file == BTC_1M
    assert set(pol.metrics) == {"in_sample", "validation"}
    assert len(pol.bins.vol_edges) == 2  # tertiles of the training sigma


def test_the_env_reproduces_the_engine_with_the_policy(tmp_path: Path) -> None:
    p = plan(tmp_path)
    files = train(p, seed=1)
    (tmp_path / "policy.json").write_bytes(files["policy.json"])
    pol = decode_policy(files["policy.json"])
    cfg = p.cfg
    window = (cfg.test.start_ns, cfg.test.end_ns)
    params = {
        "params.policy": str(tmp_path / "policy.json"),
        "params.policy_sha256": sha256_hex(files["policy.json"]),
    }
    engine = run_variant(p, "rl", params, window)
    plain = run_variant(p, "plain_as", {}, window)
    data = p.trainer.load(p.bars(*window))
    env = run_episode(
        MarketPath(data, p.trainer.screen.model, pol.bins), p.trainer.terms, pol.bins,
        pol.actions, greedy=pol.greedy, record=True,
    ).metrics  # fmt: skip
    assert env is not None
    assert engine.metrics["fills"] > 0
    assert env["fills"] == engine.metrics["fills"]  # same states, same quotes, same fills
    assert env["pnl"] == pytest.approx(float(engine.metrics["pnl"]), abs=1e-6)
    assert env["inventory_std"] == pytest.approx(engine.metrics["inventory_std"], rel=1e-9)
    assert env["max_drawdown"] == pytest.approx(engine.metrics["max_drawdown"], rel=1e-6)
    # The policy changed the quotes: other fills than plain AS, wider on average.
    assert engine.metrics["fills"] != plain.metrics["fills"]
    assert env["mean_spread_multiplier"] > 1.0


def market_data(p: TrainPlan, params: dict[str, Any]) -> list[dict[str, str]]:
    """Run the test window in the sim kernel; return the recorder's `market_data.csv` rows."""
    overrides = window_overrides(p.feed_index, p.cfg.test.start_ns, p.cfg.test.end_ns)
    overrides.update({f"agents.{p.strategy_index}.{k}": v for k, v in params.items()})
    cfg = load_config(p.cfg.backtest, overrides=overrides)
    kernel = _app.build_sim(cfg, source="test", run_id="t", sink=None, level="off")
    kernel.run_to_end()
    reports = kernel.cells[_app.REPORTS].actor.reports  # type: ignore[attr-defined]
    body = _app.artifacts(kernel, reports)["market_data.csv"].decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_a_fixed_policy_quotes_wider_and_skewed_in_the_engine(tmp_path: Path) -> None:
    p = plan(tmp_path)
    pol = decode_policy(train(p, seed=1)["static_policy.json"])
    fixed = msgspec.structs.replace(pol, greedy=(pol.actions.index(4.0, 0.5),) * pol.bins.states)
    body = encode_policy(fixed)
    (tmp_path / "fixed.json").write_bytes(body)
    pin = sha256_hex(body)
    params = {"params.policy": str(tmp_path / "fixed.json"), "params.policy_sha256": pin}
    plain, adjusted = market_data(p, {}), market_data(p, params)
    # The first quotes (flat inventory): exactly the quoter's with multiplier 4 and skew +0.5.
    first = next(i for i, r in enumerate(plain) if r["bid"])
    assert adjusted[first - 1]["bid"] == "" and adjusted[first]["bid"]
    quoter = BarQuoter(BarQuoterConfig())
    for row in plain[: first + 1]:
        quoter.observe(Decimal(row["close"]))
    close = Decimal(plain[first]["close"])
    want_plain = quoter.quote(close, Decimal(0))
    want_adjusted = quoter.quote(close, Decimal(0), spread_mult=4.0, skew=0.5)
    assert (Decimal(plain[first]["bid"]), Decimal(plain[first]["ask"])) == want_plain
    assert (Decimal(adjusted[first]["bid"]), Decimal(adjusted[first]["ask"])) == want_adjusted

    # Over the window: every two-sided quote is wider, and the midpoint sits higher on average.
    def spreads(rows: list[dict[str, str]]) -> list[float]:
        return [float(r["ask"]) - float(r["bid"]) for r in rows if r["bid"] and r["ask"]]

    def mids(rows: list[dict[str, str]]) -> float:
        xs = [(float(r["ask"]) + float(r["bid"])) / 2 - float(r["close"]) for r in rows if r["bid"]]
        return sum(xs) / len(xs)

    assert min(spreads(adjusted)) > max(spreads(plain)) / 2
    assert sum(spreads(adjusted)) > 3.5 * sum(spreads(plain))
    assert mids(adjusted) > mids(plain)


def test_the_actor_refuses_a_policy_trained_with_another_model(tmp_path: Path) -> None:
    p = plan(tmp_path)
    files = train(p, seed=1)
    path = tmp_path / "policy.json"
    path.write_bytes(files["policy.json"])
    pin = sha256_hex(files["policy.json"])
    params: dict[str, Any] = {"policy": str(path), "policy_sha256": pin}
    mm = BarMarketMaker(msgspec.convert(params, BarMarketMakerConfig))
    assert isinstance(mm._policy, Policy)
    other = {**params, "model": {"k": 2.0}}
    with pytest.raises(ValueError, match=r"trained with another `model` \(`k` 1.0 != 2.0\)"):
        BarMarketMaker(msgspec.convert(other, BarMarketMakerConfig))
