"""Endpoint choice by key type, `{uri.var.x}` filling and endpoint security.

Facts from WSO2's API template (product-apim `velocity_template.xml`) and Synapse:

- Authentication stores the key type in `AM_KEY_TYPE`; the resource's in-sequence sends
  PRODUCTION traffic to the production endpoint and SANDBOX traffic to the sandbox one.
  A key type whose endpoint is missing goes to `_production_key_error_` or
  `_sandbox_key_error_`: 403 with code 900901 and `Production key offered to the API
  with no production endpoint` (or the sandbox text).
- An HTTP endpoint's `{uri.var.x}` is filled from the `uri.var.x` property that the
  resource's uri-template captured; `REST_URL_POSTFIX` is still appended unless a
  sequence removed it.
- Endpoint security `basic` sets `Authorization: Basic base64(user:password)` in the
  resource's in-sequence, after the API's mediation, so it replaces whatever the client
  or a sequence put in `Authorization`. Endpoint security `oauth` does the same with
  `Bearer <token>`, and `digest` with the answer to the backend's challenge. Both are
  set just before the request is sent (see backend_token and backend_digest), because
  the network requests they need must not block the event loop.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import replace

from .config import ApiConfig, Endpoint
from .context import MessageContext
from .endpoint_groups import choose_member
from .errors import GatewayError

logger = logging.getLogger(__name__)

_URI_VAR = re.compile(r"\{uri\.var\.([A-Za-z_][A-Za-z0-9_.\-]*)\}")

KEY_ERRORS = {
    "PRODUCTION": (
        "_production_key_error_",
        "Production key offered to the API with no production endpoint",
    ),
    "SANDBOX": (
        "_sandbox_key_error_",
        "Sandbox key offered to the API with no sandbox endpoint",
    ),
}


def select_endpoint(ctx: MessageContext, api: ApiConfig, key_type: str) -> Endpoint:
    """Return the endpoint for `key_type`, or raise the error of the key-error sequence."""
    endpoint = (
        api.sandbox_endpoint if key_type == "SANDBOX" else api.production_endpoint
    )
    if endpoint is not None:
        return endpoint
    handler, message = KEY_ERRORS[key_type]
    ctx.properties["ERROR_CODE"] = "900901"
    ctx.properties["ERROR_MESSAGE"] = message
    ctx.properties["CUSTOM_HTTP_SC"] = 403
    ctx.record("route", f"{key_type} key but {api.label} has no such endpoint: 900901")
    raise GatewayError("900901", "Runtime Error", message, 403, handler=handler)


def select_member(
    ctx: MessageContext, api: ApiConfig, key_type: str, *, advance: bool = True
) -> tuple[Endpoint, int | None]:
    """Return the endpoint for `key_type` and the index of the group member chosen.

    The index is None unless the endpoint is a load-balance or failover group. Raises
    the key-error fault, or the 303000 fault when no member of the group is ready.
    """
    endpoint = select_endpoint(ctx, api, key_type)
    group = api.group_for(key_type)
    member = choose_member(ctx, group, advance=advance)
    if group is not None and member is not None:
        endpoint = group.members[member]
    return endpoint, member


def fill_uri_vars(ctx: MessageContext, endpoint: Endpoint) -> Endpoint:
    """Replace `{uri.var.x}` in the endpoint path with the captured values."""
    if "{" not in endpoint.path:
        return endpoint

    def value(match: re.Match[str]) -> str:
        found = ctx.properties.get(f"uri.var.{match.group(1)}")
        if found is None:
            ctx.record(
                "route", f"uri.var.{match.group(1)} is not set: filled with nothing"
            )
            return ""
        return str(found)

    path = _URI_VAR.sub(value, endpoint.path)
    url = endpoint.url.replace(endpoint.path, path, 1)
    return replace(endpoint, url=url, path=path)


def apply_endpoint_security(ctx: MessageContext, api: ApiConfig) -> None:
    """Set `Authorization: Basic ...` for endpoint security `basic`.

    For `digest` and `oauth` only a trace step is recorded here: their sub-addons set
    the header just before the request is sent.
    """
    security = api.endpoint_security
    if security is None:
        return
    if security.type == "digest":
        ctx.record(
            "route",
            "endpoint security digest: Authorization answers the backend's challenge "
            "when the request is sent",
        )
        return
    if security.type == "oauth":
        ctx.record(
            "route",
            f"endpoint security oauth: Authorization is set to a token from "
            f"{security.token_url} when the request is sent",
        )
        return
    credentials = f"{security.username}:{security.password}".encode()
    value = "Basic " + base64.b64encode(credentials).decode("ascii")
    previous = ctx.headers.get("Authorization")
    ctx.headers.set("Authorization", value)
    ctx.headers.remove_excess("Authorization")
    if isinstance(previous, str) and previous != value:
        logger.info(
            "gateway: endpoint security basic of %s replaced the Authorization header "
            "set by the client or a sequence, as WSO2 does",
            api.label,
        )
        ctx.record(
            "route",
            "endpoint security basic replaced Authorization (a sequence or client value is lost)",
        )
    else:
        ctx.record(
            "route",
            f"endpoint security basic: Authorization: Basic **** ({security.username})",
        )
