"""Serve device quarantine: put a device aside (operator), let it back (admin), list them.

The registry is idempotent and says nothing when nothing changes, so a command whose outcome the
projection already shows answers `changed: false` at once; otherwise the API waits for the
registry's event, and a short silence also means nothing changed.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post
from litestar.exceptions import HTTPException
from litestar.params import Parameter

from agents.devices.messages import (
    DeviceQuarantined,
    DeviceReleased,
    QuarantineDevice,
    ReleaseDevice,
)
from control_api.auth import principal_of
from control_api.commands import NO_CHANGE_WAIT_SECS, answer_to, event_of, issue, new_corr
from control_api.context import ApiContext
from control_api.errors import responses
from control_api.schemas import Quarantine, QuarantineBody, QuarantineResult

TAGS = ["devices"]
DeviceId = Annotated[str, Parameter(min_length=1, max_length=200, description="The device id")]


async def _command(
    api: ApiContext,
    request: Request[Any, Any, Any],
    device_id: str,
    reason: str,
    *,
    quarantine: bool,
) -> QuarantineResult:
    who = principal_of(request).name
    corr = new_corr()
    already = (device_id in api.projections.quarantined) == quarantine
    msg: QuarantineDevice | ReleaseDevice
    if quarantine:
        msg = QuarantineDevice(device_id=device_id, reason=reason, by=who)
        until = answer_to(corr, DeviceQuarantined)
    else:
        msg = ReleaseDevice(device_id=device_id, reason=reason, by=who)
        until = answer_to(corr, DeviceReleased)
    # Journal the command even when it changes nothing: the audit trail shows every request.
    sent, answer = await issue(
        api,
        msg,
        by=who,
        corr=corr,
        until=until,
        timeout_secs=0 if already else NO_CHANGE_WAIT_SECS,
        required=False,
    )
    return QuarantineResult(
        corr=corr,
        command_seq=sent.seq,
        device_id=device_id,
        quarantined=device_id in api.projections.quarantined,
        changed=answer is not None,
        event=event_of(answer) if answer is not None else None,
    )


@post(
    "/devices/{device_id:str}/quarantine",
    status_code=200,
    opt={"action": "quarantine"},
    tags=TAGS,
    responses=responses(400, 403, 503),
)
async def quarantine(
    api: ApiContext, request: Request[Any, Any, Any], device_id: DeviceId, data: QuarantineBody
) -> QuarantineResult:
    """Quarantine a device: it gets no commands, its events trigger no intents (operator)."""
    return await _command(api, request, device_id, data.reason, quarantine=True)


@delete(
    "/devices/{device_id:str}/quarantine",
    status_code=200,
    opt={"action": "release"},
    tags=TAGS,
    responses=responses(400, 403, 503),
)
async def release(
    api: ApiContext,
    request: Request[Any, Any, Any],
    device_id: DeviceId,
    reason: Annotated[
        str | None, Parameter(max_length=500, description='Why; or `{"reason": ...}` in the body')
    ] = None,
) -> QuarantineResult:
    """Lift a device's quarantine (admin); `reason` in the query or a JSON body."""
    if not reason:
        body = await request.body()
        if body.strip():
            try:
                reason = msgspec.json.decode(body, type=QuarantineBody).reason
            except msgspec.MsgspecError as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from exc
    if not reason:
        raise HTTPException(
            status_code=400, detail="`reason` is required, in the query or the body"
        )
    return await _command(api, request, device_id, reason, quarantine=False)


@get("/quarantine", opt={"action": "read"}, tags=TAGS, responses=responses())
async def list_quarantine(api: ApiContext) -> Quarantine:
    """Return every quarantined device."""
    devices = sorted(api.projections.quarantined.values(), key=lambda d: d.seq)
    return Quarantine(count=len(devices), devices=devices)


ROUTES = [quarantine, release, list_quarantine]
