"""Mediator objects: built once from a sequence file, run once per message.

`mediate` returns True to go on with the next mediator and False to stop the
sequence, as Synapse mediators do: respond, drop, loopback and send stop the flow, and
a filter, switch or sequence passes a stop on to its caller.

Trace lines show values as the trace and logs may: header values and properties named
like credentials, and any value that looks like `<scheme> <token>`, are masked.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from lxml import etree

from ..context import SECRET_HEADERS, MessageContext, TraceStep, mask
from .values import java_string

_TOKEN_LIKE = re.compile(r"(?i)(bearer|basic|digest|negotiate|apikey)\s+\S")
MAX_SHOWN = 120


def shown_value(name: str, value: Any) -> str:
    """Return `value` for a trace or log line, masked when it may be a credential."""
    if value is None:
        return "null"
    if type(value) is str:
        if name.lower() in SECRET_HEADERS or _TOKEN_LIKE.match(value):
            return mask(value)
        return repr(value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "...")
    if isinstance(value, etree._Element):
        text = etree.tostring(value, encoding="unicode", with_tail=False)
    else:
        text = java_string(value) or ""
    if name.lower() in SECRET_HEADERS or _TOKEN_LIKE.match(text):
        return mask(text)
    if len(text) > MAX_SHOWN:
        text = text[:MAX_SHOWN] + "..."
    return repr(text) if isinstance(value, str) else f"{text} ({type_name(value)})"


def type_name(value: Any) -> str:
    """Return the Synapse type name of a Python value."""
    from .values import JavaFloat, JsonValue

    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, JavaFloat):
        return "FLOAT"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, JsonValue):
        return "JSON"
    if isinstance(value, etree._Element):
        return "OM"
    return "STRING"


class Mediator:
    """One element of a sequence, with the file and line it came from."""

    __slots__ = ("file", "line")
    tag: ClassVar[str] = ""

    def __init__(self, file: str, line: int | None) -> None:
        self.file = file
        self.line = line

    def mediate(self, ctx: MessageContext) -> bool:
        raise NotImplementedError

    def record(self, ctx: MessageContext, summary: str) -> None:
        ctx.trace.append(TraceStep("mediator", summary, self.file, self.line))


def run_mediators(mediators: tuple[Mediator, ...], ctx: MessageContext) -> bool:
    """Run `mediators` in order; return False as soon as one stops the flow."""
    for mediator in mediators:
        if not mediator.mediate(ctx):
            return False
    return True


class Sequence(Mediator):
    """A named list of mediators, run in order until one stops the flow."""

    __slots__ = ("name", "mediators")
    tag = "sequence"

    def __init__(
        self, file: str, line: int | None, name: str, mediators: list[Mediator]
    ):
        super().__init__(file, line)
        self.name = name
        self.mediators = tuple(mediators)

    def mediate(self, ctx: MessageContext) -> bool:
        self.record(ctx, f"sequence {self.name}")
        return run_mediators(self.mediators, ctx)
