"""Property look-ups by scope, as `get-property` and the `$scope:name` variables do them.

Facts from Synapse that this module follows:

- `get-property('name')` looks in the default scope, but a few names are answered by
  the engine before any user property: `SYSTEM_TIME` (epoch milliseconds), `To` (the
  request URI), `MessageID` and `MESSAGE_FORMAT` (always `pox` for a REST call).
- With two arguments, the first is a scope only when it is one of Synapse's scope
  words; otherwise the call means (name, date format) in the default scope.
- An absent property is null, which is not the empty string: a default-scope property
  set from null keeps its old value, and a transport header set from null is sent empty.
"""

from __future__ import annotations

import time
from typing import Any

from ..context import MessageContext

# Scope words `get-property` recognises as its first argument.
SCOPE_WORDS = frozenset(
    {"axis2", "operation", "default", "transport", "registry", "func", "system", "env", "file"}
)

# Scopes this gateway reads; the others are rejected when a sequence is loaded.
READABLE_SCOPES = frozenset({"default", "transport", "axis2", "operation"})

# Variable prefixes (`$ctx:name`) and the scope each one reads.
VARIABLE_SCOPES = {"ctx": "default", "trp": "transport", "axis2": "axis2", "operation": "operation"}


def _special_default(ctx: MessageContext, name: str) -> tuple[bool, Any]:
    if name == "SYSTEM_TIME":
        return True, str(int(time.time() * 1000))
    if name == "To":
        return True, ctx.to
    if name == "MessageID":
        return True, ctx.message_id
    if name == "MESSAGE_FORMAT":
        return True, "pox"
    return False, None


def get_property(ctx: MessageContext, scope: str, name: str) -> Any:
    """Return property `name` of `scope` as `get-property` does, or None when absent."""
    if not name:
        return ""
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
    raise ValueError(f"unsupported property scope {scope!r}")


def get_variable(ctx: MessageContext, scope: str, name: str) -> Any:
    """Return `$prefix:name` for the scope of `prefix`; unlike get-property, no special names."""
    if scope == "default":
        return ctx.properties.get(name)
    return get_property(ctx, scope, name)


def set_property(ctx: MessageContext, scope: str, name: str, value: Any) -> None:
    """Set property `name` of `scope` to `value` with Synapse's null rules."""
    if scope == "default":
        if value is not None:
            ctx.properties[name] = value
    elif scope == "transport":
        ctx.headers.set(name, "" if value is None else value)
    elif scope == "axis2":
        ctx.axis2[name] = value
    elif scope == "operation":
        ctx.operation[name] = value
    else:
        raise ValueError(f"unsupported property scope {scope!r}")


def remove_property(ctx: MessageContext, scope: str, name: str) -> None:
    """Remove property `name` of `scope`; removing the axis2 `TRANSPORT_HEADERS` drops all headers."""
    if scope == "default":
        ctx.properties.pop(name, None)
    elif scope == "transport":
        ctx.headers.remove(name)
    elif scope == "axis2":
        if name == "TRANSPORT_HEADERS":
            ctx.headers.clear()
        ctx.axis2.pop(name, None)
    elif scope == "operation":
        ctx.operation.pop(name, None)
    else:
        raise ValueError(f"unsupported property scope {scope!r}")
