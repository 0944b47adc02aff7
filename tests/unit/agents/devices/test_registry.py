"""Quarantine: idempotent commands, one event per change."""

from __future__ import annotations

from agents.devices.actor import DeviceRegistry
from agents.devices.messages import QuarantineDevice, ReleaseDevice
from runtime import ActorSpec, SimKernel
from runtime.testing import Recorder, RecorderConfig


def test_quarantine_and_release_emit_once_per_change() -> None:
    k = SimKernel()
    k.add_actor(ActorSpec("devices", DeviceRegistry))
    rec = Recorder(RecorderConfig(tags=["devices.DeviceQuarantined", "devices.DeviceReleased"]))
    k.add_actor(ActorSpec("rec", lambda: rec))
    k.start()
    for _ in range(3):
        k.emit_input("op", QuarantineDevice(device_id="cam-1", reason="tamper alarm", by="ana"))
    k.emit_input("op", ReleaseDevice(device_id="cam-1", reason="checked", by="admin"))
    k.emit_input("op", ReleaseDevice(device_id="cam-1", reason="again", by="admin"))
    k.run()
    assert [type(m).__name__ for m in rec.messages] == ["DeviceQuarantined", "DeviceReleased"]
    registry = k.actor("devices")
    assert isinstance(registry, DeviceRegistry)
    assert not registry.is_quarantined("cam-1")
