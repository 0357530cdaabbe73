"""Flow mediators: filter, switch, sequence, respond, drop, loopback and send.

Facts from Synapse's FilterMediator, SwitchMediator, SequenceMediator and their
factories:

- `filter` takes either `xpath` (the boolean value of the expression; a `json-eval`
  condition holds only when it yields the string `true`) or `source` with `regex`, a
  Java regex that must match the whole string; a null source never matches. Its body is
  either direct children, run when the condition holds, or `<then>` and `<else>`, each of
  which may name a sequence with `sequence="key"` instead.
- `switch` runs the first `<case regex>` that matches the whole source, else
  `<default>`; a null source goes to `<default>`.
- `<sequence key="name"/>` runs a named sequence on the same message; a key in braces
  is evaluated per message; an unknown key is a mediation fault. A nested `<sequence>`
  without key is an inline sequence.
- `respond` answers the client with the current message; `drop` ends the flow (in the
  request flow the client gets 202 with no body); `loopback` turns the request into the
  response and runs the response path. A stop inside any branch stops the caller.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from lxml import etree

from ..context import MessageContext
from ..errors import MediationFault
from .base import Mediator, Sequence, run_mediators
from .builder import (
    Source,
    build_mediators,
    builds,
    check_attributes,
    check_no_text,
    child_elements,
    dynamic_key,
    local_name,
    require,
    synapse_name,
)
from .expressions import Expression
from .mediators import compile_java_regex

if TYPE_CHECKING:
    from .library import SequenceLibrary

MAX_SEQUENCE_DEPTH = 50

_depth = threading.local()


class Branch:
    """The mediators of a then/else/case branch, or the sequence it names."""

    __slots__ = ("mediators", "reference")

    def __init__(
        self, mediators: list[Mediator], reference: SequenceReference | None = None
    ):
        self.mediators = tuple(mediators)
        self.reference = reference

    def run(self, ctx: MessageContext) -> bool:
        if self.reference is not None:
            return self.reference.mediate(ctx)
        return run_mediators(self.mediators, ctx)


class FilterMediator(Mediator):
    """`<filter>`: run `then` when the condition holds, else `else`."""

    __slots__ = ("source", "regex", "xpath", "then", "otherwise", "condition")
    tag = "filter"

    def __init__(
        self,
        file: str,
        line: int | None,
        *,
        source: Expression | None,
        regex: re.Pattern[str] | None,
        xpath: Expression | None,
        then: Branch,
        otherwise: Branch | None,
    ) -> None:
        super().__init__(file, line)
        self.source = source
        self.regex = regex
        self.xpath = xpath
        self.then = then
        self.otherwise = otherwise
        if xpath is not None:
            self.condition = xpath.source
        else:
            assert source is not None and regex is not None
            self.condition = f"{source.source} ~ {regex.pattern}"

    def test(self, ctx: MessageContext) -> bool:
        if self.xpath is not None:
            return self.xpath.test(ctx)
        assert self.source is not None and self.regex is not None
        text = self.source.evaluate(ctx)
        return text is not None and self.regex.fullmatch(text) is not None

    def mediate(self, ctx: MessageContext) -> bool:
        holds = self.test(ctx)
        self.record(ctx, f"filter {self.condition}: {'then' if holds else 'else'}")
        if holds:
            return self.then.run(ctx)
        if self.otherwise is not None:
            return self.otherwise.run(ctx)
        return True


def _branch(element: etree._Element, source: Source) -> Branch:
    check_attributes(element, ("sequence",), source, local_name(element))
    key = element.get("sequence")
    if key is not None:
        if child_elements(element):
            raise source.error(
                element, f"<{local_name(element)} sequence=...> must be empty"
            )
        return Branch(
            [],
            SequenceReference(
                source.file, element.sourceline, key, None, source.library
            ),
        )
    return Branch(build_mediators(element, source))


@builds("filter")
def build_filter(element: etree._Element, source: Source) -> Mediator:
    check_attributes(
        element, ("source", "regex", "xpath", "description"), source, "filter"
    )
    xpath = None
    source_expression = None
    regex = None
    if element.get("xpath") is not None:
        if element.get("source") is not None or element.get("regex") is not None:
            raise source.error(
                element, "<filter> takes either xpath or source and regex, not both"
            )
        xpath = source.expression(element, "xpath")
    else:
        if element.get("source") is None or element.get("regex") is None:
            raise source.error(
                element, "<filter> needs an xpath attribute, or both source and regex"
            )
        source_expression = source.expression(element, "source")
        pattern = element.get("regex", "")
        if not pattern:
            raise source.error(element, "<filter> needs a non-empty regex")
        regex = compile_java_regex(pattern, element, source, "regex")
    children = child_elements(element)
    names = [synapse_name(child, source) for child in children]
    if "then" in names or "else" in names:
        if (
            any(name not in ("then", "else") for name in names)
            or names.count("then") != 1
            or names.count("else") > 1
        ):
            raise source.error(
                element,
                "<filter> holds either mediators or one <then> and an optional <else>",
            )
        check_no_text(element, source)
        then = _branch(children[names.index("then")], source)
        otherwise = (
            _branch(children[names.index("else")], source) if "else" in names else None
        )
    else:
        then = Branch(build_mediators(element, source))
        otherwise = None
    return FilterMediator(
        source.file,
        element.sourceline,
        source=source_expression,
        regex=regex,
        xpath=xpath,
        then=then,
        otherwise=otherwise,
    )


class SwitchMediator(Mediator):
    """`<switch>`: run the first case whose regex matches the whole source."""

    __slots__ = ("source", "cases", "default")
    tag = "switch"

    def __init__(
        self,
        file: str,
        line: int | None,
        source: Expression,
        cases: list[tuple[re.Pattern[str], Branch]],
        default: Branch | None,
    ) -> None:
        super().__init__(file, line)
        self.source = source
        self.cases = tuple(cases)
        self.default = default

    def mediate(self, ctx: MessageContext) -> bool:
        text = self.source.evaluate(ctx)
        if text is not None:
            for regex, branch in self.cases:
                if regex.fullmatch(text) is not None:
                    self.record(
                        ctx, f"switch {self.source.source}: case {regex.pattern}"
                    )
                    return branch.run(ctx)
        if self.default is not None:
            self.record(ctx, f"switch {self.source.source}: default")
            return self.default.run(ctx)
        self.record(ctx, f"switch {self.source.source}: no case matched")
        return True


@builds("switch")
def build_switch(element: etree._Element, source: Source) -> Mediator:
    check_attributes(element, ("source", "description"), source, "switch")
    expression = source.expression(element, "source")
    cases = []
    default = None
    for child in child_elements(element):
        name = synapse_name(child, source)
        if name == "case":
            check_attributes(child, ("regex",), source, "case")
            pattern = require(child, "regex", source)
            cases.append(
                (
                    compile_java_regex(pattern, child, source, "regex"),
                    Branch(build_mediators(child, source)),
                )
            )
        elif name == "default":
            if default is not None:
                raise source.error(child, "<switch> may have only one <default>")
            check_attributes(child, (), source, "default")
            default = Branch(build_mediators(child, source))
        else:
            raise source.error(
                child, f"<switch> may hold only <case> and <default>, not <{name}>"
            )
    check_no_text(element, source)
    return SwitchMediator(source.file, element.sourceline, expression, cases, default)


class SequenceReference(Mediator):
    """`<sequence key="..."/>`: run a named sequence, found when the message runs."""

    __slots__ = ("key", "expression", "library")
    tag = "sequence"

    def __init__(
        self,
        file: str,
        line: int | None,
        key: str,
        expression: Expression | None,
        library: SequenceLibrary | None,
    ) -> None:
        super().__init__(file, line)
        self.key = key
        self.expression = expression
        self.library = library

    def resolve(self, ctx: MessageContext) -> Sequence:
        key = self.key if self.expression is None else self.expression.evaluate(ctx)
        sequence = self.library.get(key) if self.library is not None and key else None
        if sequence is None:
            raise MediationFault(f"Sequence named {key} cannot be found")
        return sequence

    def mediate(self, ctx: MessageContext) -> bool:
        sequence = self.resolve(ctx)
        depth = getattr(_depth, "value", 0)
        if depth >= MAX_SEQUENCE_DEPTH:
            raise MediationFault(
                f"sequences call each other more than {MAX_SEQUENCE_DEPTH} levels deep "
                f"(at {sequence.name})"
            )
        _depth.value = depth + 1
        try:
            return sequence.mediate(ctx)
        finally:
            _depth.value = depth


class InlineSequence(Mediator):
    """A nested `<sequence>` without key: its mediators, run in place."""

    __slots__ = ("mediators",)
    tag = "sequence"

    def __init__(self, file: str, line: int | None, mediators: list[Mediator]) -> None:
        super().__init__(file, line)
        self.mediators = tuple(mediators)

    def mediate(self, ctx: MessageContext) -> bool:
        return run_mediators(self.mediators, ctx)


@builds("sequence")
def build_sequence_mediator(element: etree._Element, source: Source) -> Mediator:
    check_attributes(element, ("key", "name", "description"), source, "sequence")
    key = element.get("key")
    if key is None:
        return InlineSequence(
            source.file, element.sourceline, build_mediators(element, source)
        )
    if child_elements(element):
        raise source.error(element, "<sequence key=...> must be empty")
    inner = dynamic_key(key)
    expression = source.expression(element, "key", inner) if inner is not None else None
    return SequenceReference(
        source.file, element.sourceline, key, expression, source.library
    )


class Stop(Mediator):
    """`respond`, `drop` and `loopback`: end the flow with that action."""

    __slots__ = ("action",)

    def __init__(self, file: str, line: int | None, action: str) -> None:
        super().__init__(file, line)
        self.action = action

    def mediate(self, ctx: MessageContext) -> bool:
        ctx.action = self.action
        self.record(ctx, self.action)
        return False


def _build_stop(action: str):
    def build(element: etree._Element, source: Source) -> Mediator:
        check_attributes(element, ("description",), source, action)
        if child_elements(element):
            raise source.error(element, f"<{action}> takes no child elements")
        return Stop(source.file, element.sourceline, action)

    return build


for _action in ("respond", "drop", "loopback"):
    builds(_action)(_build_stop(_action))


class SendToClient(Mediator):
    """A bare `<send/>`: answers the client when the message is a response.

    WSO2's own fault sequences end with `<send/>` after setting RESPONSE=true; that is
    the only use it has in a sequence here. Sending a request onwards is the gateway's
    job after the in-sequence, so a `<send/>` on a request is a mediation fault.
    """

    __slots__ = ()
    tag = "send"

    def mediate(self, ctx: MessageContext) -> bool:
        if ctx.direction != "response" and ctx.properties.get("RESPONSE") != "true":
            raise MediationFault(
                "<send/> in a request sequence is not supported: the gateway sends the "
                "request to the API endpoint after the sequence"
            )
        ctx.action = "respond"
        self.record(ctx, "send (to the client)")
        return False


@builds("send")
def build_send(element: etree._Element, source: Source) -> Mediator:
    if set(element.attrib.keys()) - {"description"} or child_elements(element):
        raise source.error(
            element,
            "mediator <send> with an endpoint or options is not supported: the gateway "
            "sends the request to the API endpoint after the in-sequence",
            hint="use <respond/> to answer the client; a bare <send/> is accepted in fault "
            "and out sequences",
        )
    return SendToClient(source.file, element.sourceline)
