"""Assemble the Litestar app: routes behind the auth guard, error rendering, OpenAPI and docs.

The schema (`/openapi.json`) and Swagger UI (`/docs`) are served without a token: they describe
the API, not the run, and a browser could not load the UI otherwise. Every other route sits
behind `authorize` (the router's `before_request`; `build_app` checks that no route shadows it),
which lets only `/health` through without a bearer token.

Litestar's own schema router lives under `/schema`, out of the way: mounted at `/` it would catch
every unknown one-segment path and answer it with an HTML page instead of our JSON error.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from control_api import (
    routes_approvals,
    routes_devices,
    routes_events,
    routes_ramp,
    routes_status,
    routes_trading,
)
from control_api.auth import authorize
from control_api.context import ApiContext
from control_api.errors import http_error, internal_error
from control_api.schemas import RequestBody

TITLE = "Kinetic control API"
VERSION = "1"
SCHEMA_PATH = "/schema"
"""Where Litestar's own schema router lives (public, like `/openapi.json`)."""
PUBLIC_PATHS = frozenset({"/health"})
"""Documented routes that need no token (their handlers declare the action `public`)."""


_SWAGGER = SwaggerRenderPlugin(path="/docs")


def schema_of(app: Litestar, /) -> dict[str, Any]:
    """Return the app's OpenAPI schema, completed where Litestar leaves things out.

    Request bodies take no unknown fields (`additionalProperties: false`), and public routes
    need no token (`security: []`, which Litestar drops as empty).
    """
    schema: dict[str, Any] = app.openapi_schema.to_schema()
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            if isinstance(operation, dict) and path in PUBLIC_PATHS:
                operation["security"] = []
    components = schema.get("components", {}).get("schemas", {})
    for body in _request_bodies():
        if body.__name__ in components:
            components[body.__name__]["additionalProperties"] = False
    return schema


def _request_bodies() -> list[type[RequestBody]]:
    found, todo = [], list(RequestBody.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


@get("/openapi.json", opt={"action": "public"}, include_in_schema=False, sync_to_thread=False)
def openapi_json(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Return the OpenAPI 3 schema."""
    return Response(schema_of(request.app), media_type=MediaType.JSON)


@get("/docs", opt={"action": "public"}, include_in_schema=False, sync_to_thread=False)
def docs(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Return Swagger UI over the schema."""
    return Response(_SWAGGER.render(request, schema_of(request.app)), media_type=MediaType.HTML)


def build_app(api: ApiContext, /) -> Litestar:
    """Return the ASGI app serving `api`."""

    def provide_api() -> ApiContext:
        return api

    router = Router(
        path="/",
        route_handlers=[
            openapi_json,
            docs,
            *routes_status.ROUTES,
            *routes_trading.ROUTES,
            *routes_devices.ROUTES,
            *routes_approvals.ROUTES,
            *routes_events.ROUTES,
            *routes_ramp.ROUTES,
        ],
        before_request=authorize,
        dependencies={"api": Provide(provide_api, sync_to_thread=False)},
    )
    openapi = OpenAPIConfig(
        title=TITLE,
        version=VERSION,
        description=(
            "Steer a Kinetic daemon: kill switches, device quarantine, the paper-only guard, "
            "approvals, status, metrics and the journal. Send `Authorization: Bearer <token>`; "
            'errors are `{"error": "<message>"}`.'
        ),
        path=SCHEMA_PATH,
        render_plugins=[SwaggerRenderPlugin(path="/swagger")],
        components=Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
        ),
        security=[{"bearer": []}],
        use_handler_docstrings=True,
    )
    handlers: dict[Any, Any] = {HTTPException: http_error, Exception: internal_error}
    app = Litestar(
        route_handlers=[router],
        exception_handlers=handlers,
        openapi_config=openapi,
        state=State({"api": api}),
        logging_config=None,
        debug=False,
    )
    _check_authorized(app)
    return app


def _check_authorized(app: Litestar, /) -> None:
    """Fail closed: raise unless every route but Litestar's `/schema` runs `authorize` first.

    Litestar resolves `before_request` from the closest layer only, so a route or controller
    declaring its own would silently skip the token check; this refuses to build such an app.
    """
    for route in app.routes:
        if route.path == SCHEMA_PATH or route.path.startswith(SCHEMA_PATH + "/"):
            continue  # Litestar's own schema router, public as the schema is
        for handler in getattr(route, "route_handlers", ()):
            if handler.resolve_before_request() is not authorize:
                raise RuntimeError(
                    f"route `{route.path}` ({handler.handler_name}) does not run `authorize` "
                    "before its handler; do not give a route its own `before_request`"
                )
