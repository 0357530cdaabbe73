"""Answer a request locally, with the status, headers and body WSO2 4.x sends.

WSO2 builds its error responses in fault sequences that run on the request's own
message context, so the response carries the request's transport headers, except the
ones those sequences remove (`Authorization`, `Host`, `Accept`, `X-JWT-Assertion`) and
the ones the transport itself owns. A client that sent `Custom: Bearer 1234` sees it
again on the 401.

Body shapes:

- authentication failures (`_auth_failure_handler_`):
  `{"code":"900901","message":"...","description":"..."}`, the code a JSON string;
- everything else (`fault`, `main`): the same plus `"type":"Status report"`.
"""

from __future__ import annotations

import json

from mitmproxy import http

from .errors import GatewayError
from .headers import TransportHeaders

CONTENT_TYPE = "application/json; charset=UTF-8"

WWW_AUTHENTICATE = (
    'Internal API Key realm="WSO2 API Manager", Bearer realm="WSO2 API Manager", '
    'error="invalid_token", error_description="The provided token is invalid"'
)

# Removed by WSO2's error sequences before they answer.
_REMOVED_BY_SEQUENCE = ("Authorization", "Host", "Accept", "X-JWT-Assertion")

# Framing and hop-by-hop headers: the transport writes its own.
_TRANSPORT_OWNED = (
    "Content-Length",
    "Content-Type",
    "Transfer-Encoding",
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "TE",
    "Trailer",
    "Upgrade",
    "Expect",
    "Date",
    "Server",
)


def error_body(error: GatewayError) -> bytes:
    """Return the JSON body WSO2's fault sequence builds for `error`."""
    if error.handler == "_auth_failure_handler_":
        payload = {
            "code": error.code,
            "message": error.message,
            "description": error.description,
        }
    else:
        payload = {
            "code": error.code,
            "type": "Status report",
            "message": error.message,
            "description": error.description,
        }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def error_headers(request_headers: TransportHeaders, error: GatewayError) -> TransportHeaders:
    """Return the response headers: the request's, cleaned as WSO2's sequences do."""
    headers = request_headers.copy()
    for name in _REMOVED_BY_SEQUENCE + _TRANSPORT_OWNED:
        headers.remove(name, excess=True)
    if error.status == 401:
        headers.set("WWW-Authenticate", WWW_AUTHENTICATE)
    headers.set("Content-Type", CONTENT_TYPE)
    return headers


def error_response(request_headers: TransportHeaders, error: GatewayError) -> http.Response:
    """Build the mitmproxy response for `error`."""
    headers = error_headers(request_headers, error)
    return http.Response.make(
        error.status, error_body(error), http.Headers(headers.to_fields())
    )


def no_matching_api() -> GatewayError:
    """The `main` sequence's answer when no API matches the request."""
    return GatewayError(
        "404",
        "Not Found",
        "The requested resource is not available.",
        404,
        handler="main",
    )


def internal_error(flow_id: str) -> GatewayError:
    """The answer to an unexpected error inside the gateway; nothing is forwarded."""
    return GatewayError(
        "500",
        "Runtime Error",
        f"Unexpected error in the gateway; see its log for flow {flow_id}",
        500,
        handler="fault",
    )


def mediation_fault(message: str) -> GatewayError:
    """The `fault` sequence's answer to a failure inside a sequence."""
    return GatewayError("0", "Runtime Error", message, 500, handler="fault")
