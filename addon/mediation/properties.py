"""Property look-ups by scope, as `get-property` and the `$scope:name` variables do them.

Facts from Synapse that this module follows:

- `get-property('name')` looks in the default scope, but some names are answered by
  the engine before any user property: `SYSTEM_TIME` (epoch milliseconds),
  `SYSTEM_DATE` (the date, in a Java date pattern), `To` (the request URI), `From`,
  `ReplyTo`, `FaultTo`, `Action`, `RelatesTo`, `MessageID`, `FAULT` (`TRUE` when the
  payload is a SOAP fault) and `MESSAGE_FORMAT` (always `pox` for a REST call).
- With two arguments, the first is a scope only when it is one of Synapse's scope
  words; otherwise the call means (name, date pattern) in the default scope.
- An absent property is null, which is not the empty string: a default-scope property
  set from null keeps its old value, and a transport header set from null is sent empty.
  Absent `system` and `env` entries and absent `$url:` parameters read as "".
- Setting the axis2 property `messageType` also sets axis2 `ContentType` and replaces
  the `Content-Type` transport header; removing axis2 `TRANSPORT_HEADERS` drops every
  header.
- The `system` scope is one map for the whole process, like Java's system properties.
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import parse_qsl

from ..context import MessageContext
from .javadate import format_java_date

# Scope words `get-property` recognises as its first argument.
SCOPE_WORDS = frozenset(
    {
        "axis2",
        "operation",
        "default",
        "transport",
        "registry",
        "func",
        "system",
        "env",
        "file",
    }
)

# Scopes `get-property` can read here; `registry` and `file` are rejected at load.
READABLE_SCOPES = frozenset(
    {"default", "transport", "axis2", "operation", "system", "env", "func"}
)

# Scopes the property mediator can write. `registry` is rejected at load.
WRITABLE_SCOPES = (
    "default",
    "transport",
    "axis2",
    "axis2-client",
    "operation",
    "system",
    "trace",
    "analytics",
)

# Variable prefixes (`$ctx:name`) and the scope each one reads.
VARIABLE_SCOPES = {
    "ctx": "default",
    "trp": "transport",
    "axis2": "axis2",
    "operation": "operation",
    "url": "url",
    "sys": "system",
    "func": "func",
}

ADDRESSING_NAMES = ("From", "ReplyTo", "FaultTo", "Action", "RelatesTo")

# Java's system properties: one map for the whole process.
SYSTEM_PROPERTIES: dict[str, Any] = {}


def _special_default(ctx: MessageContext, name: str) -> tuple[bool, Any]:
    if name == "To":
        return True, ctx.to or ""
    if name in ADDRESSING_NAMES:
        return True, ctx.addressing.get(name, "")
    if name == "MessageID":
        return True, ctx.message_id
    if name == "MESSAGE_FORMAT":
        return True, "pox"
    if name == "FAULT":
        return True, "TRUE" if _is_fault(ctx) else ""
    return False, None


def _is_fault(ctx: MessageContext) -> bool:
    if ctx.payload.source == "raw":
        return False
    element = ctx.payload.body_element()
    return element is not None and element.tag.endswith("}Fault")


def get_property(
    ctx: MessageContext, scope: str, name: str, date_format: str | None = None
) -> Any:
    """Return property `name` of `scope` as `get-property` does, or None when absent."""
    if not name:
        return ""
    if name == "SYSTEM_TIME":
        return str(int(time.time() * 1000))
    if name == "SYSTEM_DATE":
        return format_java_date(date_format)
    if scope == "default":
        found, value = _special_default(ctx, name)
        if found:
            return value
        return ctx.properties.get(name)
    if scope == "transport":
        return ctx.headers.get(name)
    if scope == "axis2":
        return ctx.axis2.get(name)
    if scope == "operation":
        return ctx.operation.get(name)
    if scope == "system":
        return SYSTEM_PROPERTIES.get(name, "")
    if scope == "env":
        return os.environ.get(name, "")
    if scope == "func":
        return None
    raise ValueError(f"unsupported property scope {scope!r}")


def get_variable(ctx: MessageContext, scope: str, name: str) -> Any:
    """Return `$prefix:name`; unlike get-property, `$ctx:` knows no special names."""
    if scope == "default":
        return ctx.properties.get(name)
    if scope == "url":
        return query_parameter(ctx.to, name)
    if scope == "system":
        return SYSTEM_PROPERTIES.get(name, "")
    if scope == "func":
        return None
    return get_property(ctx, scope, name)


def query_parameter(uri: str | None, name: str) -> str:
    """Return query parameter `name` of `uri` (name matched without case), or ""."""
    if not uri or "?" not in uri:
        return ""
    query = uri.partition("?")[2]
    wanted = name.lower()
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower() == wanted:
            return value
    return ""


def set_property(ctx: MessageContext, scope: str, name: str, value: Any) -> None:
    """Set property `name` of `scope` to `value` with Synapse's null rules."""
    if scope == "default":
        if value is not None:
            ctx.properties[name] = value
    elif scope == "transport":
        ctx.headers.set(name, "" if value is None else value)
    elif scope == "axis2":
        ctx.axis2[name] = value
        if name == "messageType":
            ctx.axis2["ContentType"] = value
            ctx.headers.remove("Content-Type")
            ctx.headers.set("Content-Type", value)
    elif scope == "axis2-client":
        ctx.client_options[name] = value
    elif scope == "operation":
        ctx.operation[name] = value
    elif scope == "system":
        if value is not None:
            SYSTEM_PROPERTIES[name] = value
    elif scope in ("trace", "analytics"):
        return
    else:
        raise ValueError(f"unsupported property scope {scope!r}")


def remove_property(ctx: MessageContext, scope: str, name: str) -> None:
    """Remove property `name` of `scope`; axis2 `TRANSPORT_HEADERS` drops all headers."""
    if scope == "default":
        ctx.properties.pop(name, None)
    elif scope == "transport":
        ctx.headers.remove(name)
    elif scope == "axis2":
        if name == "TRANSPORT_HEADERS":
            ctx.headers.clear()
        ctx.axis2.pop(name, None)
    elif scope == "axis2-client":
        ctx.client_options[name] = None
    elif scope == "operation":
        ctx.operation.pop(name, None)
    elif scope in ("system", "trace", "analytics"):
        return
    else:
        raise ValueError(f"unsupported property scope {scope!r}")
