"""Turn the elements of a sequence file into mediator objects, validating as Synapse does.

Every element and attribute is checked when the file is loaded. Whatever this gateway
does not implement is rejected with the file, line and column, never skipped: a
sequence that loads here behaves as it does on WSO2. Each mediator module registers
its builder in MEDIATOR_BUILDERS with `@builds("tag")`; `catalog` imports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from ..errors import ConfigError
from . import SYNAPSE_NS
from .base import Mediator, Sequence
from .expressions import Expression, compile_at
from .xmlparse import column_of

if TYPE_CHECKING:
    from .library import SequenceLibrary

# Mediators that cannot work in this product, and why; each is a load error.
UNSUPPORTED_MEDIATORS = {
    "script": "it runs JavaScript inside WSO2's JVM",
    "class": "it runs a Java class inside WSO2's JVM",
    "call": "a sequence cannot call other services here; the gateway calls the API endpoint",
    "callout": "a sequence cannot call other services here; the gateway calls the API endpoint",
    "clone": "it would send copies of the message to other endpoints",
    "iterate": "it would split the message and send the parts to endpoints",
    "foreach": "it runs mediators per part of a split message",
    "aggregate": "it collects responses of iterate or clone, which are not supported",
    "xslt": "XSLT transformations are not supported",
    "fastXSLT": "XSLT transformations are not supported",
    "xquery": "XQuery transformations are not supported",
    "datamapper": "the Data Mapper needs WSO2's tooling",
    "jsontransform": "it needs JSON schemas from WSO2's registry",
    "dblookup": "database mediators are not supported",
    "dbreport": "database mediators are not supported",
    "cache": "response caching is not supported",
    "throttle": "API Manager throttles in the gateway, not with this mediator",
    "validate": "schema validation is not supported",
    "smooks": "Smooks transformations are not supported",
    "rule": "the rule engine is not supported",
    "store": "message stores are not supported",
    "enqueue": "message queues are not supported",
    "event": "event publishing is not supported",
    "publishEvent": "event publishing is not supported",
    "bam": "analytics publishing is not supported",
    "bean": "it works on Java beans",
    "ejb": "it calls Enterprise Java Beans",
    "spring": "it runs Spring beans",
    "pojoCommand": "it runs Java commands",
    "transaction": "JTA transactions are not supported",
    "builder": "message builders are chosen by the content type here",
    "rewrite": "URL rewriting is not supported; set REST_URL_POSTFIX instead",
    "call-template": "templates are not supported",
    "entitlementService": "XACML entitlement needs WSO2 Identity Server",
    "oauthService": "token validation is done by the gateway",
    "ntlm": "NTLM is not supported",
    "NTLM": "NTLM is not supported",
    "in": "<in>/<out> belong to old main sequences; use in_sequence and out_sequence",
    "out": "<in>/<out> belong to old main sequences; use in_sequence and out_sequence",
    "router": "the router mediator is not supported",
    "conditionalRouter": "the conditional router is not supported",
    "variable": "Synapse variables need a newer engine than WSO2 API Manager's",
    "scatter-gather": "it would send the message to several endpoints",
    "throwError": "it needs a newer engine than WSO2 API Manager's",
}

MediatorBuilder = Callable[[etree._Element, "Source"], Mediator]
MEDIATOR_BUILDERS: dict[str, MediatorBuilder] = {}


def builds(tag: str) -> Callable[[MediatorBuilder], MediatorBuilder]:
    """Register a builder for mediator element `tag`."""

    def register(function: MediatorBuilder) -> MediatorBuilder:
        MEDIATOR_BUILDERS[tag] = function
        return function

    return register


@dataclass(slots=True)
class Source:
    """The file a sequence comes from, for error locations, plus what builders share."""

    file: str
    lines: list[str]
    folder: Path | None = None
    library: SequenceLibrary | None = None
    # Unsupported mediators found so far; reported together once the file is built.
    unsupported: list[ConfigError] = field(default_factory=list)

    def error(
        self, element: etree._Element, message: str, hint: str | None = None
    ) -> ConfigError:
        return ConfigError(
            message,
            file=self.file,
            line=element.sourceline,
            column=column_of(self.lines, element),
            hint=hint,
        )

    def expression(
        self, element: etree._Element, attribute: str, text: str | None = None
    ) -> Expression:
        """Compile the expression in `attribute` of `element` (or `text`)."""
        source = element.get(attribute) if text is None else text
        if source is None or not source.strip():
            raise self.error(
                element, f"<{local_name(element)}> needs a non-empty {attribute!r}"
            )
        return compile_at(
            source,
            file=self.file,
            line=element.sourceline,
            column=column_of(self.lines, element),
            attribute=attribute,
            namespaces=namespaces(element),
        )


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def synapse_name(element: etree._Element, source: Source) -> str:
    """Return the local name of a Synapse element; reject elements of other namespaces."""
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
                hint=f"supported: {', '.join(allowed) or 'none'}",
            )


def check_no_text(element: etree._Element, source: Source) -> None:
    """Reject text between the child elements of `element`."""
    for text in (element.text, *(child.tail for child in element)):
        if text and text.strip():
            raise source.error(
                element,
                f"unexpected text {text.strip()[:40]!r} in <{local_name(element)}>",
            )


def child_elements(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def namespaces(element: etree._Element) -> dict[str, str]:
    """Return the namespace prefixes in scope on `element`, for XPath."""
    return {prefix: uri for prefix, uri in element.nsmap.items() if prefix}


def dynamic_key(text: str) -> str | None:
    """Return the expression inside `{...}`, or None for a static name."""
    if len(text) > 2 and text.startswith("{") and text.endswith("}"):
        return text[1:-1]
    return None


def build_mediators(parent: etree._Element, source: Source) -> list[Mediator]:
    """Build the mediator for each child element of `parent`, in order."""
    mediators: list[Mediator] = []
    for child in child_elements(parent):
        tag = synapse_name(child, source)
        builder = MEDIATOR_BUILDERS.get(tag)
        if builder is None:
            reason = UNSUPPORTED_MEDIATORS.get(tag)
            if reason is not None:
                source.unsupported.append(
                    source.error(
                        child,
                        f"mediator <{tag}> is not supported: {reason}",
                        hint="see docs/mediation.md for the supported mediators",
                    )
                )
            else:
                source.unsupported.append(
                    source.error(
                        child,
                        f"mediator <{tag}> is not supported",
                        hint=f"supported: {', '.join(sorted(MEDIATOR_BUILDERS))}",
                    )
                )
            continue
        mediators.append(builder(child, source))
    check_no_text(parent, source)
    return mediators


def build_sequence(root: etree._Element, source: Source) -> Sequence:
    """Build a `<sequence>` root element into a Sequence."""
    tag = synapse_name(root, source)
    if tag != "sequence":
        raise source.error(root, f"the root element is <{tag}>, expected <sequence>")
    check_attributes(
        root,
        ("name", "description", "trace", "statistics", "onError"),
        source,
        "sequence",
    )
    if root.get("onError"):
        raise source.error(
            root,
            "onError on a sequence is not supported",
            hint="name the fault sequence in the API's fault_sequence field",
        )
    name = root.get("name")
    if not name:
        raise source.error(root, "<sequence> needs a non-empty name attribute")
    mediators = build_mediators(_without_description(root), source)
    return Sequence(source.file, root.sourceline, name, mediators)


def _without_description(root: etree._Element) -> etree._Element:
    for child in child_elements(root):
        if (
            etree.QName(child).localname == "description"
            and etree.QName(child).namespace == SYNAPSE_NS
        ):
            root.remove(child)
    return root


def attribute_choice(
    element: etree._Element,
    name: str,
    choices: tuple[str, ...],
    default: str,
    source: Source,
) -> str:
    """Return attribute `name`, which must be one of `choices`."""
    value = element.get(name, default)
    if value not in choices:
        raise source.error(
            element,
            f"{name}={value!r} on <{local_name(element)}> is not valid",
            hint=f"use one of: {', '.join(choices)}",
        )
    return value


def require(element: etree._Element, name: str, source: Source) -> str:
    value = element.get(name)
    if value is None or not value.strip():
        raise source.error(
            element, f"<{local_name(element)}> needs a non-empty {name!r} attribute"
        )
    return value
