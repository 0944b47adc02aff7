"""Keep the set of quarantined devices, the one place that decides whether a device is in it.

Commands are idempotent: quarantining a quarantined device (or releasing a free one) changes
nothing and emits nothing, so a retried API call cannot double an event.
"""

from __future__ import annotations

import msgspec

from agents.devices.messages import (
    DeviceQuarantined,
    DeviceReleased,
    QuarantineDevice,
    ReleaseDevice,
)
from runtime import Actor


class QuarantineEntry(msgspec.Struct, kw_only=True):
    """Why and by whom a device is quarantined, and since when (kernel clock, ns)."""

    reason: str
    by: str
    since_ns: int


class DeviceRegistryState(msgspec.Struct, kw_only=True):
    """The quarantined devices by id."""

    quarantined: dict[str, QuarantineEntry] = msgspec.field(default_factory=dict)


class DeviceRegistry(Actor):
    """Apply quarantine commands and announce each change once."""

    def __init__(self) -> None:
        self.state = DeviceRegistryState()

    def on_start(self) -> None:
        self.ctx.subscribe(QuarantineDevice)
        self.ctx.subscribe(ReleaseDevice)

    def on_quarantine(self, msg: QuarantineDevice) -> None:
        if msg.device_id in self.state.quarantined:
            return
        self.state.quarantined[msg.device_id] = QuarantineEntry(
            reason=msg.reason, by=msg.by, since_ns=self.ctx.now
        )
        self.ctx.publish(DeviceQuarantined(device_id=msg.device_id, reason=msg.reason, by=msg.by))

    def on_release(self, msg: ReleaseDevice) -> None:
        if self.state.quarantined.pop(msg.device_id, None) is None:
            return
        self.ctx.publish(DeviceReleased(device_id=msg.device_id, reason=msg.reason, by=msg.by))

    def is_quarantined(self, device_id: str, /) -> bool:
        """Return whether `device_id` is quarantined."""
        return device_id in self.state.quarantined
