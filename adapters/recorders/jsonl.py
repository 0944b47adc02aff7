"""Append chosen messages of a daemon run to a JSON-lines file (service kind `jsonl_recorder`).

Writing files is I/O, so this is a daemon service beside the kernel, not an actor: it follows
the bus through a kernel tap and writes one JSON object per line to
`<out_dir>/<run_id>/<file>` (default `artifacts/<run_id>/quotes.jsonl`, relative to the working
directory, as backtest artifacts are), flushing after each line. The file is a projection of the
journal, as every read model is:

- only durable envelopes are written (a line waits for its row's group commit), so a crash never
  leaves a line the journal does not have;
- every line carries the envelope's `seq`. At start the recorder reads the file's last `seq` and
  copies from the store each matching row after it (the daemon restarted, or lines were lost to
  a full queue), then follows the tap: the file holds each matching message once, in seq order;
- at stop it writes what is still queued (the kernel has flushed everything by then).

A line is `{"seq": ..., "ts": ..., "src": ..., "type": "<tag>", <the message's fields>}`: prices
and sizes as decimal strings (exact), model values as JSON numbers, `null` for an absent side.
A message field named like an envelope field (`ts`) takes its place.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.abc
import msgspec
from msgspec import Meta

from runtime import CODEC, ConfigError, Daemon, Envelope, Message, RegistryError, message_type
from runtime.config import ConfigBase, NonEmptyStr, PositiveInt
from runtime.logging import get_logger

__all__ = ["JsonlRecorder", "JsonlRecorderConfig"]

log = get_logger("kinetic.recorder")
FileName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]+$")]
_ENCODER = msgspec.json.Encoder()
_PAGE = 1000
_TAIL_BYTES = 1 << 16


class JsonlRecorderConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of service kind `jsonl_recorder`: which messages, and which file."""

    types: list[NonEmptyStr] = msgspec.field(default_factory=lambda: ["ml.QuoteUpdate"])
    """Message tags to record (exact types)."""
    file: FileName = "quotes.jsonl"
    """File name inside `<out_dir>/<run_id>/`."""
    out_dir: NonEmptyStr = "artifacts"
    """Directory of the run directories, relative to the working directory."""
    queue_max: PositiveInt = 100_000
    """Envelopes waiting to be written; past it the queue is dropped and refilled from the
    store (nothing is lost, the file catches up)."""


class JsonlRecorder:
    """Follow the daemon's journal; append each message of the chosen types as a JSON line."""

    Params = JsonlRecorderConfig
    name = "jsonl_recorder"

    def __init__(self, params: JsonlRecorderConfig | None = None) -> None:
        self.params = params or JsonlRecorderConfig()
        self.written = 0
        self.resyncs = 0
        self._wanted: frozenset[type[Message]] = frozenset()
        self._q: deque[Envelope] = deque()
        self._wake: anyio.Event | None = None
        self._overflow = False

    def path(self, run_id: str, /) -> Path:
        """Return the file of run `run_id`."""
        return Path(self.params.out_dir) / run_id / self.params.file

    def _push(self, env: Envelope, /) -> None:
        """Take one envelope from the kernel's tap (synchronous: the bus's hot path)."""
        if type(env.msg) not in self._wanted:
            return
        q = self._q
        if len(q) >= self.params.queue_max:
            q.clear()
            self._overflow = True  # the store has them all: refill from it
        q.append(env)
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    async def serve(self, daemon: Daemon, /, *, task_status: anyio.abc.TaskStatus[str]) -> None:
        """Catch up from the store, report the file's path, then follow the tap until cancelled."""
        try:
            self._wanted = frozenset(message_type(t) for t in self.params.types)
        except RegistryError as exc:
            raise ConfigError(f"service `{self.name}`: {exc} - at `$.services`") from exc
        kernel = daemon.kernel
        path = self.path(daemon.run.run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        kernel.add_tap(self._push)
        try:
            last = _tail(path)
            with path.open("ab") as f:
                try:
                    await kernel.wait_durable(kernel.seq)  # what came before the tap is durable
                    copied = await self._copy(daemon, f, last)
                    last = max(last, copied)
                    log.info("recorder_started", service=self.name, path=str(path),
                             after_seq=last, written=self.written)  # fmt: skip
                    task_status.started(str(path))
                    while True:
                        if self._overflow:
                            self._overflow = False
                            self.resyncs += 1
                            log.warning("recorder_resynced", service=self.name, after_seq=last)
                            await kernel.wait_durable(kernel.seq)
                            last = max(last, await self._copy(daemon, f, last))
                        if not self._q:
                            self._wake = wake = anyio.Event()
                            await wake.wait()
                            continue
                        env = self._q.popleft()
                        if env.seq <= last:
                            continue
                        await kernel.wait_durable(env.seq)
                        self._write(f, env)
                        last = env.seq
                finally:
                    # At stop the kernel has flushed: write the durable rest of the queue.
                    journal = kernel.journal
                    durable = journal.durable_seq if journal is not None else kernel.seq
                    for env in self._q:
                        if last < env.seq <= durable:
                            self._write(f, env)
                            last = env.seq
                    self._q.clear()
        finally:
            kernel.remove_tap(self._push)

    async def _copy(self, daemon: Daemon, f: Any, after: int, /) -> int:
        """Append the stored rows of the chosen types after seq `after`; return the last seq."""
        last = after
        while True:
            rows = await daemon.store.query(
                daemon.run.run_id, types=self.params.types, after_seq=last, limit=_PAGE
            )
            for row in rows:
                self._write(f, CODEC.decode(row.data))
                last = row.seq
            if len(rows) < _PAGE:
                return last

    def _write(self, f: Any, env: Envelope, /) -> None:
        line = {"seq": env.seq, "ts": env.ts, "src": env.src, **msgspec.to_builtins(env.msg)}
        f.write(_ENCODER.encode(line) + b"\n")
        f.flush()
        self.written += 1


def _tail(path: Path, /) -> int:
    """Return the `seq` of the file's last complete line (0 if none); cut a partial last line."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with path.open("r+b") as f:
        start = max(0, size - _TAIL_BYTES)
        f.seek(start)
        tail = f.read()
        end = tail.rfind(b"\n")
        if end != len(tail) - 1:  # a line cut short by a crash: drop it, it is in the store
            f.truncate(start + end + 1)
            tail = tail[: end + 1]
    for line in reversed(tail.splitlines()):
        try:
            return int(json.loads(line)["seq"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0
