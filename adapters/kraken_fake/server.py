"""Serve the fake Kraken over real HTTP on loopback: in an event loop, or in a thread of its own.

`serve` runs uvicorn in the caller's event loop (an async test, a demo daemon) and reports its
URL through `task_status`; `running` starts it in a background thread with its own loop, for
synchronous callers (a test that runs `kinetic` as a subprocess). Port 0 picks a free port.
uvicorn installs no signal handlers and writes no logs here: the owner of the process decides.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import anyio
import anyio.abc
import anyio.from_thread

from adapters.kraken_fake.app import FakeKraken, build_app
from runtime import BindError, bind_socket, serve_asgi

SHUTDOWN_SECS = 2
"""Longest a stop waits for open responses."""

FakeKrakenBindError = BindError
"""The fake could not bind its address (in use, not local, not permitted)."""


async def serve(
    fake: FakeKraken,
    /,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on `host:port`, report the base URL, serve `fake` until cancelled.

    A cancellation point; on cancellation open responses get `SHUTDOWN_SECS` to finish.
    """
    app = build_app(fake)
    sock = bind_socket(host, port, what="the fake Kraken")
    try:
        await serve_asgi(app, sock, shutdown_secs=SHUTDOWN_SECS, on_listening=task_status.started)
    finally:
        sock.close()


@contextlib.contextmanager
def running(fake: FakeKraken, /, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `fake` from a background thread while the block runs; yield its base URL."""
    with anyio.from_thread.start_blocking_portal() as portal:
        future, url = portal.start_task(functools.partial(serve, fake, host=host, port=port))
        try:
            yield url
        finally:
            future.cancel()
