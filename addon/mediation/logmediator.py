"""The log mediator, written to the Python logger `addon.mediation.log`.

Facts from Synapse's LogMediator and its factory:

- `level` is `simple` (default), `headers`, `full` or `custom`; `category` is INFO
  (default), TRACE, DEBUG, WARN, ERROR or FATAL, in any case; `separator` defaults to
  `, `; nested `<property name value|expression>` pairs are appended, an empty `value`
  being a load error. Anything else is a load error.
- simple prints `To`, `MessageID` and `Direction`; headers adds the transport headers;
  full adds the payload; custom prints only the properties. An expression that finds
  nothing prints `null`. The log never changes the message.

Unlike WSO2, credentials (Authorization-like headers and `<scheme> <token>` values) are
masked in the output: this gateway never writes a token to its log.
"""

from __future__ import annotations

import logging

from lxml import etree

from ..context import MessageContext
from .base import Mediator, shown_value
from .builder import (
    Source,
    builds,
    check_attributes,
    child_elements,
    require,
    synapse_name,
)
from .expressions import Expression
from .payload import PayloadError

logger = logging.getLogger("addon.mediation.log")

TRACE = 5
LEVELS = ("simple", "headers", "full", "custom")
CATEGORIES = {
    "TRACE": TRACE,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
}


class LogMediator(Mediator):
    """`<log>`: write a line about the message to the log."""

    __slots__ = ("level", "category", "separator", "properties")
    tag = "log"

    def __init__(
        self,
        file: str,
        line: int | None,
        level: str,
        category: int,
        separator: str,
        properties: list[tuple[str, str | None, Expression | None]],
    ) -> None:
        super().__init__(file, line)
        self.level = level
        self.category = category
        self.separator = separator
        self.properties = tuple(properties)

    def message(self, ctx: MessageContext) -> str:
        """Return the log line for `ctx`."""
        parts: list[str] = []
        if self.level != "custom":
            parts.append(f"To: {ctx.to or ''}")
            parts.append(f"MessageID: {ctx.message_id}")
            parts.append(f"Direction: {ctx.direction}")
        if self.level in ("headers", "full"):
            parts.extend(
                f"{name} = {_plain(shown_value(name, value))}"
                for name, value in ctx.headers
            )
        for name, value, expression in self.properties:
            result = value if expression is None else expression.evaluate(ctx)
            parts.append(f"{name} = {_plain(shown_value(name, result))}")
        if self.level == "full":
            parts.append(_payload(ctx))
        return self.separator.join(parts)

    def mediate(self, ctx: MessageContext) -> bool:
        # The line is built even when the logger is quiet: the trace shows it too.
        text = self.message(ctx)
        logger.log(self.category, "%s", text)
        self.record(ctx, f"log: {text}")
        return True


def _plain(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _payload(ctx: MessageContext) -> str:
    try:
        if ctx.payload.is_json():
            return f"Payload: {ctx.payload.json_text()}"
        return "Envelope: " + etree.tostring(ctx.payload.envelope(), encoding="unicode")
    except PayloadError as e:
        return f"Payload: <{e}>"


@builds("log")
def build_log(element: etree._Element, source: Source) -> Mediator:
    check_attributes(
        element, ("level", "category", "separator", "description"), source, "log"
    )
    level = element.get("level", "simple")
    if level not in LEVELS:
        raise source.error(
            element,
            f"log level {level!r} is not valid",
            hint=f"use one of: {', '.join(LEVELS)}",
        )
    category_name = element.get("category", "INFO").upper()
    if category_name not in CATEGORIES:
        raise source.error(
            element,
            f"log category {element.get('category')!r} is not valid",
            hint=f"use one of: {', '.join(CATEGORIES)}",
        )
    separator = element.get("separator", ", ")
    properties: list[tuple[str, str | None, Expression | None]] = []
    for child in child_elements(element):
        if synapse_name(child, source) != "property":
            raise source.error(
                child,
                f"<log> may hold only <property>, not <{etree.QName(child).localname}>",
            )
        check_attributes(
            child,
            ("name", "value", "expression", "scope", "type", "description"),
            source,
            "property",
        )
        name = require(child, "name", source)
        value = child.get("value")
        if value is not None:
            if value == "":
                raise source.error(child, f"log property {name!r} has an empty value")
            properties.append((name, value, None))
        elif child.get("expression") is not None:
            properties.append((name, None, source.expression(child, "expression")))
        else:
            raise source.error(
                child, f"log property {name!r} needs a value or an expression"
            )
    return LogMediator(
        source.file,
        element.sourceline,
        level,
        CATEGORIES[category_name],
        separator,
        properties,
    )
