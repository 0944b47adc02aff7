"""Train a model offline, write it as a new version, and judge it out of sample in the engine.

The order of work for `kinetic train` (`runtime/_train_config.py` for the config):

1. **Plan.** Load the backtest config, find the strategy and the feed, build the trainer by kind
   (entry-point group `kinetic.trainers`, like screens and agents: `runtime` imports no domain
   code) from the backtest's actors, with `[params]` decoded by the trainer's `Params`.
2. **Train.** The feed reads the bars of the train and validation windows; the trainer learns
   (`train(...)`) and returns its files and metrics.
3. **Version.** The files go to `<out_dir>/<name>/v<N>/`, `N` one more than the highest version
   there; an existing version is never written into (the directory is created exclusively).
4. **Report** (`_train_report.py`): each variant the trainer names (`variants(...)`: the
   baseline, the candidate, others) runs through the event-driven engine on the test window —
   `load_config` with overrides and `build_sim`, as `kinetic backtest` would run it — and the
   candidate is compared with the baseline.

A trainer offers: `Params` (a config type), `from_actors(actors, *, strategy, params)`,
`load(bars)`, `train(data, *, train, validation, seed, meta, progress)` returning an object with
`files` (name -> bytes), `metrics` (dict) and `summary` (rows), `variants(directory, files)`
(variant -> strategy params to set, relative to its agent table), `baseline` and `candidate`.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from runtime import _app
from runtime._analysis_config import name_index, ns_to_iso
from runtime._analysis_runs import metrics_of, window_overrides
from runtime._errors import ConfigError, KineticError
from runtime._journal import JournalRow
from runtime._train_config import TrainConfig
from runtime.config import decode_params, load_config

TRAINERS = "kinetic.trainers"
"""Entry-point group of trainer kinds (`module:Class` works too)."""
_VERSION = re.compile(r"^v([0-9]+)$")

Progress = Callable[[str, int, int], None]
"""`progress(stage, done, total)`: stage is "train" or "engine"."""


class TrainPlan:
    """Everything fixed before training: the backtest, the strategy, the feed, the trainer."""

    def __init__(self, cfg: TrainConfig, /, *, source: str) -> None:
        self.cfg = cfg
        self.source = source
        try:
            self.base = load_config(cfg.backtest)
        except ConfigError as exc:
            raise ConfigError(
                f"{source}: `backtest` does not load: {exc} - at `$.backtest`"
            ) from exc
        agents = [a.name for a in self.base.agents]
        self.strategy_index = self._index(agents, cfg.strategy, "strategy", "agent")
        adapters = [a.name for a in self.base.adapters]
        self.feed_index = self._index(adapters, cfg.feed, "feed", "adapter")
        feed = self.base.adapters[self.feed_index]
        if feed.params.get("limit") is not None:
            raise ConfigError(
                f"{cfg.backtest}: the feed `{cfg.feed}` has a `limit`; the train config's "
                f"windows choose the data - at `$.adapters[{self.feed_index}].params.limit`"
            )
        self.data_path = feed.params.get("path")
        actors = {s.name: s.factory() for s in _app.actor_specs(self.base, source=cfg.backtest)}
        cls = _app.load_kind(TRAINERS, cfg.trainer, where="$.trainer", source=source)
        ptype = getattr(cls, "Params", None)
        if ptype is None or not hasattr(cls, "from_actors"):
            raise ConfigError(f"{source}: kind `{cfg.trainer}` is not a trainer - at `$.trainer`")
        params = decode_params(cfg.params, ptype, where="$.params", source=source)
        try:
            self.trainer: Any = cls.from_actors(actors, strategy=cfg.strategy, params=params)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc

    def _index(self, names: list[str], name: str, key: str, what: str) -> int:
        return name_index(names, name, key=key, what=what, source=self.source,
                          backtest=self.cfg.backtest)  # fmt: skip

    def bars(self, start_ns: int, end_ns: int, /) -> list[Any]:
        """Return the bars stamped in `[start_ns, end_ns)`, read by the backtest's own feed."""
        cfg = load_config(
            self.cfg.backtest, overrides=window_overrides(self.feed_index, start_ns, end_ns)
        )
        adapters = dict(_app.adapter_instances(cfg, source=self.cfg.backtest))
        events: Any = getattr(adapters[self.cfg.feed], "events", None)
        if not callable(events):
            raise ConfigError(f"{self.source}: adapter `{self.cfg.feed}` is not a feed - at `feed`")
        return [msg for _, msg in events()]

    def data_identity(self) -> tuple[str, str]:
        """Return the feed file's name and sha256 (empty when the feed names no file)."""
        if not isinstance(self.data_path, str):
            return self.base.adapters[self.feed_index].kind, ""
        path = Path(self.data_path)
        digest = hashlib.sha256()
        try:
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            raise ConfigError(
                f"{self.cfg.backtest}: cannot read the feed's file {path}: {exc.strerror} "
                f"- at `$.adapters[{self.feed_index}].params.path`"
            ) from exc
        return path.name, digest.hexdigest()


def next_version(root: Path, /) -> int:
    """Return one more than the highest `v<N>` directory under `root` (1 when there is none)."""
    if not root.is_dir():
        return 1
    found = [int(m.group(1)) for p in root.iterdir() if (m := _VERSION.match(p.name))]
    return max(found, default=0) + 1


def claim_version(root: Path, version: int, /) -> Path:
    """Create `root/v<version>` exclusively; refuse if it exists (a version is never rewritten)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"v{version}"
    try:
        path.mkdir()
    except FileExistsError:
        raise KineticError(
            f"{path} already exists (another `kinetic train` took this version); run it again"
        ) from None
    return path


class DiscardSink:
    """Take journal rows and keep nothing: the report needs the head hash, not the rows."""

    rows = 0

    def write(self, rows: list[JournalRow], /) -> None:
        self.rows += len(rows)

    def sync(self) -> None:
        """Nothing is in flight."""

    def snapshot(self, seq: int, head: bytes, data: bytes, /) -> None:
        """Snapshots are not kept."""


class EngineRun(msgspec.Struct, frozen=True, kw_only=True):
    """One variant over the test window in the event-driven engine."""

    variant: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    head: str
    """The journal head (hex): `kinetic backtest` over the same window gives the same."""
    events: int
    secs: float
    equity: list[tuple[int, float]]
    """(bar stamp ns, equity) per bar, from the recorder's `market_data.csv`."""


def run_variant(
    plan: TrainPlan,
    variant: str,
    params: Mapping[str, Any],
    window: tuple[int, int],
    /,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> EngineRun:
    """Run the backtest with the strategy's `params` set, over `window`, in the sim kernel."""
    cfg = plan.cfg
    overrides = window_overrides(plan.feed_index, *window)
    prefix = f"agents.{plan.strategy_index}"
    for key, value in params.items():
        overrides[f"{prefix}.{key}"] = value
    started = time.perf_counter()
    bt = load_config(cfg.backtest, overrides=overrides)
    kernel = _app.build_sim(
        bt, source=f"{cfg.backtest} (variant `{variant}`)", run_id=f"train-{variant}",
        sink=DiscardSink(),
    )  # fmt: skip
    kernel.run_to_end(progress=None if progress is None else lambda i, n, _: progress(i, n))
    secs = time.perf_counter() - started
    reports, data = metrics_of(kernel, cfg.strategy, source=str(cfg.backtest))
    files = _app.artifacts(kernel, reports)
    return EngineRun(
        variant=variant,
        params=dict(params),
        metrics=data,
        head=kernel.journal.head.hex() if kernel.journal is not None else "",
        events=kernel.seq,
        secs=round(secs, 3),
        equity=_equity(files),
    )


def _equity(files: Mapping[str, bytes], /) -> list[tuple[int, float]]:
    """Read (ts_ns, equity) per bar from the recorder's `market_data.csv` (docs/backtest.md)."""
    import csv
    import io

    name = next((n for n in files if n.endswith("market_data.csv")), None)
    if name is None:
        return []
    rows = csv.DictReader(io.StringIO(files[name].decode()))
    return [(int(r["ts_ns"]), float(r["equity"])) for r in rows if r.get("equity")]


def window_text(start_ns: int, end_ns: int, /) -> str:
    """Return `[start, end)` as ISO text."""
    return f"{ns_to_iso(start_ns)} .. {ns_to_iso(end_ns)}"


__all__ = [
    "TRAINERS",
    "DiscardSink",
    "EngineRun",
    "TrainPlan",
    "claim_version",
    "next_version",
    "run_variant",
    "window_text",
]
