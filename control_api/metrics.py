"""Expose the kernel's counters in the Prometheus text format, read fresh at every scrape.

A custom collector reads the kernel and the projections when scraped instead of mirroring them
into metric objects on every message: the bus pays nothing for being observable.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from control_api.context import ApiContext

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class KernelCollector(Collector):
    """Collect per-actor and journal metrics from a running daemon."""

    def __init__(self, api: ApiContext, /) -> None:
        self._api = api

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family, read now."""
        daemon = self._api.daemon
        kernel = daemon.kernel
        status = kernel.status()
        per_actor: list[tuple[str, str, str, str]] = [
            ("counter", "kinetic_actor_handled", "Messages the actor handled", "handled"),
            ("counter", "kinetic_actor_failures", "Handler failures", "failures"),
            ("counter", "kinetic_actor_restarts", "Restarts by the supervisor", "restarts"),
            ("counter", "kinetic_mailbox_dropped", "Market data conflated away unread", "dropped"),
            ("counter", "kinetic_mailbox_received", "Envelopes put in the mailbox", "received"),
            ("gauge", "kinetic_mailbox_depth", "Envelopes waiting in the mailbox", "depth"),
            ("gauge", "kinetic_mailbox_capacity", "Mailbox bound", "capacity"),
            ("gauge", "kinetic_mailbox_high_water", "Deepest the mailbox has been", "high_water"),
        ]
        for kind, name, doc, key in per_actor:
            family: CounterMetricFamily | GaugeMetricFamily = (
                CounterMetricFamily(name, doc, labels=["actor"])
                if kind == "counter"
                else GaugeMetricFamily(name, doc, labels=["actor"])
            )
            for actor, st in status.items():
                family.add_metric([actor], float(st.get(key, 0)))
            yield family
        journal = kernel.journal
        yield GaugeMetricFamily("kinetic_journal_seq", "Last seq emitted", value=float(kernel.seq))
        yield GaugeMetricFamily(
            "kinetic_journal_durable_seq",
            "Last seq durable in the store",
            value=float(journal.durable_seq if journal is not None else 0),
        )
        yield GaugeMetricFamily("kinetic_uptime_seconds", "Daemon uptime", value=daemon.uptime_secs)
        p = self._api.projections
        halted = GaugeMetricFamily(
            "kinetic_trading_scopes", "Scopes not ACTIVE, by state", labels=["state"]
        )
        for state in ("REDUCING", "HALTED"):
            halted.add_metric(
                [state], float(sum(1 for s in p.trading.values() if s.state == state))
            )
        yield halted
        yield GaugeMetricFamily(
            "kinetic_paper_only",
            "1 while the paper-only guard is on",
            value=float(p.guard.paper_only),
        )
        yield GaugeMetricFamily(
            "kinetic_devices_quarantined", "Quarantined devices", value=float(len(p.quarantined))
        )
        yield GaugeMetricFamily(
            "kinetic_approvals_pending",
            "Approval requests awaiting a decision",
            value=float(p.pending),
        )


def registry_for(api: ApiContext, /) -> CollectorRegistry:
    """Return a registry holding only this daemon's collector (no process-global state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KernelCollector(api))
    return registry


def render(registry: CollectorRegistry, /) -> bytes:
    """Return the registry in the Prometheus text format."""
    return generate_latest(registry)
