"""Mediator objects: built once from a sequence file, run once per message.

`mediate` returns True to go on with the next mediator and False to stop the
sequence, as Synapse mediators do (respond, drop and loopback stop the flow).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..context import MessageContext, shown
from .expressions import Expression
from .properties import get_property, remove_property, set_property


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
        ctx.record("mediator", summary, self.file, self.line)


def _describe(scope: str, name: str, value: Any) -> str:
    if value is None:
        return "null"
    if scope == "transport":
        return repr(shown(name, value))
    return repr(value)


class PropertyMediator(Mediator):
    """`<property>`: set or remove a property of one scope."""

    __slots__ = ("name", "scope", "remove", "value", "expression")
    tag = "property"

    def __init__(
        self,
        file: str,
        line: int | None,
        *,
        name: str,
        scope: str,
        remove: bool,
        value: str | None,
        expression: Expression | None,
    ) -> None:
        super().__init__(file, line)
        self.name = name
        self.scope = scope
        self.remove = remove
        self.value = value
        self.expression = expression

    def mediate(self, ctx: MessageContext) -> bool:
        if self.remove:
            remove_property(ctx, self.scope, self.name)
            self.record(ctx, f"property {self.scope}:{self.name} removed")
            return True

        if self.expression is None:
            value: Any = self.value
        else:
            value = self.expression.evaluate(ctx)

        if value is None and self.scope == "default":
            kept = get_property(ctx, "default", self.name)
            self.record(
                ctx,
                f"property {self.name}: expression found nothing, "
                f"kept {_describe(self.scope, self.name, kept)}",
            )
            return True

        set_property(ctx, self.scope, self.name, value)
        written = "" if value is None and self.scope == "transport" else value
        self.record(
            ctx,
            f"property {self.scope}:{self.name} = "
            f"{_describe(self.scope, self.name, written)}",
        )
        return True


class Sequence(Mediator):
    """A named list of mediators, run in order until one stops the flow."""

    __slots__ = ("name", "mediators")
    tag = "sequence"

    def __init__(self, file: str, line: int | None, name: str, mediators: list[Mediator]):
        super().__init__(file, line)
        self.name = name
        self.mediators = tuple(mediators)

    def mediate(self, ctx: MessageContext) -> bool:
        self.record(ctx, f"sequence {self.name}")
        for mediator in self.mediators:
            if not mediator.mediate(ctx):
                return False
        return True
