"""Run the control API inside the daemon: uvicorn in the daemon's own event loop.

In-process, so the API reads the kernel's counters and taps its bus with no IPC, and a kill is
one `await` away from the risk gate. The daemon owns the process: uvicorn installs no signal
handlers (SIGINT, SIGTERM and SIGUSR1 stay with `kinetic run`), configures no logging and
writes no access log; its startup failures raise here instead of exiting the process.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.abc
import uvicorn

from control_api.app import build_app
from control_api.context import ApiContext
from runtime import Daemon, KineticError

SHUTDOWN_SECS = 3
"""Longest a stop waits for open responses (an event stream, a kill in flight) to finish."""


class ControlApiBindError(KineticError):
    """The control API could not bind its address (in use, not local, not permitted)."""


class _Server(uvicorn.Server):
    """Serve HTTP and leave signals to the daemon."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing: SIGINT and SIGTERM stop the daemon, which then cancels us."""
        yield


class _ToDaemonLog(logging.Handler):
    """Forward uvicorn's warnings and errors to the daemon's structured log."""

    def __init__(self, log: Any) -> None:
        super().__init__(logging.WARNING)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        """Log `record` as a `control_api_server` event."""
        method = self._log.error if record.levelno >= logging.ERROR else self._log.warning
        method("control_api_server", source=record.name, message=record.getMessage())


@contextlib.contextmanager
def _uvicorn_logs_to(log: Any) -> Iterator[None]:
    """Route the `uvicorn` loggers into `log` while the block runs, then restore them."""
    logger = logging.getLogger("uvicorn")
    handler = _ToDaemonLog(log)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Name the protocol: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ControlApiBindError(
            f"cannot bind the control API to `{host}:{port}`: {exc.strerror or exc}"
        ) from exc
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ControlApiService:
    """Serve the loopback control API for as long as the daemon runs."""

    name = "control_api"

    async def serve(
        self,
        daemon: Daemon,
        /,
        *,
        task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Rebuild the projections, listen, report the URL, serve until cancelled.

        A cancellation point; on cancellation open responses get `SHUTDOWN_SECS` to finish.
        """
        cfg = daemon.config.control_api
        sock = _bind(cfg.host, cfg.port)  # first: a taken port fails before anything starts
        api = ApiContext(daemon)
        if daemon.run.level != "full":
            # Outputs (the gate's `TradingStateChanged`, say) are not stored at this level, so
            # after a restart the read models know only what happened since.
            daemon.log.warning("control_api_partial_projections", level=daemon.run.level)
        try:
            with _uvicorn_logs_to(daemon.log):
                async with anyio.create_task_group() as tg:
                    with api.projections.follow(daemon):
                        applied = await api.projections.rebuild(daemon)
                        tg.start_soon(api.throughput.run, daemon.kernel)
                        await self._run(api, sock, applied, task_status)
                    tg.cancel_scope.cancel()
        finally:
            sock.close()

    @staticmethod
    async def _run(
        api: ApiContext, sock: socket.socket, applied: int, task_status: anyio.abc.TaskStatus[str]
    ) -> None:
        daemon = api.daemon
        cfg = daemon.config.control_api
        config = uvicorn.Config(
            build_app(api),
            host=cfg.host,
            port=cfg.port,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            ws="none",
            timeout_graceful_shutdown=SHUTDOWN_SECS,
        )
        config.load()
        server = _Server(config)
        server.lifespan = config.lifespan_class(config)
        try:
            await server.startup(sockets=[sock])
            url = _url(sock)
            daemon.log.info("control_api_listening", url=url, projected=applied)
            if cfg.allow_remote:
                daemon.log.warning(
                    "control_api_remote_bind",
                    url=url,
                    host=cfg.host,
                    note="allow_remote is set: the API may be reachable from other hosts",
                )
            task_status.started(url)
            await server.main_loop()  # returns only once `should_exit` is set: we get cancelled
        finally:
            with anyio.CancelScope(shield=True):
                api.closing.set()
                if server.started:
                    server.should_exit = True
                    with anyio.move_on_after(SHUTDOWN_SECS + 1):
                        await server.shutdown(sockets=[sock])
