"""What mediation changes on the request that goes to the backend, beyond the URL.

Facts from Synapse's pass-through transport (TargetRequestFactory, TargetRequest):

- the body is written anew when a mediator changed it or `messageType` asks for another
  format, with Content-Type from `messageType` plus `; charset=UTF-8`;
- axis2 `NO_ENTITY_BODY` (Boolean true) sends no body; GET and HEAD never send one;
- axis2 `REQUEST_HOST_HEADER` replaces the Host header;
- axis2 `DISABLE_CHUNKING` = "true" sends Content-Length instead of chunked encoding;
- `{uri.var.name}` and `{query.param.name}` in an endpoint URL are filled from the
  properties of those names, percent-encoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from ..context import MessageContext
from .runner import BODILESS_METHODS, body_changed, content_type_of, serialized_body

_TEMPLATE_VARIABLE = re.compile(r"\{(uri\.var\.[^{}]+|query\.param\.[^{}]+)\}")


def expand_uri_template(url: str, ctx: MessageContext) -> str:
    """Fill `{uri.var.x}` and `{query.param.x}` in an endpoint URL from properties."""

    def value(match: re.Match[str]) -> str:
        found = ctx.properties.get(match.group(1))
        return "" if found is None else quote(str(found), safe="")

    return _TEMPLATE_VARIABLE.sub(value, url)


@dataclass(slots=True)
class RequestChanges:
    """Body and framing of the backend request, as mediation left them."""

    body: bytes | None  # None: keep the body as received
    content_type: str | None  # set when the body was written anew
    host: str | None
    unchunked: bool


def request_changes(ctx: MessageContext, method: str) -> RequestChanges:
    """Work out the body, Content-Type and Host of the backend request."""
    host = ctx.axis2.get("REQUEST_HOST_HEADER")
    unchunked = str(ctx.axis2.get("DISABLE_CHUNKING", "")).lower() == "true"
    host_text = host if isinstance(host, str) and host else None
    if method.upper() in BODILESS_METHODS or ctx.axis2.get("NO_ENTITY_BODY") is True:
        return RequestChanges(b"", None, host_text, unchunked)
    if not body_changed(ctx):
        return RequestChanges(None, None, host_text, unchunked)
    return RequestChanges(
        serialized_body(ctx), content_type_of(ctx), host_text, unchunked
    )
