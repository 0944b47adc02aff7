"""Serve the fake Kraken over real HTTP on loopback: in an event loop, or in a thread of its own.

`serve` runs uvicorn in the caller's event loop (an async test, a demo daemon) and reports its
URL through `task_status`; `running` starts it in a background thread with its own loop, for
synchronous callers (a test that runs `kinetic` as a subprocess). Port 0 picks a free port.
uvicorn installs no signal handlers and writes no logs here: the owner of the process decides.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import Iterator

import anyio
import anyio.abc
import anyio.from_thread
import uvicorn

from adapters.kraken_fake.app import FakeKraken, build_app
from runtime import KineticError

SHUTDOWN_SECS = 2
"""Longest a stop waits for open responses."""


class FakeKrakenBindError(KineticError):
    """The fake could not bind its address (in use, not local, not permitted)."""


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing: the owner of the process handles signals."""
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise FakeKrakenBindError(
            f"cannot bind the fake Kraken to `{host}:{port}`: {exc.strerror or exc}"
        ) from exc
    return sock


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
    sock = _bind(host, port)  # last: nothing between here and `try` can fail
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        ws="none",
        timeout_graceful_shutdown=SHUTDOWN_SECS,
    )
    config.load()
    server = _Server(config)
    server.lifespan = config.lifespan_class(config)
    try:
        await server.startup(sockets=[sock])
        bound_host, bound_port = sock.getsockname()[:2]
        task_status.started(
            f"http://[{bound_host}]:{bound_port}"
            if ":" in bound_host
            else f"http://{bound_host}:{bound_port}"
        )
        await server.main_loop()
    finally:
        with anyio.CancelScope(shield=True):
            if server.started:
                server.should_exit = True
                with anyio.move_on_after(SHUTDOWN_SECS + 1):
                    await server.shutdown(sockets=[sock])
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
