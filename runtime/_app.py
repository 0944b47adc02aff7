"""Compose kernels from config: the one place that turns kinds into actors, adapters and stores.

Kinds are found by name through entry points (`kinetic.agents`, `kinetic.adapters`,
`kinetic.services` in `pyproject.toml`), or as `module:Class` for code outside this repository,
so `runtime` never imports a domain module and a plugin plugs in the way ours do. The CLI calls
this module; so do tests and benchmarks that want a kernel exactly as `kinetic` would build it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import anyio.from_thread
import msgspec

from runtime._actor import Actor
from runtime._adapter import Adapter
from runtime._cell import ActorSpec
from runtime._errors import ConfigError
from runtime._journal import (
    Journal,
    JournalLevel,
    JournalRow,
    MemoryStore,
    RunInfo,
    Snapshot,
    Store,
)
from runtime._kernel import KernelBase
from runtime._live import LiveKernel
from runtime._message import Message, message_types
from runtime._sim import SimKernel
from runtime.config import KineticConfig, decode_params, load_config, redact, to_json

GC_GEN0_THRESHOLD = 50_000
"""Allocations between young-generation collections while a kernel runs (CPython's default: 700).

A kernel allocates a few small containers per message (journal rows, actor state); at the default
threshold the collector runs every few hundred messages and costs a third of the throughput.
Messages and envelopes are `gc=False` structs and never cycle, so collecting rarely is safe."""


def tune_gc() -> None:
    """Make the cyclic collector run rarely and skip everything allocated at start-up."""
    import gc

    gc.collect()
    gc.freeze()  # start-up objects (modules, config, actors) move to a generation never scanned
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def loop_options(event_loop: str, /, *, source: str = "config") -> dict[str, Any]:
    """Return `anyio.run`'s `backend_options` for `kernel.event_loop` (see `KernelConfig`)."""
    if event_loop == "asyncio":
        return {}
    if importlib.util.find_spec("uvloop") is None:
        if event_loop == "uvloop":
            raise ConfigError(
                f"{source}: uvloop is not installed (pip install uvloop, or set it to "
                "`asyncio` or `auto`) - at `$.kernel.event_loop`"
            )
        return {}
    return {"use_uvloop": True}


AGENTS = "kinetic.agents"
ADAPTERS = "kinetic.adapters"
SERVICES = "kinetic.services"


def load_kind(group: str, kind: str, /, *, where: str, source: str) -> Any:
    """Return the class registered as `kind` in entry-point `group` (or named `module:attr`)."""
    if ":" in kind:
        module, _, attr = kind.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{source}: cannot import `{kind}`: {exc} - at `{where}`") from exc
    eps = importlib.metadata.entry_points(group=group)
    for ep in eps:
        if ep.name == kind:
            return ep.load()
    known = ", ".join(sorted(ep.name for ep in eps)) or "none"
    raise ConfigError(f"{source}: unknown kind `{kind}` (known: {known}) - at `{where}`")


def _instantiate(cls: Any, params: dict[str, Any], *, where: str, source: str) -> Any:
    ptype = getattr(cls, "Params", None)
    if ptype is None:
        if params:
            raise ConfigError(f"{source}: `{cls.__name__}` takes no params - at `{where}`")
        return cls
    decoded = decode_params(params, ptype, where=where, source=source)
    return lambda: cls(decoded)


def actor_specs(cfg: KineticConfig, /, *, source: str) -> list[ActorSpec]:
    """Return an `ActorSpec` per configured agent, params validated now (not at first message)."""
    specs = []
    for i, agent in enumerate(cfg.agents):
        cls = load_kind(AGENTS, agent.kind, where=f"$.agents[{i}].kind", source=source)
        if not (isinstance(cls, type) and issubclass(cls, Actor)):
            raise ConfigError(
                f"{source}: kind `{agent.kind}` is not an actor - at `$.agents[{i}].kind`"
            )
        factory = _instantiate(
            cls, dict(agent.params), where=f"$.agents[{i}].params", source=source
        )
        try:
            factory()  # fail at start, with the agent named, not at the first message
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: {exc} - at `$.agents[{i}].params`") from exc
        specs.append(
            ActorSpec(
                agent.name,
                factory,
                role=agent.role,
                policy=agent.supervision,
                critical=agent.is_critical,
                mailbox_size=agent.mailbox_size,
            )
        )
    return specs


def adapter_instances(cfg: KineticConfig, /, *, source: str) -> list[tuple[str, Adapter]]:
    """Return a built adapter per configured adapter."""
    out = []
    for i, ad in enumerate(cfg.adapters):
        cls = load_kind(ADAPTERS, ad.kind, where=f"$.adapters[{i}].kind", source=source)
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            raise ConfigError(
                f"{source}: kind `{ad.kind}` is not an adapter - at `$.adapters[{i}].kind`"
            )
        out.append(
            (
                ad.name,
                _instantiate(
                    cls, dict(ad.params), where=f"$.adapters[{i}].params", source=source
                )(),
            )
        )
    return out


def open_store(cfg: KineticConfig, data_dir: Path, /) -> Store:
    """Build the configured store (not yet opened); `memory` keeps nothing across processes."""
    if cfg.store.kind == "memory":
        return MemoryStore()
    cls = load_kind(ADAPTERS, cfg.store.kind, where="$.store.kind", source="config")
    store: Store = cls.from_config(cfg.store, data_dir=data_dir)
    return store


def new_run_id(prefix: str, /) -> str:
    """Return a unique, sortable run id: `<prefix>-<UTC time>-<random>` (never hashed)."""
    return f"{prefix}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"


def run_info(cfg: KineticConfig, /, *, run_id: str, kernel: Literal["sim", "live"]) -> RunInfo:
    """Describe a new run of `cfg`; the config is stored redacted, replay rebuilds from it."""
    return RunInfo(
        run_id=run_id,
        kernel=kernel,
        mode=cfg.mode,
        level=cfg.journal_level,
        seed=cfg.seed,
        config=to_json(redact(cfg)),
        created_ns=time.time_ns(),
    )


def config_of(run: RunInfo, /) -> KineticConfig:
    """Rebuild the config a run was started with."""
    data = msgspec.json.decode(run.config)
    return msgspec.convert(data, KineticConfig, strict=False)


# -- sim kernel -------------------------------------------------------------------------------


class PortalSink:
    """Write a sync kernel's journal to an async store through a blocking portal, pipelined.

    `write` hands a batch to the store and returns at once; the next `write` (or `sync`) waits
    for it. So the kernel computes batch k+1 while the store commits batch k.
    """

    def __init__(self, portal: anyio.from_thread.BlockingPortal, store: Store, run_id: str) -> None:
        self._portal = portal
        self._store = store
        self._run_id = run_id
        self._pending: Any = None
        self.rows = 0

    def write(self, rows: Sequence[JournalRow], /) -> None:
        """Queue `rows` behind the batch in flight."""
        self.sync()
        self.rows += len(rows)
        self._pending = self._portal.start_task_soon(self._store.append, self._run_id, list(rows))

    def sync(self) -> None:
        """Wait until every written batch is durable."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def snapshot(self, seq: int, head: bytes, data: bytes, /) -> None:
        """Persist a snapshot after the rows before it."""
        self.sync()
        self._portal.call(
            self._store.save_snapshot, Snapshot(run_id=self._run_id, seq=seq, head=head, data=data)
        )


class ListSink:
    """Keep a sync kernel's rows in memory (tests, `journal level` comparisons)."""

    def __init__(self) -> None:
        self.rows: list[JournalRow] = []
        self.snapshots: list[tuple[int, bytes, bytes]] = []

    def write(self, rows: Sequence[JournalRow], /) -> None:
        self.rows.extend(rows)

    def sync(self) -> None:
        """Nothing is in flight."""

    def snapshot(self, seq: int, head: bytes, data: bytes, /) -> None:
        self.snapshots.append((seq, head, data))


REPORTS = "reports"
"""The actor name of the backtest's `ReportCollector`."""


class ReportCollector(Actor):
    """Keep every `report` message a run publishes, for the backtest's artifacts and summary.

    It emits nothing, so it changes no journal row; it is not persisted either (a replay or a
    recovery collects again from the messages it re-derives).
    """

    def __init__(self) -> None:
        self.reports: list[Message] = []

    def on_start(self) -> None:
        for mtype in message_types().values():
            if mtype.report:
                self.ctx.subscribe(mtype)

    def on_report(self, msg: Message) -> None:
        self.reports.append(msg)


def artifacts(kernel: KernelBase, reports: Sequence[Message], /) -> dict[str, bytes]:
    """Return the files a finished run's reports and actors offer, by file name.

    A report type with `artifact` set is written as that JSON file (one object, or a list when
    several were published); an actor with an `artifacts()` method (CSVs, plots) adds its own.
    Called after the run, outside any handler, so it may be slow.
    """
    files: dict[str, bytes] = {}
    grouped: dict[str, list[Any]] = {}
    for r in reports:
        name = type(r).artifact
        if name:
            grouped.setdefault(name, []).append(msgspec.to_builtins(r))
    for name, items in grouped.items():
        body = items[0] if len(items) == 1 else items
        files[name] = json.dumps(body, indent=2).encode() + b"\n"
    for cell in kernel.cells.values():
        produce = getattr(cell.actor, "artifacts", None)
        if callable(produce):
            for name, data in produce().items():
                files[f"{cell.name}.{name}" if name in files else name] = data
    return files


class Backtest(SimKernel):
    """A sim kernel that knows its config's time window: `run_to_end` runs it and stops."""

    def __init__(self, cfg: KineticConfig, /, **kwargs: Any) -> None:
        super().__init__(start_ns=cfg.backtest.start_ns, **kwargs)
        self.end_ns = cfg.backtest.start_ns + int(cfg.backtest.duration_secs * 1e9)

    def run_to_end(self, *, progress: Any = None, steps: int = 100) -> None:
        """Run the whole window (in `steps` slices, reporting progress), then stop and flush."""
        start = self._now
        span = max(1, self.end_ns - start)
        for i in range(1, steps + 1):
            self.run(until_ns=start + span * i // steps)
            if progress is not None:
                progress(i, steps, self.seq)
        self.stop()
        sync = getattr(self._sink, "sync", None)
        if sync is not None:
            sync()


def build_sim(
    cfg: KineticConfig,
    /,
    *,
    source: str,
    run_id: str,
    sink: Any,
    level: JournalLevel | None = None,
) -> Backtest:
    """Build a `Backtest` kernel with `cfg`'s agents and adapters, journaling to `sink`."""
    lvl = level or cfg.journal_level
    journal = (
        None if lvl == "off" else Journal(level=lvl, checkpoint_every=cfg.journal.checkpoint_every)
    )
    kernel = Backtest(
        cfg,
        journal=journal,
        sink=sink,
        seed=cfg.seed,
        run_id=run_id,
        batch_max=cfg.journal.batch_max,
        snapshot_every=0,
        restart_max=cfg.kernel.restart_max,
        restart_window_ns=int(cfg.kernel.restart_window_secs * 1e9),
    )
    for spec in actor_specs(cfg, source=source):
        kernel.add_actor(spec)
    if any(t.report for t in message_types().values()) and REPORTS not in kernel.cells:
        kernel.add_actor(ActorSpec(REPORTS, ReportCollector, role="reports"))
    for name, adapter in adapter_instances(cfg, source=source):
        if adapter.external:
            raise ConfigError(
                f"{source}: adapter `{name}` reaches outside the process; the sim kernel runs "
                f"only in-process adapters - at `$.adapters`"
            )
        kernel.add_adapter(name, adapter)
        events = getattr(adapter, "events", None)
        if callable(events):  # an in-process feed: (ts_ns, Message) pairs sorted by ts
            kernel.add_source(name, events(), dst=getattr(adapter, "to", ""))
    return kernel


def build_replay_kernel(run: RunInfo, /, *, sink: Any) -> KernelBase:
    """Build fresh actors for replaying `run` in the sim kernel (the `build` of `replay`)."""
    cfg = config_of(run)
    if run.kernel == "sim":
        return build_sim(
            cfg, source=f"run {run.run_id}", run_id=run.run_id, sink=sink, level=run.level
        )
    kernel = SimKernel(seed=run.seed, run_id=run.run_id, effect_namespace=f"{run.run_id}:")
    for spec in with_desk(actor_specs(cfg, source=f"run {run.run_id}")):
        kernel.add_actor(spec)
    return kernel


# -- live kernel ------------------------------------------------------------------------------


def build_live(
    cfg: KineticConfig,
    store: Store,
    /,
    *,
    source: str,
    run: RunInfo,
    logger: Any = None,
) -> LiveKernel:
    """Build the daemon's `LiveKernel` for `run`, journaling at level `full` into `store`."""
    if cfg.journal_level == "inputs":
        raise ConfigError(
            f"{source}: journal level `inputs` needs the sim kernel (live outputs interleave by "
            f"timing, so only `full` or `off` replay) - at `$.journal.level`"
        )
    journal = None if cfg.journal_level == "off" else Journal(level="full")
    kernel = LiveKernel(
        store=store,
        journal=journal,
        seed=cfg.seed,
        run_id=run.run_id,
        mailbox_size=cfg.kernel.mailbox_size,
        flush_interval_ms=cfg.journal.flush_interval_ms,
        batch_max=cfg.journal.batch_max,
        snapshot_every=cfg.journal.snapshot_every,
        restart_max=cfg.kernel.restart_max,
        restart_window_ns=int(cfg.kernel.restart_window_secs * 1e9),
        effect_namespace=f"{run.run_id}:",
        logger=logger,
    )
    for spec in with_desk(actor_specs(cfg, source=source)):
        kernel.add_actor(spec)
    for name, adapter in adapter_instances(cfg, source=source):
        kernel.add_adapter(name, adapter)
    return kernel


def with_desk(specs: list[ActorSpec], /) -> list[ActorSpec]:
    """Add the approvals desk (a kernel service) unless the config names an actor `approvals`."""
    from runtime._approvals import DESK, ApprovalDesk

    if any(s.name == DESK for s in specs):
        return specs
    return [*specs, ActorSpec(DESK, ApprovalDesk, role="control", policy="restart")]


def load_services(cfg: KineticConfig, /, *, source: str = "config") -> list[Any]:
    """Return the services the daemon runs: the control API and the webhook ingress, if enabled,
    then each of `[[services]]`, named as configured."""
    out = []
    if cfg.control_api.enabled:
        out.append(load_kind(SERVICES, "control_api", where="$.control_api", source=source)())
    if cfg.webhooks.enabled:
        out.append(load_kind(SERVICES, "webhook_ingress", where="$.webhooks", source=source)())
    for i, svc in enumerate(cfg.services):
        cls = load_kind(SERVICES, svc.kind, where=f"$.services[{i}].kind", source=source)
        where = f"$.services[{i}].params"
        try:
            service = _instantiate(cls, dict(svc.params), where=where, source=source)()
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: {exc} - at `{where}`") from exc
        service.name = svc.name
        out.append(service)
    return out


async def resolve_run(store: Store, cfg: KineticConfig, /, *, new: bool) -> tuple[RunInfo, bool]:
    """Return the daemon run to continue (the latest open live run of this mode) or a new one.

    Paper and live never share a store: a store holding daemon runs of the other mode is refused
    (`ConfigError`), so paper fills can never be read back as live ones, nor the reverse.
    """
    daemon_runs = [r for r in await store.list_runs() if r.kernel == "live"]
    other = [r for r in daemon_runs if r.mode != cfg.mode]
    if other:
        raise ConfigError(
            f"the {store.name} store holds {other[-1].mode} runs (`{other[-1].run_id}`); a "
            f"{cfg.mode} daemon needs a store of its own: set `store.path` (sqlite) or "
            f"`store.schema` (postgres) - at `$.store`"
        )
    if not new:
        runs = [r for r in daemon_runs if r.mode == cfg.mode]
        open_runs = [r for r in runs if r.status == "open"]
        if open_runs:
            return open_runs[-1], False
    run = run_info(cfg, run_id=new_run_id(cfg.mode), kernel="live")
    await store.create_run(run)
    return run, True


__all__ = [
    "GC_GEN0_THRESHOLD",
    "Backtest",
    "ListSink",
    "PortalSink",
    "ReportCollector",
    "actor_specs",
    "adapter_instances",
    "build_live",
    "build_replay_kernel",
    "build_sim",
    "config_of",
    "load_config",
    "load_kind",
    "load_services",
    "loop_options",
    "new_run_id",
    "open_store",
    "redact",
    "resolve_run",
    "run_info",
    "tune_gc",
    "with_desk",
]
