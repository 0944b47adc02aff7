"""Render every error as `{"error": "<message>"}`, with msgspec's wording for bad input.

Litestar wraps a validation failure in its own envelope and trims msgspec's message; an operator
(and a script) gets msgspec's message unchanged instead, with the path relative to the body or
to the query (``Expected `int`, got `str` - at `$.limit` ``), as DESIGN.md §6 asks. A request
never yields a 5xx for its own content: a bug does, and is logged as `control_api_failed`.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec

from control_api.schemas import ErrorBody

_ALIAS = re.compile(r"`\$\.([A-Za-z0-9]+)_(?=[`.\[])")
"""A parameter named with a trailing `_` in Python (`type_`) is the wire name without it."""

_DESCRIPTIONS = {
    400: "Bad input: msgspec's message, with the path of the bad value",
    401: "No bearer token, or an unknown one",
    403: "The token's role may not do this",
    404: "No such resource",
    409: "Refused in the current state; the message names what is missing",
    503: "No actor handles or answered the command (say, its agent is not configured)",
}


def responses(*codes: int) -> dict[int, ResponseSpec]:
    """Return the OpenAPI error responses of a route (401 is implied for guarded routes)."""
    return {
        code: ResponseSpec(
            data_container=ErrorBody, description=_DESCRIPTIONS[code], generate_examples=False
        )
        for code in sorted({401, *codes})
    }


def _message(exc: HTTPException) -> str:
    cause = exc.__cause__
    if isinstance(exc, ValidationException) and isinstance(cause, msgspec.ValidationError):
        # The signature model decodes the body as field `data` (say `$`, the body's root) and
        # a query parameter under its Python name (`type_` for `type`: say the wire name).
        message = str(cause).replace("`$.data.", "`$.").replace("`$.data`", "`$`")
        return _ALIAS.sub(r"`$.\1", message)
    if exc.status_code == 404 and exc.detail == "Not Found":
        return "no such route"
    if exc.status_code == 405 and exc.detail == "Method Not Allowed":
        return "method not allowed on this route"
    return str(exc.detail)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    """Render a Litestar `HTTPException` (ours and its own) as an `ErrorBody`."""
    if exc.status_code >= 500 and exc.status_code != 503:  # 503 is ours: no actor answered
        return internal_error(request, exc)
    return Response(
        ErrorBody(error=_message(exc)), status_code=exc.status_code, headers=exc.headers or None
    )


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    """Log an unexpected failure and answer 500 without leaking its details."""
    log = request.app.state["api"].daemon.log
    log.error(
        "control_api_failed",
        method=request.method,
        path=request.url.path,
        error=repr(exc),
        exc_info=exc,
    )
    return Response(ErrorBody(error="internal error; see the daemon log"), status_code=500)
