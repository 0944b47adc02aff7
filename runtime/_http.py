"""Serve an ASGI app from inside the daemon: uvicorn in the daemon's own event loop.

Shared by the services (the control API, the webhook ingress). The daemon owns the process:
uvicorn installs no signal handlers (SIGINT, SIGTERM and SIGUSR1 stay with `kinetic run`),
configures no logging and writes no access log; a port that cannot be bound raises `BindError`
(one line for the operator) before anything starts.

While a service serves, the interpreter's thread switch interval is `SWITCH_INTERVAL_SECS`
instead of 5 ms: the loop shares the GIL with worker threads (the SQLite store binds its rows
in one), and a thread that holds the GIL keeps it until the interval forces a switch, so a
request that arrives meanwhile waits up to the interval. Under a 20,000 msgs/s journaled flood
that wait was the kill switch's p99 (docs/benchmarks.md, `control_api`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.abc
import uvicorn

from runtime._errors import KineticError

SWITCH_INTERVAL_SECS = 0.0005
"""The thread switch interval while a service serves (Python's default: 0.005)."""


class BindError(KineticError):
    """A service could not bind its address (in use, not local, not permitted)."""


class QuietServer(uvicorn.Server):
    """Serve HTTP and leave signals to the daemon."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing: SIGINT and SIGTERM stop the daemon, which then cancels us."""
        yield


class _ToDaemonLog(logging.Handler):
    """Forward uvicorn's warnings and errors to the daemon's structured log."""

    def __init__(self, log: Any, event: str) -> None:
        super().__init__(logging.WARNING)
        self._log = log
        self._event = event

    def emit(self, record: logging.LogRecord) -> None:
        """Log `record` as one `<event>` structured event."""
        method = self._log.error if record.levelno >= logging.ERROR else self._log.warning
        method(self._event, source=record.name, message=record.getMessage())


@contextlib.contextmanager
def uvicorn_logs_to(log: Any, event: str, /) -> Iterator[None]:
    """Route the `uvicorn` loggers into `log` (as `event`) while the block runs, then restore."""
    logger = logging.getLogger("uvicorn")
    handler = _ToDaemonLog(log, event)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


_switch_users = 0
_switch_saved = 0.0


@contextlib.contextmanager
def fast_thread_switching() -> Iterator[None]:
    """Lower the switch interval to `SWITCH_INTERVAL_SECS` while the block runs (nestable)."""
    global _switch_users, _switch_saved  # noqa: PLW0603 - one interpreter-wide setting
    if _switch_users == 0:
        _switch_saved = sys.getswitchinterval()
        sys.setswitchinterval(min(_switch_saved, SWITCH_INTERVAL_SECS))
    _switch_users += 1
    try:
        yield
    finally:
        _switch_users -= 1
        if _switch_users == 0:
            sys.setswitchinterval(_switch_saved)


def bind_socket(host: str, port: int, /, *, what: str) -> socket.socket:
    """Return a bound TCP socket for `host:port`; raise `BindError` naming `what`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Name the protocol: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind {what} to `{host}:{port}`: {exc.strerror or exc}") from exc
    return sock


def url_of(sock: socket.socket, /) -> str:
    """Return the http URL a bound socket serves."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve_asgi(
    app: Any,
    sock: socket.socket,
    /,
    *,
    shutdown_secs: float,
    on_listening: Callable[[str], None],
    on_closing: Callable[[], None] | None = None,
) -> None:
    """Serve `app` on `sock` until cancelled; call `on_listening(url)` once it accepts.

    On cancellation, `on_closing` runs first, then open responses get `shutdown_secs` to end.
    """
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        ws="none",
        timeout_graceful_shutdown=shutdown_secs,  # type: ignore[arg-type]
    )
    config.load()
    server = QuietServer(config)
    server.lifespan = config.lifespan_class(config)
    try:
        await server.startup(sockets=[sock])
        on_listening(url_of(sock))
        with fast_thread_switching():
            await server.main_loop()  # returns only once `should_exit` is set: we get cancelled
    finally:
        with anyio.CancelScope(shield=True):
            if on_closing is not None:
                on_closing()
            if server.started:
                server.should_exit = True
                with anyio.move_on_after(shutdown_secs + 1):
                    await server.shutdown(sockets=[sock])
