"""Answer a request locally, with the status, headers and body WSO2 4.x sends.

WSO2 builds its error responses in sequences (`_auth_failure_handler_`, `fault`,
`main`, ...) that run on the request's own message context, and so does this gateway:
a user changes an error response by editing the sequence file, as in WSO2. The
response therefore carries the request's transport headers, except the ones those
sequences remove (`Authorization`, `Host`, `Accept`, `X-JWT-Assertion`) and the ones
the transport itself owns. A client that sent `Custom: Bearer 1234` sees it again on
the 401.

What the gateway sets before the sequence runs, as WSO2's handlers do:

- authentication and throttling failures: ERROR_CODE, ERROR_MESSAGE, ERROR_DETAIL and
  HTTP_RESPONSE_STATUS_CODE, and `WWW-Authenticate` on a 401;
- everything the `fault` sequence answers: ERROR_CODE, ERROR_MESSAGE (the description,
  which `fault` shows as "description" under the fixed message "Runtime Error") and
  CUSTOM_HTTP_SC.

When the sequences cannot run (missing, broken, or failing), the answer is built here
from the same rules, so that even an internal error always gets its 500.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache

from mitmproxy import http

from .context import MessageContext
from .errors import ConfigError, GatewayError
from .headers import TransportHeaders
from .mediation.library import BUILTIN_FOLDER, SequenceLibrary
from .mediation.runner import TRANSPORT_OWNED, LocalResponse, finish

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/json; charset=UTF-8"

WWW_AUTHENTICATE = (
    'Internal API Key realm="WSO2 API Manager", Bearer realm="WSO2 API Manager", '
    'error="invalid_token", error_description="The provided token is invalid"'
)

# Handlers that get the auth-style properties; every other handler ends in `fault`.
_STATUS_PROPERTY_HANDLERS = ("_auth_failure_handler_", "_throttle_out_handler_")

# Removed by WSO2's error sequences before they answer.
_REMOVED_BY_SEQUENCE = ("Authorization", "Host", "Accept", "X-JWT-Assertion")


@lru_cache(maxsize=1)
def default_library() -> SequenceLibrary:
    """The sequences shipped with the gateway; raise ConfigError when they are broken."""
    library, errors = SequenceLibrary.load(BUILTIN_FOLDER)
    if errors:
        raise errors[0]
    return library


def error_body(error: GatewayError) -> bytes:
    """Return the JSON body WSO2's sequences build for `error` (the built-in fallback)."""
    if error.handler in _STATUS_PROPERTY_HANDLERS:
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
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def error_headers(
    request_headers: TransportHeaders, error: GatewayError
) -> TransportHeaders:
    """Return the response headers: the request's, cleaned as WSO2's sequences do."""
    headers = request_headers.copy()
    for name in _REMOVED_BY_SEQUENCE + TRANSPORT_OWNED:
        headers.remove(name, excess=True)
    if error.status == 401:
        headers.set("WWW-Authenticate", WWW_AUTHENTICATE)
    headers.set("Content-Type", CONTENT_TYPE)
    return headers


def builtin_response(
    request_headers: TransportHeaders, error: GatewayError
) -> http.Response:
    """Build the answer to `error` without running any sequence."""
    headers = error_headers(request_headers, error)
    return http.Response.make(
        error.status, error_body(error), http.Headers(headers.to_fields())
    )


def prepare_error_context(ctx: MessageContext, error: GatewayError) -> None:
    """Set the properties and headers WSO2's handlers set before the error sequence."""
    properties = ctx.properties
    properties["ERROR_CODE"] = error.code
    if error.handler in _STATUS_PROPERTY_HANDLERS:
        properties["ERROR_MESSAGE"] = error.message
        properties["ERROR_DETAIL"] = error.description
        properties["HTTP_RESPONSE_STATUS_CODE"] = error.status
    elif error.handler != "main":
        properties["ERROR_MESSAGE"] = error.description
        properties["ERROR_DETAIL"] = error.description
        properties["CUSTOM_HTTP_SC"] = error.status
    properties.update(error.properties)
    if error.status == 401:
        ctx.headers.set("WWW-Authenticate", WWW_AUTHENTICATE)
    for name, value in error.headers.items():
        ctx.headers.set(name, value)


def sequence_response(
    ctx: MessageContext, error: GatewayError, library: SequenceLibrary
) -> LocalResponse:
    """Run the sequence that answers `error` on `ctx` and return its response."""
    sequence = library.get(error.handler)
    if sequence is None:
        raise ConfigError(
            f"the sequence {error.handler!r} that answers this error is missing"
        )
    ctx.action = None
    prepare_error_context(ctx, error)
    sequence.mediate(ctx)
    return finish(ctx, library, None, error.handler, default_status=error.status)


def error_response(
    request_headers: TransportHeaders,
    error: GatewayError,
    *,
    ctx: MessageContext | None = None,
    sequences: SequenceLibrary | None = None,
) -> http.Response:
    """Build the mitmproxy response for `error` by running its sequence.

    `ctx` is the message context of the failed request (its properties reach the
    sequence, as CORS settings must); without it a context is made from the headers.
    `sequences` defaults to the sequences shipped with the gateway.
    """
    try:
        library = sequences if sequences is not None else default_library()
        if ctx is None:
            ctx = MessageContext(headers=request_headers, method="GET", to="")
        answer = sequence_response(ctx, error, library)
    except Exception:
        # The sequences are broken or failed: answer from the built-in rules instead.
        logger.exception(
            "gateway: the %s sequence failed; built-in answer sent", error.handler
        )
        return builtin_response(request_headers, error)
    return to_http(answer)


def to_http(answer: LocalResponse) -> http.Response:
    """Turn a LocalResponse into a mitmproxy response."""
    return http.Response.make(
        answer.status, answer.body, http.Headers(answer.headers.to_fields())
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


def backend_unreachable(detail: str) -> GatewayError:
    """The `fault` sequence's answer when the backend refuses the connection."""
    return GatewayError(
        "101503",
        "Runtime Error",
        "Error connecting to the back end",
        500,
        handler="fault",
        properties={"ERROR_DETAIL": detail},
    )
