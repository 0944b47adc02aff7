"""Serve the approval desk: list requests, ask for one, approve or reject one.

The desk (`runtime._approvals`) owns the decision and checks the four-eyes rule itself; the API
checks it first from its projection so a refused self-approval costs no command, and maps the
desk's refusals (`ApprovalRefused`) to status codes when the projection was not enough.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Request, get, post
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.params import Parameter, QueryParameter

from control_api.auth import principal_of
from control_api.commands import answer_to, event_of, issue, new_corr
from control_api.context import ApiContext
from control_api.errors import responses
from control_api.schemas import Approval, ApprovalCreate, ApprovalResult, Approvals, DecisionBody
from runtime import (
    ApprovalGranted,
    ApprovalRefused,
    ApprovalRejected,
    ApprovalRequested,
    Approve,
    Reject,
    RequestApproval,
)

TAGS = ["approvals"]
RequestId = Annotated[str, Parameter(min_length=1, max_length=200, description="The request id")]
_REFUSED = {"own_request": 403, "unknown_request": 404, "already_decided": 409}


@get("/approvals", opt={"action": "read"}, tags=TAGS, responses=responses(400))
async def list_approvals(
    api: ApiContext,
    state_: Annotated[
        Literal["pending", "approved", "rejected", "all"],
        QueryParameter(name="state", description="Which requests; default `pending`"),
    ] = "pending",
) -> Approvals:
    """Return approval requests in a state, oldest first."""
    return Approvals(approvals=api.projections.list_approvals(None if state_ == "all" else state_))


@post(
    "/approvals", opt={"action": "request_approval"}, tags=TAGS, responses=responses(400, 403, 503)
)
async def create_approval(
    api: ApiContext, request: Request[Any, Any, Any], data: ApprovalCreate
) -> ApprovalResult:
    """Ask for an approval; the caller is the requester and may not decide it."""
    who = principal_of(request).name
    corr = new_corr()
    rid = f"req-{uuid.uuid4().hex}"
    msg = RequestApproval(
        request_id=rid,
        action=data.action,
        detail=data.detail,
        requested_by=who,
        timeout_secs=data.timeout_secs,
    )
    sent, answer = await issue(
        api, msg, by=who, corr=corr, until=answer_to(corr, ApprovalRequested)
    )
    assert answer is not None
    return ApprovalResult(
        corr=corr, command_seq=sent.seq, approval=_view(api, rid), event=event_of(answer)
    )


async def _decide(
    api: ApiContext, request: Request[Any, Any, Any], request_id: str, reason: str, *, approve: bool
) -> ApprovalResult:
    who = principal_of(request).name
    known = api.projections.approvals.get(request_id)
    if known is not None and known.requested_by == who:
        raise PermissionDeniedException(f"`{who}` requested `{request_id}` and cannot decide it")
    corr = new_corr()
    msg = (
        Approve(request_id=request_id, by=who, reason=reason)
        if approve
        else Reject(request_id=request_id, by=who, reason=reason)
    )
    until = answer_to(corr, ApprovalGranted, ApprovalRejected, ApprovalRefused)
    sent, answer = await issue(api, msg, by=who, corr=corr, until=until)
    assert answer is not None
    if isinstance(answer.msg, ApprovalRefused):
        refused = answer.msg
        if refused.code == "unknown_request":
            raise NotFoundException(refused.detail)
        raise HTTPException(status_code=_REFUSED[refused.code], detail=refused.detail)
    return ApprovalResult(
        corr=corr, command_seq=sent.seq, approval=_view(api, request_id), event=event_of(answer)
    )


def _view(api: ApiContext, request_id: str) -> Approval:
    approval = api.projections.approvals.get(request_id)
    if approval is None:  # the tap applied the desk's answer before we got it; never happens
        raise NotFoundException(f"request `{request_id}` is unknown")
    return approval


@post(
    "/approvals/{request_id:str}/approve",
    status_code=200,
    opt={"action": "decide_approval"},
    tags=TAGS,
    responses=responses(400, 403, 404, 409, 503),
)
async def approve(
    api: ApiContext, request: Request[Any, Any, Any], request_id: RequestId, data: DecisionBody
) -> ApprovalResult:
    """Approve a pending request (approver); never one you requested."""
    return await _decide(api, request, request_id, data.reason, approve=True)


@post(
    "/approvals/{request_id:str}/reject",
    status_code=200,
    opt={"action": "decide_approval"},
    tags=TAGS,
    responses=responses(400, 403, 404, 409, 503),
)
async def reject(
    api: ApiContext, request: Request[Any, Any, Any], request_id: RequestId, data: DecisionBody
) -> ApprovalResult:
    """Reject a pending request (approver); never one you requested."""
    return await _decide(api, request, request_id, data.reason, approve=False)


ROUTES = [list_approvals, create_approval, approve, reject]
