"""Turn the elements of a sequence file into mediator objects, validating as Synapse does.

Every element and attribute is checked when the file is loaded. Whatever this gateway
does not implement is rejected with the file, line and column, never skipped: a
sequence that loads here behaves as it does on WSO2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from ..errors import ConfigError
from . import SYNAPSE_NS
from .expressions import compile_at
from .mediators import Mediator, PropertyMediator, Sequence
from .xmlparse import column_of

PROPERTY_SCOPES = ("default", "transport", "axis2")
PROPERTY_ACTIONS = ("set", "remove")


@dataclass(frozen=True, slots=True)
class Source:
    """The file a sequence comes from, for error locations."""

    file: str
    lines: list[str]

    def error(self, element: etree._Element, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(
            message,
            file=self.file,
            line=element.sourceline,
            column=column_of(self.lines, element),
            hint=hint,
        )


def _local_name(element: etree._Element, source: Source) -> str:
    qname = etree.QName(element)
    if qname.namespace != SYNAPSE_NS:
        where = f"namespace {qname.namespace!r}" if qname.namespace else "no namespace"
        raise source.error(
            element,
            f"element <{qname.localname}> is in {where}, not the Synapse namespace",
            hint=f'declare xmlns="{SYNAPSE_NS}" on the root element',
        )
    return qname.localname


def check_attributes(
    element: etree._Element, allowed: tuple[str, ...], source: Source, what: str
) -> None:
    """Reject any attribute of `element` not in `allowed`."""
    for attribute in element.attrib:
        if attribute not in allowed:
            raise source.error(
                element,
                f"attribute {attribute!r} of <{what}> is not supported",
                hint=f"supported: {', '.join(allowed)}",
            )


def _namespaces(element: etree._Element) -> dict[str, str]:
    return {prefix: uri for prefix, uri in element.nsmap.items() if prefix}


def build_property(element: etree._Element, source: Source) -> Mediator:
    check_attributes(
        element,
        ("name", "value", "expression", "scope", "action", "type", "description"),
        source,
        "property",
    )
    name = element.get("name")
    if not name:
        raise source.error(element, "<property> needs a non-empty name attribute")
    if name.startswith("{") and name.endswith("}"):
        raise source.error(element, f"dynamic property name {name!r} is not supported yet")

    scope = element.get("scope", "default")
    if scope not in PROPERTY_SCOPES:
        raise source.error(
            element,
            f"property scope {scope!r} is not supported",
            hint=f"supported: {', '.join(PROPERTY_SCOPES)}",
        )
    action = element.get("action", "set")
    if action not in PROPERTY_ACTIONS:
        raise source.error(
            element, f"property action {action!r} is not supported", hint="use set or remove"
        )
    data_type = element.get("type", "STRING")
    if data_type != "STRING":
        raise source.error(element, f"property type {data_type!r} is not supported yet")
    if len(element):
        raise source.error(element, "an inline XML value in <property> is not supported yet")

    value = element.get("value")
    expression_text = element.get("expression")
    remove = action == "remove"
    if not remove and value is None and expression_text is None:
        raise source.error(
            element, f"property {name!r} needs a value or an expression attribute"
        )

    expression = None
    if value is None and expression_text is not None and not remove:
        expression = compile_at(
            expression_text,
            file=source.file,
            line=element.sourceline,
            column=column_of(source.lines, element),
            attribute="expression",
            namespaces=_namespaces(element),
        )
    return PropertyMediator(
        source.file,
        element.sourceline,
        name=name,
        scope=scope,
        remove=remove,
        value=value,
        expression=expression,
    )


MEDIATOR_BUILDERS: dict[str, Callable[[etree._Element, Source], Mediator]] = {
    "property": build_property,
}


def build_mediators(parent: etree._Element, source: Source) -> list[Mediator]:
    """Build the mediator for each child element of `parent`, in order."""
    mediators = []
    for child in parent:
        if not isinstance(child.tag, str):
            continue
        tag = _local_name(child, source)
        builder = MEDIATOR_BUILDERS.get(tag)
        if builder is None:
            raise source.error(
                child,
                f"mediator <{tag}> is not supported",
                hint=f"supported: {', '.join(sorted(MEDIATOR_BUILDERS))}",
            )
        mediators.append(builder(child, source))
    for text in (parent.text, *(child.tail for child in parent)):
        if text and text.strip():
            raise source.error(parent, f"unexpected text {text.strip()[:40]!r} in a sequence")
    return mediators


def build_sequence(root: etree._Element, source: Source) -> Sequence:
    """Build a `<sequence>` root element into a Sequence."""
    tag = _local_name(root, source)
    if tag != "sequence":
        raise source.error(root, f"the root element is <{tag}>, expected <sequence>")
    check_attributes(root, ("name", "description", "trace", "statistics"), source, "sequence")
    name = root.get("name")
    if not name:
        raise source.error(root, "<sequence> needs a non-empty name attribute")
    return Sequence(source.file, root.sourceline, name, build_mediators(root, source))
