"""Run an API's sequences around one message and turn their outcome into HTTP.

Facts from Synapse and WSO2 API Manager this module follows:

- When the in-sequence stops the flow, `respond` answers the client with the current
  message: status from axis2 `HTTP_SC` (200 if unset or not a number), the headers
  still in the transport map, and the payload. `drop` in the request flow leaves the
  transport to acknowledge the request: 202 with no body. `loopback` turns the request
  into the response, which then goes through the API's out-sequence.
- A failure inside a sequence goes to the fault sequence. If ERROR_CODE is not set yet,
  Synapse sets ERROR_CODE=0, ERROR_MESSAGE to the failure message and ERROR_DETAIL to
  the details. An API's own fault sequence runs first; the default `fault` sequence
  runs after it unless it already answered, as WSO2 4.x appends `fault` to an API's
  fault policies.
- Properties of the default and operation scopes live from the request to its
  response; the response gets new transport headers, axis2 properties and payload.
- Headers the transport writes itself (Content-Length, Transfer-Encoding, Connection,
  Date, Server...) are never copied from the map; Content-Type follows `messageType`
  (with `; charset=UTF-8`) when the gateway built or converted the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import outcomes
from ..context import MessageContext
from ..errors import MediationFault
from ..headers import TransportHeaders
from .base import Sequence
from .payload import Payload, PayloadError, media_type

if TYPE_CHECKING:
    from .library import SequenceLibrary

# Framing and hop-by-hop headers: the transport writes its own.
TRANSPORT_OWNED = (
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
BODILESS_METHODS = ("GET", "HEAD")


@dataclass(slots=True)
class LocalResponse:
    """A response the gateway sends itself, built from a message context."""

    status: int
    headers: TransportHeaders
    body: bytes
    outcome: str


class Answered(Exception):
    """Raised when the sequences responded to the client; nothing goes to the backend."""

    def __init__(self, response: LocalResponse) -> None:
        super().__init__(response.outcome)
        self.response = response


def status_of(ctx: MessageContext, default: int) -> int:
    """Return axis2 HTTP_SC as a status code, or `default` when unset or not a number."""
    value = ctx.axis2.get("HTTP_SC")
    if value is None:
        return default
    try:
        status = int(str(value).strip())
    except ValueError:
        ctx.record("respond", f"HTTP_SC {value!r} is not a number: status {default}")
        return default
    if not 100 <= status <= 999:
        ctx.record(
            "respond", f"HTTP_SC {status} is not a valid status: status {default}"
        )
        return default
    return status


def body_changed(ctx: MessageContext) -> bool:
    """Whether the body must be written anew: a mediator changed it or `messageType`."""
    message_type = ctx.axis2.get("messageType")
    if ctx.payload.modified:
        return True
    return (
        isinstance(message_type, str)
        and media_type(message_type) != media_type(ctx.payload.content_type)
        and not ctx.payload.empty
    )


def content_type_of(ctx: MessageContext) -> str | None:
    """The Content-Type of a body the gateway wrote: messageType or ContentType + charset."""
    value = (
        ctx.axis2.get("ContentType")
        or ctx.axis2.get("messageType")
        or ctx.payload.content_type
    )
    if not isinstance(value, str) or not value:
        return None
    if "charset" not in value.lower():
        value = f"{value}; charset=UTF-8"
    return value


def serialized_body(ctx: MessageContext) -> bytes:
    """The body to send for `ctx`, converted as `messageType` asks."""
    message_type = ctx.axis2.get("messageType")
    try:
        return ctx.payload.serialize(
            message_type if isinstance(message_type, str) else None
        )
    except PayloadError as e:
        raise MediationFault(str(e)) from None


def response_parts(
    ctx: MessageContext, default_status: int, outcome: str
) -> LocalResponse:
    """Build the response that `respond` (or a fault sequence) sends for `ctx`."""
    status = status_of(ctx, default_status)
    for name, value in ctx.headers:
        if isinstance(value, str) and any(c in value for c in "\r\n\0"):
            # On the wire this would end the header early and inject others.
            raise MediationFault(f"Header {name} contains a line break or NUL character")
    headers = ctx.headers.copy()
    original_type = headers.get("Content-Type")
    for name in TRANSPORT_OWNED:
        headers.remove(name, excess=True)
    if ctx.axis2.get("NO_ENTITY_BODY") is True:
        return LocalResponse(status, headers, b"", outcome)
    if body_changed(ctx):
        body = serialized_body(ctx)
        content_type = content_type_of(ctx)
    else:
        body = ctx.payload.raw
        content_type = (
            original_type
            if isinstance(original_type, str)
            else ctx.payload.content_type
        )
    if body and content_type:
        headers.set("Content-Type", content_type)
    return LocalResponse(status, headers, body, outcome)


def drop_response(outcome: str = outcomes.DROPPED) -> LocalResponse:
    """Return the response the client gets when a request-flow sequence drops the message."""
    return LocalResponse(202, TransportHeaders(), b"", outcome)


def set_fault_properties(
    ctx: MessageContext, code: Any, message: str, detail: str | None = None
) -> None:
    """Set ERROR_CODE, ERROR_MESSAGE and ERROR_DETAIL as Synapse's fault handler does."""
    if ctx.properties.get("ERROR_CODE") is None:
        ctx.properties["ERROR_CODE"] = code
        ctx.properties["ERROR_MESSAGE"] = message
        ctx.properties["ERROR_DETAIL"] = detail if detail is not None else message
        ctx.properties["ERROR_EXCEPTION"] = message


def run_fault_sequences(
    ctx: MessageContext,
    library: SequenceLibrary,
    custom: Sequence | None,
    outcome: str = outcomes.MEDIATION_FAULT,
) -> LocalResponse:
    """Run the API's fault sequence (if any), then `fault`, and build the response."""
    ctx.action = None
    sequences = [custom] if custom is not None else []
    default = library.get("fault")
    if default is not None and default is not custom:
        sequences.append(default)
    for sequence in sequences:
        sequence.mediate(ctx)
        if ctx.action is not None:
            break
    return finish(ctx, library, None, outcome, default_status=500)


def finish(
    ctx: MessageContext,
    library: SequenceLibrary,
    out_sequence: Sequence | None,
    outcome: str,
    default_status: int = 200,
) -> LocalResponse:
    """Turn the action that stopped the flow into the response to send."""
    action = ctx.action
    if action == "drop":
        return drop_response()
    if action == "loopback":
        ctx.direction = "response"
        ctx.action = None
        if out_sequence is not None:
            out_sequence.mediate(ctx)
            if ctx.action == "drop":
                return drop_response()
        return response_parts(ctx, 200, outcomes.LOOPBACK)
    return response_parts(ctx, default_status, outcome)


def mediate_request(
    ctx: MessageContext,
    sequence: Sequence,
    library: SequenceLibrary,
    fault_sequence: Sequence | None,
    out_sequence: Sequence | None,
) -> None:
    """Run the in-sequence; raise Answered when it (or its fault handling) answers."""
    try:
        proceed = sequence.mediate(ctx)
    except MediationFault as e:
        location = f"{e.file}:{e.line}: " if e.file else ""
        ctx.record("mediation", f"fault: {location}{e.message}")
        set_fault_properties(ctx, 0, e.message, f"{location}{e.message}")
        raise Answered(run_fault_sequences(ctx, library, fault_sequence)) from e
    if not proceed and ctx.action is not None:
        raise Answered(finish(ctx, library, out_sequence, outcomes.RESPONDED))


def start_response(
    ctx: MessageContext, status: int, fields: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """Turn `ctx` into the response's context: new headers, axis2 properties and payload."""
    ctx.direction = "response"
    ctx.action = None
    ctx.headers = TransportHeaders.from_fields(fields)
    ctx.axis2 = {"HTTP_SC": status}
    content_type = ctx.headers.get("Content-Type")
    ctx.payload = Payload(body, content_type if isinstance(content_type, str) else None)


def mediate_response(
    ctx: MessageContext,
    sequence: Sequence,
    library: SequenceLibrary,
    fault_sequence: Sequence | None,
) -> LocalResponse | None:
    """Run the out-sequence on the backend's response.

    Returns a response to send instead of the backend's (after a fault, or when the
    sequence dropped the message: status 0), or None to send the mediated response.
    """
    try:
        sequence.mediate(ctx)
    except MediationFault as e:
        location = f"{e.file}:{e.line}: " if e.file else ""
        ctx.record("mediation", f"fault: {location}{e.message}")
        set_fault_properties(ctx, 0, e.message, f"{location}{e.message}")
        return run_fault_sequences(ctx, library, fault_sequence)
    if ctx.action == "drop":
        return LocalResponse(0, TransportHeaders(), b"", outcomes.DROPPED)
    return None
