"""Define what a service (the control API, the webhook ingress) sees of the daemon.

Services are found by name in the `kinetic.services` entry-point group, so `runtime` never imports
them. A service gets a `Daemon`: it may read status and the journal, follow new envelopes through
a `Tap`, and issue operator commands, which enter the bus as journaled inputs (src
`operator:<name>`) — it never pokes an actor's state.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.abc

from runtime._journal import RunInfo, Store
from runtime._live import LiveKernel
from runtime._message import Envelope, Message
from runtime._tokens import TokenStore
from runtime.config import KineticConfig

CREDENTIAL_VARS = ("EXCHANGE_API_KEY", "EXCHANGE_API_SECRET")
OPERATOR = "operator:"
"""The `src` prefix of every operator command in the journal (the audit trail is these rows)."""


class Tap:
    """Follow envelopes as they are journaled; bounded, the oldest dropped (and counted) if slow."""

    def __init__(self, kernel: LiveKernel, *, maxsize: int = 10_000) -> None:
        self._kernel = kernel
        self._q: deque[Envelope] = deque(maxlen=maxsize)
        self._wake: anyio.Event | None = None
        self.lagged = 0

    def _push(self, env: Envelope) -> None:
        q = self._q
        if len(q) == q.maxlen:
            self.lagged += 1
        q.append(env)
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    async def next(self) -> Envelope:
        """Return the next envelope. A cancellation point."""
        while not self._q:
            self._wake = wake = anyio.Event()
            await wake.wait()
        return self._q.popleft()

    def close(self) -> None:
        """Stop following (idempotent)."""
        self._kernel.remove_tap(self._push)

    def __enter__(self) -> Tap:
        self._kernel.add_tap(self._push)
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Daemon:
    """The running daemon as services see it."""

    def __init__(
        self,
        *,
        kernel: LiveKernel,
        store: Store,
        run: RunInfo,
        config: KineticConfig,
        data_dir: Path,
        tokens: TokenStore,
        log: Any,
    ) -> None:
        self.kernel = kernel
        self.store = store
        self.run = run
        self.config = config
        self.data_dir = data_dir
        self.tokens = tokens
        self.log = log
        self.started_wall_ns = time.time_ns()
        self.started_mono = time.monotonic()

    @property
    def uptime_secs(self) -> float:
        """Return seconds since the daemon started."""
        return time.monotonic() - self.started_mono

    @staticmethod
    def credentials_present() -> bool:
        """Return whether exchange credentials are set in the environment."""
        return all(os.environ.get(v) for v in CREDENTIAL_VARS)

    async def command(self, msg: Message, /, *, by: str, corr: str = "", dst: str = "") -> Envelope:
        """Journal `msg` as an operator input from `by` and route it. A cancellation point."""
        return await self.kernel.inject(f"{OPERATOR}{by}", msg, corr=corr, dst=dst)

    def tap(self, *, maxsize: int = 10_000) -> Tap:
        """Return a tap to use as `with daemon.tap() as t: await t.next()`."""
        return Tap(self.kernel, maxsize=maxsize)

    async def command_and_wait(
        self,
        msg: Message,
        /,
        *,
        by: str,
        corr: str,
        until: Callable[[Envelope], bool],
        timeout_secs: float = 5.0,
    ) -> tuple[Envelope, Envelope | None]:
        """Issue a command and wait for the first envelope `until` accepts (None on timeout)."""
        with self.tap() as tap:
            sent = await self.command(msg, by=by, corr=corr)
            with anyio.move_on_after(timeout_secs):
                while True:
                    env = await tap.next()
                    if until(env):
                        return sent, env
        return sent, None


class Service(Protocol):
    """A long-running part of the daemon with its own I/O (an HTTP server, say)."""

    name: str

    async def serve(self, daemon: Daemon, /, *, task_status: anyio.abc.TaskStatus[str]) -> None:
        """Start, report readiness (`task_status.started(url)`), serve until cancelled."""
        ...
