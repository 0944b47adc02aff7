"""Hold what every route reads, built once per server: the daemon, projections, throughput."""

from __future__ import annotations

import anyio

from control_api.projections import Projections
from control_api.status_cache import StatusCache
from control_api.throughput import Throughput
from runtime import Daemon


class ApiContext:
    """The daemon handle, the read models and the throughput window the routes share."""

    def __init__(self, daemon: Daemon, /) -> None:
        self.daemon = daemon
        self.projections = Projections.for_daemon(daemon)
        self.throughput = Throughput()
        self.status = StatusCache()
        """The rendered `/status` answer, at most `STATUS_MAX_AGE_SECS` old."""
        self.closing = anyio.Event()
        """Set when the server shuts down: long-lived responses (the event stream) end."""
