"""Checks on hostile input, made before anything reads or matches the request.

mitmproxy forwards the raw request target, header values with NUL or folded lines, and
header blocks of any size. The gateway judges these itself, so that the backend never
has to:

- Path rule: the path is matched exactly as received, so it must already be in normal
  form. A path with a `.` or `..` segment (also percent-encoded), an empty segment
  (`//`), an encoded `/` or `\\` (`%2F`, `%5C`), a raw `\\`, a `;` path parameter, a
  `#`, an encoded NUL or any control character or space is rejected with 400. What was
  matched is what is forwarded, so an auth decision made on one path never lets a
  different path through.
- A header value with a control character (CR, LF, NUL, obs-fold, anything below 0x20
  but tab, and DEL) is rejected with 400.
- A header block larger than `limits.max_header_bytes` or with more than
  `limits.max_header_count` fields is rejected with 431; a body larger than
  `limits.max_body_bytes` with 413, before any sequence parses it.
- `Connection` may not nominate a header the gateway relies on (the API's auth
  header, `Host`): 400.
- Headers the gateway owns are removed from the client's request: `X-JWT-Assertion`
  (or the configured backend JWT header) and `WSO2_AM_API_DEFAULT_VERSION` always,
  the correlation header unless the client may set it. WSO2's OAuthAuthenticator
  removes `WSO2_AM_API_DEFAULT_VERSION` (its removeDefaultAPIHeaderFromOutMessage
  is true by default); this gateway removes it for every API.
- A credential sent twice with different values (the auth header, the API-key header,
  the `apikey` query parameter, or header and query parameter together) is rejected
  with 400.

Every rejection is answered through the `fault` sequence with the HTTP status as its
code.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from .config import ApiConfig
from .context import MessageContext
from .credentials_apikey import query_values
from .errors import GatewayError
from .settings import Limits

# The header WSO2 uses inside the gateway to mark a call to an API's default version.
DEFAULT_VERSION_HEADER = "WSO2_AM_API_DEFAULT_VERSION"

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_PATH_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_BAD_ESCAPES = re.compile(r"%(2[fF]|5[cC]|00)")
_DOT_SEGMENT = re.compile(r"^(\.|%2[eE]){1,2}$")

HOP_BY_HOP = (
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "TE",
    "Proxy-Authorization",
)


def edge_error(status: int, reason: str) -> GatewayError:
    """Build a rejection at the edge; the fault sequence sends it with `status` as its code."""
    return GatewayError(str(status), "Runtime Error", reason, status, handler="fault")


def check_path(target: str) -> None:
    """Apply the path rule to a request target (path and query)."""
    if _PATH_CONTROL.search(target):
        raise edge_error(
            400, "The request path contains a control character or a space"
        )
    if "#" in target:
        raise edge_error(400, "The request path contains a fragment ('#')")
    path = target.partition("?")[0]
    if not path.startswith("/"):
        raise edge_error(400, "The request path must start with '/'")
    if "\\" in path or _BAD_ESCAPES.search(path):
        raise edge_error(
            400,
            "The request path contains an encoded '/', an encoded NUL or a backslash",
        )
    if ";" in path:
        raise edge_error(400, "The request path contains a ';' path parameter")
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        if _DOT_SEGMENT.match(segment):
            raise edge_error(400, "The request path contains a '.' or '..' segment")
        if segment == "" and index != len(segments) - 1:
            raise edge_error(400, "The request path contains an empty segment ('//')")


def check_headers(fields: Iterable[tuple[bytes, bytes]], limits: Limits) -> None:
    """Reject control characters in values (400) and oversize header blocks (431)."""
    total = 0
    count = 0
    for name, value in fields:
        count += 1
        total += len(name) + len(value) + 4
        if _CONTROL.search(value.decode("latin-1")):
            shown = name.decode("latin-1", "replace")
            raise edge_error(400, f"Header {shown} contains a control character")
    if count > limits.max_header_count:
        raise edge_error(
            431,
            f"The request has {count} header fields; the limit is {limits.max_header_count}",
        )
    if total > limits.max_header_bytes:
        raise edge_error(
            431,
            f"The request header block is {total} bytes; the limit is {limits.max_header_bytes}",
        )


def check_declared_body(content_length: str | None, limits: Limits) -> None:
    if content_length and content_length.strip().isdigit():
        if int(content_length) > limits.max_body_bytes:
            raise body_too_large(limits)


def body_too_large(limits: Limits) -> GatewayError:
    return edge_error(
        413,
        f"The request body is larger than the limit of {limits.max_body_bytes} bytes",
    )


def strip_owned_headers(
    ctx: MessageContext,
    backend_jwt_header: str,
    correlation_header: str,
    accept_correlation: bool,
) -> None:
    """Remove headers only the gateway may set from the client's request."""
    for name in _owned_headers(backend_jwt_header):
        if name in ctx.headers:
            ctx.headers.remove(name, excess=True)
            ctx.record("edge", f"client-sent {name} removed")
    if not accept_correlation and correlation_header in ctx.headers:
        ctx.headers.remove(correlation_header, excess=True)
        ctx.record("edge", f"client-sent {correlation_header} removed")


@functools.lru_cache(maxsize=16)
def _owned_headers(backend_jwt_header: str) -> tuple[str, ...]:
    # Without repeats and in a fixed order, so that the trace lists the removals in
    # the same order on every run.
    names = ("X-JWT-Assertion", backend_jwt_header, DEFAULT_VERSION_HEADER)
    return tuple(dict.fromkeys(names))


def check_hop_by_hop(ctx: MessageContext, api: ApiConfig) -> None:
    """Drop hop-by-hop headers; reject a `Connection` that nominates a protected header."""
    headers = ctx.headers
    nominated: list[str] = []
    for value in headers.values("Connection"):
        nominated += [token.strip() for token in value.split(",") if token.strip()]
    if nominated:
        protected = {api.auth_header.lower(), api.api_key_header.lower(), "host"}
        for token in nominated:
            if token.lower() in protected:
                raise edge_error(
                    400,
                    f"The Connection header nominates {token}, which the gateway needs",
                )
    for name in [*HOP_BY_HOP, *nominated]:
        if name in headers or (headers.excess and headers.count(name)):
            headers.remove(name, excess=True)


def check_repeated_credentials(
    ctx: MessageContext, api: ApiConfig, postfix: str
) -> None:
    """Reject a credential sent more than once with different values."""
    # Without excess occurrences no header can carry two values.
    if ctx.headers.excess:
        for name in (api.auth_header, api.api_key_header):
            values = ctx.headers.values(name)
            if len(set(values)) > 1:
                raise edge_error(
                    400,
                    f"The request carries {name} {len(values)} times "
                    "with different values",
                )
    if "api_key" in api.security:
        in_query = query_values(postfix)
        if len(set(in_query)) > 1:
            raise edge_error(
                400,
                "The request carries the apikey query parameter with different values",
            )
        in_header = ctx.headers.values(api.api_key_header)
        if in_query and in_header and in_query[0] != in_header[0]:
            raise edge_error(
                400,
                f"The request carries different API keys in {api.api_key_header} and apikey",
            )
