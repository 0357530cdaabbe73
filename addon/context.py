"""The message context: what one flow carries through the pipeline.

It holds the properties of each Synapse scope, the transport headers, the request
line as the mediators see it, and the trace. Every stage writes what it decided to the
trace; the log, the flow comment and the dry-run output are all built from it.
"""

from __future__ import annotations

import functools

import itertools
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .headers import TransportHeaders
from .mediation.payload import Payload

_message_ids = itertools.count(1)

# Header names whose values are credentials; the trace shows them masked.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "apikey",
        "internal-key",
        "x-jwt-assertion",
        "custom",
    }
)


# Words in other header names that mark a credential, such as X-Api-Key or X-Auth-Token.
_SECRET_NAME_PARTS = re.compile(
    r"auth|token|secret|passw|api-?key|session|cookie|signature|credential",
    re.IGNORECASE,
)


# Credential headers that the loaded configs name (an API's auth_header and
# api_key_header, the backend JWT header), in lower case. Names are only ever added,
# so a header that was a credential under an earlier config stays masked.
_configured_secret_headers: set[str] = set()


def add_secret_headers(names: Iterable[str]) -> None:
    """Treat these header names as credentials too, whatever their spelling."""
    new = {name.lower() for name in names} - _configured_secret_headers
    if new:
        _configured_secret_headers.update(new)
        is_secret_header.cache_clear()


@functools.lru_cache(maxsize=1024)
def is_secret_header(name: str) -> bool:
    """Return whether the value of header `name` is a credential the trace must mask."""
    key = name.lower()
    return (
        key in SECRET_HEADERS
        or key in _configured_secret_headers
        or _SECRET_NAME_PARTS.search(name) is not None
    )


def mask(value: Any) -> str:
    """Return a form of a secret value that shows its shape but not its content."""
    if not isinstance(value, str):
        return repr(value)
    scheme, sep, rest = value.partition(" ")
    if sep and scheme.isalpha() and rest:
        return f"{scheme} ****"
    return "****" if value else ""


def shown(name: str, value: Any) -> str:
    """Return `value` as the trace shows it: masked when `name` is a secret header."""
    if is_secret_header(name):
        return mask(value)
    return value if isinstance(value, str) else repr(value)


@dataclass(slots=True)
class TraceStep:
    """One thing the gateway decided or changed while handling a flow."""

    stage: str
    summary: str
    file: str | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        step: dict[str, Any] = {"stage": self.stage, "summary": self.summary}
        if self.file is not None:
            step["file"] = self.file
            step["line"] = self.line
        return step


@dataclass(slots=True)
class MessageContext:
    """Properties by scope, transport headers and trace of one request."""

    headers: TransportHeaders
    method: str
    to: str
    properties: dict[str, Any] = field(default_factory=dict)
    axis2: dict[str, Any] = field(default_factory=dict)
    operation: dict[str, Any] = field(default_factory=dict)
    trace: list[TraceStep] = field(default_factory=list)
    message_id: str = ""
    started: float = 0.0
    payload: Payload = field(default_factory=Payload)
    # Synapse scopes a sequence can write but no gateway stage reads.
    client_options: dict[str, Any] = field(default_factory=dict)
    # WS-Addressing fields other than To (From, ReplyTo, FaultTo, Action, RelatesTo).
    addressing: dict[str, str] = field(default_factory=dict)
    # "request" or "response": which way the message is going.
    direction: str = "request"
    # Set when a mediator ends the flow: "respond", "drop", "loopback" or "send".
    action: str | None = None
    # The redacted trace steps last shown for this message and what they were built
    # from, so that the response hook reuses them when nothing changed since.
    shown_steps: Any = None

    def __post_init__(self) -> None:
        self.axis2["HTTP_METHOD"] = self.method
        self.message_id = f"urn:uuid:gateway-{next(_message_ids)}"
        self.started = time.time()

    def record(
        self, stage: str, summary: str, file: str | None = None, line: int | None = None
    ) -> None:
        """Append a step to the trace."""
        self.trace.append(TraceStep(stage, summary, file, line))
