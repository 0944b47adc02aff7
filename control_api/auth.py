"""Decide who may do what: bearer tokens to principals, and the one table of permissions.

Every route names the action it performs (`opt={"action": ...}`); a hook on the router checks
the token and the table before the request body is even read, so an unauthenticated caller gets
401 and a caller whose role lacks the action gets 403, whatever else is wrong with the request.
A route that names no action is refused: a forgotten declaration fails closed.
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from runtime import Principal, Role

Action = Literal[
    "public",
    "read",
    "kill",
    "reduce",
    "resume",
    "quarantine",
    "release",
    "guard_on",
    "guard_off",
    "request_approval",
    "decide_approval",
    "ramp",
]

_ALL: frozenset[Role] = frozenset({"viewer", "operator", "approver", "admin"})

PERMISSIONS: dict[Action, frozenset[Role]] = {
    "read": _ALL,
    "kill": frozenset({"operator", "admin"}),
    "reduce": frozenset({"operator", "admin"}),
    "resume": frozenset({"admin"}),
    "quarantine": frozenset({"operator", "admin"}),
    "release": frozenset({"admin"}),
    "guard_on": frozenset({"operator", "admin"}),
    "guard_off": frozenset({"admin"}),
    "request_approval": frozenset({"operator", "approver", "admin"}),
    "decide_approval": frozenset({"approver", "admin"}),
    "ramp": frozenset({"operator", "admin"}),
}
"""Which roles may perform each action; `public` (only `/health`) needs no token at all."""

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="kinetic"'}


def permit(principal: Principal, action: Action, /) -> None:
    """Raise 403 unless `principal`'s role may perform `action`."""
    allowed = PERMISSIONS[action]
    if principal.role not in allowed:
        roles = ", ".join(r for r in ("viewer", "operator", "approver", "admin") if r in allowed)
        raise PermissionDeniedException(
            f"role `{principal.role}` may not `{action}`; it needs one of: {roles}"
        )


async def authorize(request: Request[Any, Any, Any], /) -> None:
    """Authenticate the bearer token and check the route's action (the router's `before_request`).

    Not a Litestar guard, for speed: Litestar copies the route handler for every guard call
    (about 15 µs a request here) and runs a plain-function guard in a worker thread (a thread
    hop, an extra loop turn and a GIL handoff per request). `before_request` runs before the
    body is read and any dependency resolved, exactly where a guard would; `build_app` checks
    that every route resolves it to this function, so no route can shadow it with its own.
    A coroutine though it never awaits: a plain function would run in a worker thread too.
    """
    handler = request.route_handler
    action: Action | None = handler.opt.get("action")
    if action is None and request.scope.get("method") == "OPTIONS":
        action = "read"  # Litestar's own answer listing a route's methods: tell viewers only
    if action == "public":
        return
    if action is None or action not in PERMISSIONS:
        raise PermissionDeniedException("this route declares no permission")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(
            "missing bearer token: send `Authorization: Bearer <token>`", headers=CHALLENGE
        )
    tokens = request.app.state["api"].daemon.tokens
    principal = tokens.verify(token.strip())
    if principal is None:
        raise NotAuthorizedException("invalid bearer token", headers=CHALLENGE)
    permit(principal, action)
    request.state["principal"] = principal


def principal_of(connection: ASGIConnection[Any, Any, Any, Any], /) -> Principal:
    """Return the principal `authorize` verified for this request."""
    principal: Principal = connection.state["principal"]
    return principal
