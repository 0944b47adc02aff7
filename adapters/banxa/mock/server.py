"""Serve the fake Banxa on loopback: in an event loop, or from a background thread.

`serve` runs in the caller's loop (the daemon in mock mode: `BanxaAdapter.start`); `running`
starts it in a thread of its own for synchronous callers (tests); `python -m adapters.banxa.mock`
runs it as a process of its own (crash tests kill the daemon, not the provider).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Final

import anyio
import anyio.abc
import anyio.from_thread

from adapters.banxa.mock.app import FakeBanxa, build_app
from runtime import bind_socket, serve_asgi

MOCK_KEY: Final = "kinetic-mock-key"
MOCK_SECRET: Final = "kinetic-mock-secret-not-for-production"
"""The credentials of mock mode: public on purpose, they guard nothing real."""


async def serve(
    fake: FakeBanxa,
    /,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Listen, report the base URL, serve (and auto-advance orders if set) until cancelled."""
    sock = bind_socket(host, port, what="the fake Banxa")
    try:
        async with anyio.create_task_group() as tg:
            if fake.auto_step_secs > 0:
                tg.start_soon(fake.auto_advance)
            await serve_asgi(
                build_app(fake), sock, shutdown_secs=1, on_listening=task_status.started
            )
    finally:
        sock.close()


@contextlib.contextmanager
def running(fake: FakeBanxa, /, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `fake` from a background thread while the block runs; yield its base URL."""
    with anyio.from_thread.start_blocking_portal() as portal:
        future, url = portal.start_task(functools.partial(serve, fake, host=host, port=port))
        try:
            yield url
        finally:
            future.cancel()
