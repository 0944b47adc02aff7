"""Define the devices agent's contract: quarantine commands and the events they produce.

A quarantined device receives no commands; its events are kept but trigger no intents
(DESIGN.md §4). The commands come from operators (the control API) or, later, from the trust
score falling below its bound.
"""

from __future__ import annotations

from runtime import Message


class QuarantineDevice(Message, frozen=True, kw_only=True, tag="devices.QuarantineDevice"):
    """Quarantine a device."""

    device_id: str
    reason: str
    by: str


class ReleaseDevice(Message, frozen=True, kw_only=True, tag="devices.ReleaseDevice"):
    """Lift a device's quarantine (admin only, checked by the API)."""

    device_id: str
    reason: str
    by: str


class DeviceQuarantined(Message, frozen=True, kw_only=True, tag="devices.DeviceQuarantined"):
    """Announce that a device is quarantined."""

    device_id: str
    reason: str
    by: str


class DeviceReleased(Message, frozen=True, kw_only=True, tag="devices.DeviceReleased"):
    """Announce that a device's quarantine was lifted."""

    device_id: str
    reason: str
    by: str
