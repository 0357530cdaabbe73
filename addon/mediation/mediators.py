"""The property, propertyGroup and header mediators.

Facts from Synapse's PropertyMediator and its factory:

- `value` wins over an inline XML child, which wins over `expression`.
- A literal is converted to `type` once, at load (a bad literal is a load error); an
  expression result is converted per message (a bad value is a mediation fault).
- `pattern` is a Java regex that must match the whole string result; the result is then
  group `group` (default 0), and no match gives "".
- A name in braces (`name="{$ctx:which}"`) is evaluated per message.
- Scopes `synapse` and `env` are not accepted; `registry` needs WSO2's registry.

Facts from Synapse's HeaderMediator and its factory: with `scope="transport"` it sets
or removes an HTTP header; without it the name must be a WS-Addressing name (`To`,
`From`, `Action`, `FaultTo`, `ReplyTo`, `RelatesTo`) or a prefixed SOAP header name, so
`<header name="X-Foo" value="1"/>` is a load error. A header set from null is sent empty.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from lxml import etree

from ..context import MessageContext
from ..errors import MediationFault
from .base import Mediator, Sequence, run_mediators, shown_value
from .builder import (
    Source,
    attribute_choice,
    builds,
    check_attributes,
    child_elements,
    dynamic_key,
    local_name,
    require,
    synapse_name,
)
from .expressions import Expression
from .payload import soap_part
from .properties import ADDRESSING_NAMES, WRITABLE_SCOPES, remove_property, set_property
from .values import DATA_TYPES, ConversionError, convert

__all__ = [
    "HeaderMediator",
    "Mediator",
    "PropertyGroup",
    "PropertyMediator",
    "Sequence",
]

_UNSET = object()


class PropertyMediator(Mediator):
    """`<property>`: set or remove a property of one scope."""

    __slots__ = (
        "name",
        "name_expression",
        "scope",
        "remove",
        "value",
        "expression",
        "data_type",
        "pattern",
        "group",
    )
    tag = "property"

    def __init__(
        self,
        file: str,
        line: int | None,
        *,
        name: str,
        scope: str,
        remove: bool,
        value: Any = _UNSET,
        expression: Expression | None = None,
        name_expression: Expression | None = None,
        data_type: str = "STRING",
        pattern: re.Pattern[str] | None = None,
        group: int = 0,
    ) -> None:
        super().__init__(file, line)
        self.name = name
        self.name_expression = name_expression
        self.scope = scope
        self.remove = remove
        self.value = value
        self.expression = expression
        self.data_type = data_type
        self.pattern = pattern
        self.group = group

    def _dynamic_name(self, ctx: MessageContext) -> str:
        assert self.name_expression is not None
        name = self.name_expression.evaluate(ctx)
        if not name:
            raise MediationFault(f"the property name {self.name} evaluated to nothing")
        return name

    def _evaluate(self, ctx: MessageContext, name: str) -> Any:
        assert self.expression is not None
        text = self.expression.evaluate(ctx)
        if self.data_type == "STRING":
            return text
        try:
            return convert(text, self.data_type, from_expression=True)
        except ConversionError as e:
            raise MediationFault(f"property {name}: {e}") from None

    def mediate(self, ctx: MessageContext) -> bool:
        name = self.name if self.name_expression is None else self._dynamic_name(ctx)
        scope = self.scope
        if self.remove:
            remove_property(ctx, scope, name)
            self.record(ctx, f"property {scope}:{name} removed")
            return True

        value = self.value
        if value is _UNSET:
            value = self._evaluate(ctx, name)
        elif isinstance(value, etree._Element):
            value = copy.deepcopy(value)
        if self.pattern is not None and isinstance(value, str):
            value = _matched(self.pattern, self.group, value)

        if value is None and scope == "default":
            kept = ctx.properties.get(name)
            self.record(
                ctx,
                f"property {name}: expression found nothing, kept {shown_value(name, kept)}",
            )
            return True

        set_property(ctx, scope, name, value)
        if scope == "transport":
            if value is None:
                value = ""
            elif not isinstance(value, str):
                self.record(
                    ctx,
                    f"property transport:{name} = {shown_value(name, value)} "
                    "(not a string: not sent)",
                )
                return True
        self.record(ctx, f"property {scope}:{name} = {shown_value(name, value)}")
        return True


def _matched(pattern: re.Pattern[str], group: int, text: str) -> str:
    match = pattern.fullmatch(text)
    if match is None or group > (pattern.groups or 0):
        return ""
    return match.group(group) or ""


def compile_java_regex(
    text: str, element: etree._Element, source: Source, what: str
) -> re.Pattern[str]:
    """Compile a Java regex with Python's engine; reject what Python cannot read."""
    try:
        return re.compile(text)
    except re.error as e:
        raise source.error(
            element,
            f"{what} {text!r} is not a valid regular expression here: {e}",
            hint="Java-only syntax such as possessive quantifiers or \\p{...} is not supported",
        ) from None


@builds("property")
def build_property(element: etree._Element, source: Source) -> Mediator:
    check_attributes(
        element,
        (
            "name",
            "value",
            "expression",
            "scope",
            "action",
            "type",
            "pattern",
            "group",
            "description",
        ),
        source,
        "property",
    )
    name = require(element, "name", source)
    name_expression = None
    inner = dynamic_key(name)
    if inner is not None:
        name_expression = source.expression(element, "name", inner)

    scope = element.get("scope", "default")
    if scope in ("synapse", "env"):
        raise source.error(
            element,
            f"property scope {scope!r} is not valid in Synapse",
            hint='use scope="default" (the scope the docs call synapse)',
        )
    if scope == "registry":
        raise source.error(
            element,
            "property scope 'registry' needs WSO2's registry, which this gateway does not have",
            hint="use the default or operation scope",
        )
    if scope not in WRITABLE_SCOPES:
        raise source.error(
            element,
            f"property scope {scope!r} is not supported",
            hint=f"supported: {', '.join(WRITABLE_SCOPES)}",
        )
    # Synapse treats any action other than "remove" as set.
    remove = element.get("action", "set") == "remove"
    data_type = (
        element.get("type", "STRING").upper() if element.get("type") else "STRING"
    )
    if data_type not in DATA_TYPES:
        raise source.error(
            element,
            f"property type {element.get('type')!r} is not valid",
            hint=f"use one of: {', '.join(DATA_TYPES)}",
        )

    pattern = None
    group = 0
    if element.get("group") is not None:
        if element.get("pattern") is None:
            raise source.error(element, "group needs a pattern attribute on <property>")
        try:
            group = int(element.get("group", "0"))
        except ValueError:
            group = -1
        if group < 0:
            raise source.error(
                element, f"group={element.get('group')!r} must be a number of 0 or more"
            )
    if element.get("pattern") is not None:
        pattern = compile_java_regex(
            element.get("pattern", ""), element, source, "pattern"
        )

    children = child_elements(element)
    literal = element.get("value")
    expression_text = element.get("expression")
    common = dict(
        name=name,
        scope=scope,
        remove=remove,
        name_expression=name_expression,
        data_type=data_type,
        pattern=pattern,
        group=group,
    )
    if remove:
        return PropertyMediator(source.file, element.sourceline, **common)
    if literal is not None:
        try:
            value = convert(literal, data_type, from_expression=False)
        except ConversionError as e:
            raise source.error(element, f"value of property {name!r}: {e}") from None
        return PropertyMediator(source.file, element.sourceline, value=value, **common)
    if children:
        return PropertyMediator(
            source.file, element.sourceline, value=copy.deepcopy(children[0]), **common
        )
    if expression_text is None:
        raise source.error(
            element, f"property {name!r} needs a value, an expression or an XML child"
        )
    expression = source.expression(element, "expression")
    return PropertyMediator(
        source.file, element.sourceline, expression=expression, **common
    )


class PropertyGroup(Mediator):
    """`<propertyGroup>`: property mediators run in order."""

    __slots__ = ("mediators",)
    tag = "propertyGroup"

    def __init__(self, file: str, line: int | None, mediators: list[Mediator]) -> None:
        super().__init__(file, line)
        self.mediators = tuple(mediators)

    def mediate(self, ctx: MessageContext) -> bool:
        return run_mediators(self.mediators, ctx)


@builds("propertyGroup")
def build_property_group(element: etree._Element, source: Source) -> Mediator:
    check_attributes(element, ("description",), source, "propertyGroup")
    mediators = []
    for child in child_elements(element):
        if synapse_name(child, source) != "property":
            raise source.error(
                child,
                f"<propertyGroup> may hold only <property>, not <{local_name(child)}>",
            )
        mediators.append(build_property(child, source))
    return PropertyGroup(source.file, element.sourceline, mediators)


class HeaderMediator(Mediator):
    """`<header>`: set or remove a transport header, the To address or a SOAP header."""

    __slots__ = ("name", "qname", "scope", "remove", "value", "expression", "inline")
    tag = "header"

    def __init__(
        self,
        file: str,
        line: int | None,
        *,
        name: str,
        qname: str | None,
        scope: str,
        remove: bool,
        value: str | None,
        expression: Expression | None,
        inline: etree._Element | None,
    ) -> None:
        super().__init__(file, line)
        self.name = name
        self.qname = qname
        self.scope = scope
        self.remove = remove
        self.value = value
        self.expression = expression
        self.inline = inline

    def _value(self, ctx: MessageContext) -> str | None:
        if self.value is not None:
            return self.value
        if self.expression is not None:
            return self.expression.evaluate(ctx)
        return None

    def mediate(self, ctx: MessageContext) -> bool:
        if self.scope == "transport":
            if self.remove:
                ctx.headers.remove(self.name)
                self.record(ctx, f"header {self.name} removed")
            else:
                value = self._value(ctx)
                set_property(ctx, "transport", self.name, value)
                self.record(
                    ctx, f"header {self.name} = {shown_value(self.name, value or '')}"
                )
            return True
        if self.qname is None:
            self._addressing(ctx)
        else:
            self._soap_header(ctx)
        return True

    def _addressing(self, ctx: MessageContext) -> None:
        value = None if self.remove else self._value(ctx)
        if self.name == "To":
            ctx.to = value or ""
        elif value is None:
            ctx.addressing.pop(self.name, None)
        else:
            ctx.addressing[self.name] = value
        change = "removed" if self.remove else f"= {shown_value(self.name, value)}"
        self.record(ctx, f"header {self.name} (addressing) {change}")

    def _soap_header(self, ctx: MessageContext) -> None:
        header = soap_part(ctx.payload.envelope(), "Header")
        if header is None:
            return
        for existing in header.findall(self.qname or ""):
            header.remove(existing)
        if not self.remove:
            if self.inline is not None:
                header.append(copy.deepcopy(self.inline))
            else:
                etree.SubElement(header, self.qname or "").text = self._value(ctx) or ""
        self.record(
            ctx, f"SOAP header {self.name} {'removed' if self.remove else 'set'}"
        )


@builds("header")
def build_header(element: etree._Element, source: Source) -> Mediator:
    check_attributes(
        element,
        ("name", "value", "expression", "scope", "action", "description"),
        source,
        "header",
    )
    children = child_elements(element)
    scope = attribute_choice(
        element, "scope", ("default", "transport"), "default", source
    )
    remove = (
        attribute_choice(element, "action", ("set", "remove"), "set", source)
        == "remove"
    )
    name = element.get("name")
    qname = None
    if not name:
        if scope == "transport" or not children:
            raise source.error(element, "<header> needs a non-empty name attribute")
        name = etree.QName(children[0]).text
        qname = name
    elif scope == "default" and name not in ("To", *ADDRESSING_NAMES):
        prefix, sep, local = name.partition(":")
        uri = element.nsmap.get(prefix) if sep else None
        if not sep or uri is None:
            raise source.error(
                element,
                f'header {name!r} without scope="transport" must be a WS-Addressing name '
                "or a SOAP header name with a declared namespace prefix",
                hint='add scope="transport" to set an HTTP header',
            )
        qname = f"{{{uri}}}{local}"
    value = element.get("value")
    expression = None
    if not remove and value is None:
        if element.get("expression") is not None:
            expression = source.expression(element, "expression")
        elif not children:
            raise source.error(
                element, f"header {name!r} needs a value, an expression or an XML child"
            )
    return HeaderMediator(
        source.file,
        element.sourceline,
        name=name,
        qname=qname,
        scope=scope,
        remove=remove,
        value=value,
        expression=expression,
        inline=copy.deepcopy(children[0]) if children else None,
    )
