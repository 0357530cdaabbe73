"""Build the responses the gateway sends itself, with WSO2's status, headers and body.

WSO2 builds its error responses in sequences (`_auth_failure_handler_`, `fault`,
`main`, ...) that run on the request's own message context, and so does this gateway
in the 4.x profile: a user changes an error response by editing the sequence file, as
in WSO2. The response therefore carries the request's transport headers, except the
ones those sequences remove (`Authorization`, `Host`, `Accept`, `X-JWT-Assertion`) and
the ones the transport itself owns. A client that sent `Custom: Bearer 1234` sees it
again on the 401.

What the gateway sets before the sequence runs, as WSO2's handlers do:

- authentication and throttling failures: ERROR_CODE, ERROR_MESSAGE, ERROR_DETAIL and
  HTTP_RESPONSE_STATUS_CODE, and `WWW-Authenticate` on a 401;
- everything the `fault` sequence answers: ERROR_CODE, ERROR_MESSAGE (the description,
  which `fault` shows as "description" under the fixed message "Runtime Error") and
  CUSTOM_HTTP_SC.

Body shapes of 4.x: authentication failures
`{"code":"900901","message":"...","description":"..."}` with the code a JSON string;
throttling the same plus `"nextAccessTime"`; everything else (`fault`, `main`) the same
plus `"type":"Status report"`.

The 3.x profile (`gateway_wso2_version=3.x`) answers as API-M 3.2 did, built here
rather than by the shipped 4.x sequences: XML faults (`ams:fault` for authentication,
`amt:fault` for throttling, `am:fault` otherwise) with numeric codes, JSON
(`{"fault":{...}}`) only when the request's `Accept` asks for it, the 3.x
`WWW-Authenticate` text, and no `nextAccessTime` suffix in the description.

When the sequences cannot run (missing, broken, or failing), the answer is built here
from the same rules, so that even an internal error always gets its 500.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from xml.sax.saxutils import escape

from mitmproxy import http

from .context import MessageContext
from .cors import apply_cors_sequence
from .errors import ConfigError, GatewayError
from .headers import TransportHeaders
from .mediation.library import BUILTIN_FOLDER, SequenceLibrary
from .mediation.base import Sequence
from .mediation.runner import TRANSPORT_OWNED, LocalResponse, finish, run_fault_sequences

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/json; charset=UTF-8"

WWW_AUTHENTICATE = (
    'Internal API Key realm="WSO2 API Manager", Bearer realm="WSO2 API Manager", '
    'error="invalid_token", error_description="The provided token is invalid"'
)
# The error text of the challenge per profile. Until April 2021 (3.x) the text
# described an expired token.
CHALLENGE_ERRORS = {
    "4.x": 'error="invalid_token", error_description="The provided token is invalid"',
    "3.x": 'error="invalid_token", error_description="The access token expired"',
}

# Handlers that get the auth-style properties; every other handler ends in `fault`.
_STATUS_PROPERTY_HANDLERS = ("_auth_failure_handler_", "_throttle_out_handler_")

# Sequences that end by running `_cors_request_handler_`.
_CORS_HANDLERS = ("_auth_failure_handler_", "_throttle_out_handler_")
_AUTH_NS = "http://wso2.org/apimanager/security"
_THROTTLE_NS = "http://wso2.org/apimanager/throttling"
_FAULT_NS = "http://wso2.org/apimanager"

# 3.x picked the content type of an auth failure from the request's Accept among these.
_ACCEPTED_3X = (
    "application/json",
    "application/xml",
    "text/xml",
    "application/soap+xml",
    "text/plain",
    "text/html",
    "text/javascript",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
)

# Removed by WSO2's error sequences before they respond.
_REMOVED_BY_SEQUENCE = ("Authorization", "Host", "Accept", "X-JWT-Assertion")

def error_body(error: GatewayError, properties: dict[str, Any] | None = None) -> bytes:
    """Return the JSON body WSO2's fault sequence builds for `error`."""
    if error.handler == "_throttle_out_handler_":
        payload = {
            "code": error.code,
            "message": error.message,
            "description": error.description,
        }
        next_access = (properties or {}).get("NEXT_ACCESS_UTC_TIME")
        if next_access:
            payload["nextAccessTime"] = next_access
    elif error.handler == "_auth_failure_handler_":
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


def www_authenticate(error: GatewayError, profile: str = "4.x") -> str | None:
    """Return the `WWW-Authenticate` value of an authentication failure's 401, or None.

    The realms are those of the API's authenticators; the error text is the profile's.
    """
    if error.status != 401 or error.handler != "_auth_failure_handler_":
        return None
    challenges = getattr(error, "challenges", ())
    if challenges:
        return ", ".join(challenges) + ", " + CHALLENGE_ERRORS[profile]
    if profile == "3.x":
        realms = WWW_AUTHENTICATE.rsplit(", error=", 1)[0]
        return f"{realms}, {CHALLENGE_ERRORS['3.x']}"
    return WWW_AUTHENTICATE


def error_headers(
    request_headers: TransportHeaders,
    error: GatewayError,
    properties: dict[str, Any] | None = None,
    method: str = "GET",
    profile: str = "4.x",
) -> TransportHeaders:
    """Return the response headers: the request's, cleaned as WSO2's sequences do."""
    headers = request_headers.copy()
    for name in _REMOVED_BY_SEQUENCE + TRANSPORT_OWNED:
        headers.remove(name, excess=True)
    dropped = headers.drop_unsafe()
    if dropped:
        logger.warning(
            "gateway: headers %s hold CR, LF or NUL; left out of the error response",
            ", ".join(dropped),
        )
    if profile == "3.x" and error.handler == "main":
        headers.clear()
    challenge = www_authenticate(error, profile)
    if challenge:
        headers.set("WWW-Authenticate", challenge)
    if properties and error.handler in _CORS_HANDLERS:
        apply_cors_sequence(properties, headers, method)
    headers.set("Content-Type", CONTENT_TYPE)
    return headers


def builtin_response(
    request_headers: TransportHeaders,
    error: GatewayError,
    properties: dict[str, Any] | None = None,
    method: str = "GET",
    profile: str = "4.x",
) -> http.Response:
    """Build the response to `error` without running any sequence.

    `properties` are the message context's: the CORS values and the throttling next
    access time come from there, as WSO2's sequences read them.
    """
    headers = error_headers(request_headers, error, properties, method, profile)
    if profile == "3.x":
        content_type, body = legacy_body(request_headers, error, properties, method)
        headers.set("Content-Type", content_type)
    else:
        body = error_body(error, properties)
    return make_response(error.status, body, headers)


@lru_cache(maxsize=1)
def default_library() -> SequenceLibrary:
    """Return the sequences shipped with the gateway; raise ConfigError when they are broken."""
    library, errors = SequenceLibrary.load(BUILTIN_FOLDER)
    if errors:
        raise errors[0]
    return library


def prepare_error_context(ctx: MessageContext, error: GatewayError, profile: str = "4.x") -> None:
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
    challenge = www_authenticate(error, profile)
    if challenge:
        ctx.headers.set("WWW-Authenticate", challenge)
    for name, value in error.headers.items():
        ctx.headers.set(name, value)


def sequence_response(
    ctx: MessageContext, error: GatewayError, library: SequenceLibrary, profile: str = "4.x"
) -> LocalResponse:
    """Run the sequence that builds the response to `error` on `ctx`; return the response."""
    sequence = library.get(error.handler)
    if sequence is None:
        raise ConfigError(
            f"the sequence {error.handler!r} that builds the response to this error is missing"
        )
    ctx.action = None
    prepare_error_context(ctx, error, profile)
    sequence.mediate(ctx)
    return finish(ctx, library, None, error.handler, default_status=error.status)


def error_response(
    request_headers: TransportHeaders,
    error: GatewayError,
    *,
    ctx: MessageContext | None = None,
    sequences: SequenceLibrary | None = None,
    method: str = "GET",
    profile: str = "4.x",
    fault_sequence: Sequence | None = None,
) -> http.Response:
    """Build the mitmproxy response for `error`.

    In the 4.x profile the response comes from running the error's sequence. `ctx` is
    the message context of the failed request: its properties reach the sequence, as
    CORS settings and the throttling next access time must. Without it a context is
    made from the headers. `sequences` defaults to the sequences shipped with the
    gateway. The 3.x profile builds its responses here. `fault_sequence` is the API's
    own fault sequence: as on WSO2, a failure that `fault` answers runs it first.
    """
    properties = ctx.properties if ctx is not None else None
    if ctx is not None:
        method = ctx.method
    if profile == "3.x":
        return builtin_response(request_headers, error, properties, method, profile)
    try:
        library = sequences if sequences is not None else default_library()
        if ctx is None:
            ctx = MessageContext(headers=request_headers.copy(), method=method, to="")
        if error.handler == "fault" and fault_sequence is not None:
            ctx.action = None
            prepare_error_context(ctx, error, profile)
            answer = run_fault_sequences(ctx, library, fault_sequence)
        else:
            answer = sequence_response(ctx, error, library, profile)
    except Exception:
        # The sequences are broken or failed: answer from the built-in rules instead.
        logger.exception(
            "gateway: the %s sequence failed; sent the built-in response instead", error.handler
        )
        return builtin_response(request_headers, error, properties, method, profile)
    return to_http(answer)


def to_http(answer: LocalResponse) -> http.Response:
    """Turn a LocalResponse into a mitmproxy response."""
    return make_response(answer.status, answer.body, answer.headers)


def reason_phrase(status: int) -> str:
    """Return the standard reason phrase of `status`, or "" for an unregistered code.

    mitmproxy's table lacks some codes, 429 and 431 among them, and an empty phrase
    would go out as `HTTP/1.1 429 `.
    """
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def make_response(status: int, body: bytes, headers: TransportHeaders) -> http.Response:
    """Build a mitmproxy response with the standard reason phrase of `status`."""
    response = http.Response.make(status, body, http.Headers(headers.to_fields()))
    response.reason = reason_phrase(status) or response.reason
    return response


def backend_unreachable(detail: str) -> GatewayError:
    """Return the error that `fault` turns into its response to a refused backend connection."""
    return GatewayError(
        "101503",
        "Runtime Error",
        "Error connecting to the back end",
        500,
        handler="fault",
        properties={"ERROR_DETAIL": detail},
    )


def _accepted_type(request_headers: TransportHeaders) -> str | None:
    accept = request_headers.get("Accept")
    if not isinstance(accept, str):
        return None
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media in _ACCEPTED_3X:
            return media
    return None


def legacy_body(
    request_headers: TransportHeaders,
    error: GatewayError,
    properties: dict[str, Any] | None,
    method: str,
) -> tuple[str, bytes]:
    """Return the content type and body API-M 3.x sent for `error`."""
    code: Any = int(error.code) if error.code.isdigit() else error.code
    if error.handler in ("_auth_failure_handler_", "_throttle_out_handler_"):
        throttle = error.handler == "_throttle_out_handler_"
        prefix, namespace = ("amt", _THROTTLE_NS) if throttle else ("ams", _AUTH_NS)
        description = error.description
        fields = {"code": code, "message": error.message}
        next_access = (properties or {}).get("NEXT_ACCESS_UTC_TIME") if throttle else None
        if throttle:
            description = description.split(" .You can access API after ")[0]
        fields["description"] = description
        if next_access:
            fields["nextAccessTime"] = next_access
        content_type = _accepted_type(request_headers) or "application/xml"
    else:
        prefix, namespace = "am", _FAULT_NS
        message = "Not Found" if error.handler == "main" else "Runtime Error"
        description = error.description
        if error.handler == "main":
            path = str((properties or {}).get("REST_FULL_REQUEST_PATH", ""))
            description = f"The requested resource ({path}) is not available."
        fields = {"code": code, "type": "Status report", "message": message, "description": description}
        request_type = request_headers.get("Content-Type")
        content_type = "application/xml"
        if method in ("POST", "PUT") and isinstance(request_type, str) and "json" in request_type:
            content_type = "application/json"
    if content_type in ("application/json", "text/javascript"):
        payload = {"fault": fields}
        return content_type, json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    inner = "".join(
        f"<{prefix}:{name}>{escape(str(value))}</{prefix}:{name}>" for name, value in fields.items()
    )
    xml = f'<{prefix}:fault xmlns:{prefix}="{namespace}">{inner}</{prefix}:fault>'
    return content_type, xml.encode("utf-8")


def preflight_response(
    request_headers: TransportHeaders, properties: dict[str, Any]
) -> http.Response:
    """The 200 the CORS handler sends for a preflight: the request's headers and CORS."""
    headers = request_headers.copy()
    for name in ("Host",) + TRANSPORT_OWNED:
        headers.remove(name, excess=True)
    headers.drop_unsafe()
    apply_cors_sequence(properties, headers, "OPTIONS")
    return make_response(200, b"", headers)


def no_matching_api() -> GatewayError:
    """Return the error that `main` turns into its 404 when no API matches the request."""
    return GatewayError(
        "404",
        "Not Found",
        "The requested resource is not available.",
        404,
        handler="main",
    )


def internal_error(flow_id: str) -> GatewayError:
    """Return the 500 error for an unexpected failure inside the gateway; nothing is forwarded."""
    return GatewayError(
        "500",
        "Runtime Error",
        f"Unexpected error in the gateway; see its log for flow {flow_id}",
        500,
        handler="fault",
    )


def mediation_fault(message: str) -> GatewayError:
    """Return the error that `fault` turns into its response to a failure inside a sequence."""
    return GatewayError("0", "Runtime Error", message, 500, handler="fault")
