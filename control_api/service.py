"""Run the control API inside the daemon: uvicorn in the daemon's own event loop.

In-process, so the API reads the kernel's counters and taps its bus with no IPC, and a kill is
one `await` away from the risk gate. The daemon owns the process (`runtime.serve_asgi`): uvicorn
installs no signal handlers, configures no logging and writes no access log; its startup
failures raise here instead of exiting the process.
"""

from __future__ import annotations

import socket

import anyio
import anyio.abc

from control_api.app import build_app
from control_api.context import ApiContext
from runtime import BindError, Daemon, bind_socket, serve_asgi, uvicorn_logs_to

SHUTDOWN_SECS = 3
"""Longest a stop waits for open responses (an event stream, a kill in flight) to finish."""

ControlApiBindError = BindError
"""The control API could not bind its address (in use, not local, not permitted)."""


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
        # First: a taken port fails before anything starts.
        sock = bind_socket(cfg.host, cfg.port, what="the control API")
        api = ApiContext(daemon)
        if daemon.run.level != "full":
            # Outputs (the gate's `TradingStateChanged`, say) are not stored at this level, so
            # after a restart the read models know only what happened since.
            daemon.log.warning("control_api_partial_projections", level=daemon.run.level)
        try:
            with uvicorn_logs_to(daemon.log, "control_api_server"):
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

        def listening(url: str) -> None:
            daemon.log.info("control_api_listening", url=url, projected=applied)
            if cfg.allow_remote:
                daemon.log.warning(
                    "control_api_remote_bind",
                    url=url,
                    host=cfg.host,
                    note="allow_remote is set: the API may be reachable from other hosts",
                )
            task_status.started(url)

        await serve_asgi(
            build_app(api),
            sock,
            shutdown_secs=SHUTDOWN_SECS,
            on_listening=listening,
            on_closing=api.closing.set,
        )
