"""CORS as WSO2's CORSRequestHandler and `_cors_request_handler_` sequence do it.

The handler runs first for every request of an API. It elects the resource (see
dispatch), sets the CORS values as message-context properties, and answers a preflight
(`OPTIONS`) itself with 200, without authentication and without calling the backend,
unless the elected resource lists `OPTIONS` among its verbs: then the preflight goes on
like any request and the backend answers it.

The values:

- `Access-Control-Allow-Origin`: `*` when `*` is allowed, else the request's `Origin`
  when it is listed or matches a listed pattern with `*`; else none;
- `Access-Control-Allow-Methods`: the elected resource's verbs that are allowed;
- `Access-Control-Allow-Headers`: the allowed headers, plus the API's own
  authorization and API-key header names when they are not listed; `*` echoes
  `Access-Control-Request-Headers`;
- `Access-Control-Allow-Credentials: true` only when enabled and the origin is not `*`.

The `_cors_request_handler_` sequence (4.5 and later) copies Allow-Origin and
Allow-Credentials onto every response, and Allow-Methods, Allow-Headers and
Expose-Headers onto preflight responses only; a header the backend already set is kept.
"""

from __future__ import annotations

import re
from typing import Any

from .config import ApiConfig
from .context import MessageContext
from .resources import Resource
from .settings import CorsSettings

ENABLED = "CORSConfiguration.Enabled"
ALLOW_ORIGIN = "Access-Control-Allow-Origin"
ALLOW_METHODS = "Access-Control-Allow-Methods"
ALLOW_HEADERS = "Access-Control-Allow-Headers"
ALLOW_CREDENTIALS = "Access-Control-Allow-Credentials"
EXPOSE_HEADERS = "Access-Control-Expose-Headers"


def allowed_origin(settings: CorsSettings, origin: str | None) -> str | None:
    if "*" in settings.allow_origins:
        return "*"
    if origin is None:
        return None
    if origin in settings.allow_origins:
        return origin
    for allowed in settings.allow_origins:
        if "*" in allowed:
            pattern = ".*".join(re.escape(part) for part in allowed.split("*"))
            if re.search(pattern, origin):
                return origin
    return None


def set_cors_properties(
    ctx: MessageContext, api: ApiConfig, resource: Resource | None, enabled: bool
) -> None:
    """Set the CORS properties CORSRequestHandler.setCORSHeaders sets."""
    settings = api.cors
    props = ctx.properties
    origin = ctx.headers.get("Origin")
    allowed = allowed_origin(settings, origin if isinstance(origin, str) else None)
    if settings.allow_credentials and allowed != "*":
        props[ALLOW_CREDENTIALS] = "true"
    if allowed is not None:
        props[ALLOW_ORIGIN] = allowed
    methods, listed_headers = _config_values(api, resource)
    if listed_headers is None:
        requested = ctx.headers.get("Access-Control-Request-Headers")
        allow_headers = requested if isinstance(requested, str) else None
    else:
        allow_headers = listed_headers
    props[ENABLED] = "true" if enabled and settings.enable else "false"
    props[ALLOW_METHODS] = methods
    if allow_headers is not None:
        props[ALLOW_HEADERS] = allow_headers
    if settings.expose_headers:
        props[EXPOSE_HEADERS] = ",".join(settings.expose_headers)
    props["api.ut.HTTP_METHOD"] = ctx.method


# The values of `_config_values` by the identity of their API and resource. Each
# entry keeps its API and resource alive, so no other object can take over their
# ids while the entry exists. Entries of configs replaced by a reload stay until the
# cache reaches its maximum size and is cleared.
_config_values_cache: dict[
    tuple[int, int], tuple[ApiConfig, Resource | None, str, str | None]
] = {}
MAX_CACHED_CONFIG_VALUES = 1024


def _config_values(api: ApiConfig, resource: Resource | None) -> tuple[str, str | None]:
    """Return Allow-Methods and Allow-Headers as the config sets them.

    Allow-Headers is None when the API allows `*`, because the caller then echoes the
    request's Access-Control-Request-Headers. Both depend on the config only, so each
    pair of API and resource computes them once.
    """
    key = (id(api), id(resource))
    cached = _config_values_cache.get(key)
    if cached is not None:
        return cached[2], cached[3]
    settings = api.cors
    if resource is not None:
        methods = ",".join(v for v in resource.verbs if v in settings.allow_methods)
    else:
        methods = ",".join(settings.allow_methods)
    headers = list(settings.allow_headers)
    if headers == ["*"]:
        allow_headers = None
    else:
        listed = {h.lower() for h in headers}
        for name in (api.auth_header, api.api_key_header):
            if name.lower() not in listed:
                headers.append(name)
                listed.add(name.lower())
        allow_headers = ",".join(headers)
    if len(_config_values_cache) >= MAX_CACHED_CONFIG_VALUES:
        _config_values_cache.clear()
    _config_values_cache[key] = (api, resource, methods, allow_headers)
    return methods, allow_headers


def apply_cors_sequence(properties: dict[str, Any], headers: Any, method: str) -> None:
    """Copy the CORS properties onto `headers` as `_cors_request_handler_` does.

    `headers` is any map with case-insensitive `get`/`set` (TransportHeaders, or a
    mitmproxy Headers object for backend responses).
    """
    if properties.get(ENABLED) != "true":
        return
    preflight = method == "OPTIONS"
    names = [ALLOW_ORIGIN]
    if preflight:
        names += [ALLOW_METHODS, ALLOW_HEADERS]
    for name in names:
        value = properties.get(name)
        if value is not None and not headers.get(name):
            _set(headers, name, value)
    # The property first: reading a header of a mitmproxy Headers scans every field.
    if (
        properties.get(ALLOW_CREDENTIALS) == "true"
        and not headers.get(ALLOW_CREDENTIALS)
    ):
        _set(headers, ALLOW_CREDENTIALS, "true")
    if preflight and properties.get(EXPOSE_HEADERS) and not headers.get(EXPOSE_HEADERS):
        _set(headers, EXPOSE_HEADERS, properties[EXPOSE_HEADERS])


def _set(headers: Any, name: str, value: str) -> None:
    if hasattr(headers, "set"):
        headers.set(name, value)
    else:
        headers[name] = value


def is_preflight(ctx: MessageContext, resource: Resource) -> bool:
    """An OPTIONS request the gateway answers itself: its resource does not list OPTIONS."""
    return ctx.method == "OPTIONS" and not resource.allows("OPTIONS")
