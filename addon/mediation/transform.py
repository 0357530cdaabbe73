"""Payload mediators: payloadFactory, enrich and makefault.

Facts from Synapse's PayloadFactoryMediator (regex template processor):

- `$1`, `$2`... in the format are replaced by the arguments in order; a `$n` with no
  argument stops the replacement and leaves the rest of the format as it is.
- A `value=` argument is XML-escaped unless it is XML, even for JSON. An expression
  that yields null gives "". For `media-type="xml"` an expression result is
  XML-escaped unless it is XML (or JSON from `json-eval`); for `media-type="json"` a
  string result is JSON-escaped (`"`, `\\`, and control characters), an XML result
  becomes JSON, and with the property QUOTE_STRING_IN_PAYLOAD_FACTORY_JSON=true plain
  strings other than numbers, `true`, `false` and `null` get quotes.
- `evaluator="json"` makes the argument expression JSONPath.
- It sets axis2 `messageType` and `ContentType` (`application/json`, `application/xml`
  unless an XML type is already set, `text/plain`) and removes `NO_ENTITY_BODY`.
- The format may name a file with `key` instead of holding the template inline; here
  the key is a path below the sequences folder (a `conf:`/`gov:` prefix is ignored).

Enrich (EnrichMediator): the source is `custom` (an XPath or json-eval), `envelope`,
`body` (the payload element), `property` or `inline`; the target is `custom`,
`envelope`, `body` or `property`, with `action` replace (default), child or sibling.
When the payload is JSON and no XPath is involved, enrich works on JSON data.

makefault (FaultMediator) replaces the payload with a SOAP 1.1 or 1.2 fault (or a POX
`<Exception>`) built from `<code>`, `<reason>`, `<node>`, `<role>` and `<detail>`.
"""

from __future__ import annotations

import copy
import json
import re
from html import escape as html_escape
from pathlib import Path
from typing import Any

from lxml import etree

from ..context import MessageContext
from ..errors import MediationFault
from . import SYNAPSE_NS, jsonxml
from .base import Mediator
from .builder import (
    Source,
    attribute_choice,
    builds,
    check_attributes,
    child_elements,
    require,
    synapse_name,
)
from .expressions import Expression
from .jsonpath import JsonEval, compile_json_eval
from .payload import (
    SOAP11_NS,
    SOAP12_NS,
    PayloadError,
    is_xml_type,
    new_envelope,
    soap_part,
)
from .properties import get_variable, set_property
from .values import JsonValue
from .xmlparse import parse_fragment

_PLACEHOLDER = re.compile(r"\$(\d)+")
_JSON_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
MEDIA_TYPES = {
    "json": "application/json",
    "xml": "application/xml",
    "text": "text/plain",
}


def escape_xml10(text: str) -> str:
    """XML-escape as commons-text escapeXml10 does (`& < > " '`)."""
    return html_escape(text, quote=True).replace("&#x27;", "&apos;")


_JSON_SPECIAL = re.compile(r'["\\\x00-\x1f]')


def escape_json(text: str) -> str:
    """Escape a string for the inside of JSON quotes."""
    if _JSON_SPECIAL.search(text) is None:
        return text
    return json.dumps(text, ensure_ascii=False)[1:-1]


def looks_like_xml(text: str) -> bool:
    stripped = text.strip()
    if len(stripped) < 4 or not stripped.endswith(">"):
        return False
    try:
        parse_fragment(stripped)
    except ValueError:
        return False
    return True


def looks_like_json(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and stripped[0] in "{["


class Argument:
    """One `<arg>` of a payloadFactory."""

    __slots__ = ("literal", "expression", "is_literal")

    def __init__(
        self, literal: str | None, expression: Expression | None, is_literal: bool
    ):
        self.literal = literal
        self.expression = expression
        self.is_literal = is_literal

    def replacement(self, ctx: MessageContext, media: str) -> str:
        """Return the text that replaces this argument's `$n` in a format of `media`."""
        json_path = isinstance(self.expression, JsonEval)
        if self.literal is not None:
            value = self.literal
            is_xml = looks_like_xml(value)
            if not is_xml:
                value = escape_xml10(value)
        else:
            assert self.expression is not None
            result = self.expression.evaluate(ctx)
            if result is None:
                value, is_xml = "", False
            else:
                value = result
                is_xml = looks_like_xml(value)
                if (
                    not is_xml
                    and media == "xml"
                    and not (json_path and looks_like_json(value))
                ):
                    value = escape_xml10(value)
        if self.is_literal:
            kind = "str"
        elif not json_path:
            kind = "xml" if is_xml else "str"
        else:
            kind = "json" if looks_like_json(value) else "str"
        return _prepare(value, kind, media, ctx)


def _prepare(value: str, kind: str, media: str, ctx: MessageContext) -> str:
    trimmed = value.strip()
    if media == "json" and kind == "xml":
        try:
            element = parse_fragment(f"<jsonObject>{value}</jsonObject>")
        except ValueError:
            return escape_json(value)
        return jsonxml.dumps(jsonxml.from_element(element))
    if media == "xml" and (
        kind == "json" or (kind == "str" and looks_like_json(trimmed))
    ):
        try:
            element = jsonxml.to_element(jsonxml.loads(value))
        except ValueError as e:
            raise MediationFault(
                "Error converting JSON to XML, please check your JSON Path expressions "
                f"return valid JSON: {e}"
            ) from None
        if etree.QName(element).localname == "jsonObject":
            return "".join(
                etree.tostring(child, encoding="unicode", with_tail=False).strip()
                for child in element
                if isinstance(child.tag, str)
            )
        return etree.tostring(element, encoding="unicode")
    if media == "json" and kind == "str":
        escaped = escape_json(value)
        if not trimmed.startswith(("{", "[")):
            quote = ctx.properties.get("QUOTE_STRING_IN_PAYLOAD_FACTORY_JSON")
            if (
                isinstance(quote, str)
                and quote.lower() == "true"
                and trimmed not in ("true", "false", "null")
                and not _JSON_NUMBER.fullmatch(trimmed)
            ):
                escaped = f'"{escaped}"'
        return escaped
    if media == "json" and kind == "json" and not trimmed.startswith(("{", "[")):
        return value.replace('"', '\\"')
    return value


def fill_template(template: str, values: list[str]) -> str:
    """Replace `$n` in `template`; a `$n` without a value stops the replacement."""
    result: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        index = int(match.group()[1:])
        if index < 1 or index > len(values):
            break
        result.append(template[position : match.start()])
        result.append(values[index - 1])
        position = match.end()
    result.append(template[position:])
    return "".join(result)


class PayloadFactory(Mediator):
    """`<payloadFactory>`: replace the payload with a filled-in template."""

    __slots__ = ("media", "template", "args")
    tag = "payloadFactory"

    def __init__(
        self,
        file: str,
        line: int | None,
        media: str,
        template: str,
        args: list[Argument],
    ):
        super().__init__(file, line)
        self.media = media
        self.template = template
        self.args = tuple(args)

    def mediate(self, ctx: MessageContext) -> bool:
        values = [arg.replacement(ctx, self.media) for arg in self.args]
        text = fill_template(self.template, values)
        payload = ctx.payload
        if self.media == "json":
            payload.set_json(text)
            message_type = MEDIA_TYPES["json"]
        elif self.media == "text":
            payload.set_text(text)
            message_type = MEDIA_TYPES["text"]
        else:
            try:
                padding = parse_fragment(f"<pfPadding>{text}</pfPadding>")
            except ValueError as e:
                raise MediationFault(
                    f"payloadFactory built XML that is not well-formed: {e}"
                ) from None
            elements = [child for child in padding if isinstance(child.tag, str)]
            if (
                len(elements) == 1
                and etree.QName(elements[0]).localname == "Envelope"
                and etree.QName(elements[0]).namespace in (SOAP11_NS, SOAP12_NS)
            ):
                payload.set_envelope(elements[0])
            else:
                payload.set_body_element(None)
                body = soap_part(payload.envelope(), "Body")
                for element in elements:
                    body.append(element)
            current = ctx.axis2.get("messageType")
            message_type = (
                current
                if isinstance(current, str) and is_xml_type(current)
                else MEDIA_TYPES["xml"]
            )
        ctx.axis2["messageType"] = message_type
        ctx.axis2["ContentType"] = message_type
        ctx.axis2.pop("NO_ENTITY_BODY", None)
        self.record(
            ctx,
            f"payloadFactory ({self.media}): payload replaced, {len(text)} characters",
        )
        return True


def _strip_synapse_namespace(element: etree._Element) -> etree._Element:
    """Copy `element`, moving elements of the Synapse namespace to no namespace."""
    copied = copy.deepcopy(element)
    for node in copied.iter():
        if isinstance(node.tag, str) and etree.QName(node).namespace == SYNAPSE_NS:
            node.tag = etree.QName(node).localname
    etree.cleanup_namespaces(copied)
    return copied


def _format_file(key: str, element: etree._Element, source: Source) -> str:
    relative = key.split(":", 1)[1] if key.startswith(("conf:", "gov:")) else key
    relative = relative.lstrip("/")
    folder = source.folder or Path(".")
    path = (folder / relative).resolve()
    if folder.resolve() not in path.parents:
        raise source.error(
            element, f"format key {key!r} points outside the sequences folder"
        )
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise source.error(
            element,
            f"format key {key!r}: cannot read {relative}: {e.strerror}",
            hint="put the template file in the sequences folder",
        ) from None


def _template(format_element: etree._Element, media: str, source: Source) -> str:
    check_attributes(format_element, ("key",), source, "format")
    key = format_element.get("key")
    children = child_elements(format_element)
    if key is not None:
        text = _format_file(key, format_element, source)
        return text.strip()
    if media == "xml":
        if not children:
            raise source.error(
                format_element, "<format> of an XML payloadFactory needs an element"
            )
        return "".join(
            etree.tostring(
                _strip_synapse_namespace(child), encoding="unicode", with_tail=False
            )
            for child in children
        )
    if children:
        raise source.error(
            format_element,
            f"<format> of a {media} payloadFactory holds text, not elements",
        )
    return (format_element.text or "").strip()


def _argument(element: etree._Element, source: Source) -> Argument:
    check_attributes(
        element,
        ("value", "expression", "evaluator", "literal", "deepCheck"),
        source,
        "arg",
    )
    literal = element.get("literal", "false").lower() == "true"
    if element.get("value") is not None:
        return Argument(element.get("value"), None, literal)
    text = element.get("expression")
    if text is None:
        raise source.error(element, "<arg> needs a value or an expression attribute")
    evaluator = attribute_choice(element, "evaluator", ("xml", "json"), "xml", source)
    if evaluator == "json" and not text.strip().startswith("json-eval("):
        try:
            expression: Expression = compile_json_eval(f"json-eval({text})")
        except ValueError as e:
            raise source.error(element, f'expression="{text}": {e}') from None
    else:
        expression = source.expression(element, "expression")
    return Argument(None, expression, literal)


@builds("payloadFactory")
def build_payload_factory(element: etree._Element, source: Source) -> Mediator:
    check_attributes(
        element,
        ("media-type", "template-type", "description"),
        source,
        "payloadFactory",
    )
    media = attribute_choice(
        element, "media-type", ("xml", "json", "text"), "xml", source
    )
    if element.get("template-type", "default") != "default":
        raise source.error(
            element,
            f"template-type {element.get('template-type')!r} needs a newer engine than WSO2 API Manager's",
            hint="use the default $n template",
        )
    format_element = None
    args: list[Argument] = []
    for child in child_elements(element):
        name = synapse_name(child, source)
        if name == "format":
            format_element = child
        elif name == "args":
            check_attributes(child, (), source, "args")
            for arg in child_elements(child):
                if synapse_name(arg, source) != "arg":
                    raise source.error(
                        arg,
                        f"<args> may hold only <arg>, not <{etree.QName(arg).localname}>",
                    )
                args.append(_argument(arg, source))
        else:
            raise source.error(
                child,
                f"<payloadFactory> may hold only <format> and <args>, not <{name}>",
            )
    if format_element is None:
        raise source.error(element, "<payloadFactory> needs a <format>")
    template = _template(format_element, media, source)
    return PayloadFactory(source.file, element.sourceline, media, template, args)


# Enrich


class EnrichSource:
    __slots__ = ("kind", "xpath", "property", "inline_element", "inline_text", "clone")

    def __init__(
        self,
        kind: str,
        xpath: Expression | None,
        prop: str | None,
        inline_element: etree._Element | None,
        inline_text: str | None,
        clone: bool,
    ):
        self.kind = kind
        self.xpath = xpath
        self.property = prop
        self.inline_element = inline_element
        self.inline_text = inline_text
        self.clone = clone


class EnrichTarget:
    __slots__ = ("kind", "xpath", "property", "action")

    def __init__(
        self, kind: str, xpath: Expression | None, prop: str | None, action: str
    ):
        self.kind = kind
        self.xpath = xpath
        self.property = prop
        self.action = action


class EnrichMediator(Mediator):
    """`<enrich>`: copy part of the message (or a property or inline XML) somewhere else."""

    __slots__ = ("source", "target", "xpath_free")
    tag = "enrich"

    def __init__(
        self, file: str, line: int | None, source: EnrichSource, target: EnrichTarget
    ):
        super().__init__(file, line)
        self.source = source
        self.target = target
        self.xpath_free = not (
            (source.kind == "custom" and not isinstance(source.xpath, JsonEval))
            or (target.kind == "custom" and not isinstance(target.xpath, JsonEval))
        )

    def mediate(self, ctx: MessageContext) -> bool:
        try:
            if self.xpath_free and (ctx.payload.is_json() or self._uses_json_path()):
                self._enrich_json(ctx)
            else:
                self._enrich_xml(ctx)
        except PayloadError as e:
            raise MediationFault(f"enrich: {e}") from None
        self.record(
            ctx,
            f"enrich {self.source.kind} -> {self.target.kind} ({self.target.action})",
        )
        return True

    def _uses_json_path(self) -> bool:
        return isinstance(self.source.xpath, JsonEval) or isinstance(
            self.target.xpath, JsonEval
        )

    # XML

    def _source_nodes(self, ctx: MessageContext) -> list[Any]:
        source = self.source
        if source.kind == "envelope":
            nodes: list[Any] = [ctx.payload.envelope()]
        elif source.kind == "body":
            element = ctx.payload.body_element()
            nodes = [] if element is None else [element]
        elif source.kind == "property":
            value = ctx.properties.get(source.property or "")
            if value is None:
                raise MediationFault(f"enrich: property {source.property} is not set")
            if isinstance(value, etree._Element):
                nodes = [value]
            elif isinstance(value, str) and looks_like_xml(value):
                nodes = [parse_fragment(value)]
            else:
                nodes = [
                    value
                    if isinstance(value, str)
                    else (
                        JsonValue.text(value)
                        if isinstance(value, JsonValue)
                        else str(value)
                    )
                ]
        elif source.kind == "inline":
            nodes = (
                [source.inline_element]
                if source.inline_element is not None
                else [source.inline_text or ""]
            )
        else:
            assert source.xpath is not None
            result = source.xpath.value(ctx)
            nodes = result if isinstance(result, list) else [str(result)]
        if source.clone:
            nodes = [
                copy.deepcopy(node) if isinstance(node, etree._Element) else node
                for node in nodes
            ]
        return nodes

    def _enrich_xml(self, ctx: MessageContext) -> None:
        nodes = self._source_nodes(ctx)
        target = self.target
        payload = ctx.payload
        if target.kind == "property":
            value: Any
            if len(nodes) == 1 and isinstance(nodes[0], etree._Element):
                value = copy.deepcopy(nodes[0])
            else:
                value = "".join(
                    n if isinstance(n, str) else etree.tostring(n, encoding="unicode")
                    for n in nodes
                )
            set_property(ctx, "default", target.property or "", value)
            return
        if target.kind == "envelope":
            element = next((n for n in nodes if isinstance(n, etree._Element)), None)
            if element is None or etree.QName(element).localname != "Envelope":
                raise MediationFault(
                    "enrich: the envelope can only be replaced by a SOAP envelope"
                )
            payload.set_envelope(copy.deepcopy(element))
            return
        if target.kind == "body":
            body = soap_part(payload.envelope(), "Body")
            assert body is not None
            if target.action == "replace":
                first = payload.body_element()
                elements = [n for n in nodes if isinstance(n, etree._Element)]
                if first is not None and elements:
                    _replace(first, elements)
                elif elements:
                    body.extend(copy.deepcopy(e) for e in elements)
                else:
                    raise MediationFault("enrich: the body can only be replaced by XML")
            else:
                _add_children(body, nodes)
            payload.envelope_changed()
            return
        assert target.xpath is not None
        result = target.xpath.value(ctx)
        found = result if isinstance(result, list) else []
        if not found:
            raise MediationFault(
                f"enrich: the target {target.xpath.source} selects nothing"
            )
        node = found[0]
        if not isinstance(node, etree._Element):
            parent = getattr(node, "getparent", lambda: None)()
            if parent is None:
                raise MediationFault(
                    f"enrich: the target {target.xpath.source} is not an element"
                )
            if getattr(node, "is_attribute", False):
                parent.set(node.attrname, _text_of(nodes))
            else:
                parent.text = _text_of(nodes)
            payload.envelope_changed()
            return
        if target.action == "replace":
            elements = [n for n in nodes if isinstance(n, etree._Element)]
            if elements:
                _replace(node, elements)
            else:
                for child in list(node):
                    node.remove(child)
                node.text = _text_of(nodes)
        elif target.action == "child":
            _add_children(node, nodes)
        else:
            parent = node.getparent()
            if parent is None:
                raise MediationFault("enrich: the target has no parent for a sibling")
            index = parent.index(node) + 1
            for offset, item in enumerate(
                n for n in nodes if isinstance(n, etree._Element)
            ):
                parent.insert(index + offset, copy.deepcopy(item))
        payload.envelope_changed()

    # JSON

    def _json_source(self, ctx: MessageContext) -> Any:
        source = self.source
        if source.kind in ("body", "envelope"):
            return _normalize(ctx.payload.json_data())
        if source.kind == "property":
            value = get_variable(ctx, "default", source.property or "")
            if value is None:
                raise MediationFault(f"enrich: property {source.property} is not set")
            if isinstance(value, JsonValue):
                return value.value
            try:
                return json.loads(value) if isinstance(value, str) else value
            except ValueError:
                return value
        if source.kind == "inline":
            text = source.inline_text or ""
            try:
                return json.loads(text)
            except ValueError:
                return text
        assert isinstance(source.xpath, JsonEval)
        document = _normalize(ctx.payload.json_data())
        matches = [match.value for match in source.xpath.path.find(document)]
        if not matches:
            return None
        return matches[0] if source.xpath.definite else matches

    def _enrich_json(self, ctx: MessageContext) -> None:
        value = self._json_source(ctx)
        target = self.target
        if target.kind == "property":
            set_property(ctx, "default", target.property or "", JsonValue(value))
            return
        if target.kind in ("body", "envelope"):
            if target.action == "replace":
                ctx.payload.set_json(
                    json.dumps(value, separators=(",", ":"), ensure_ascii=False)
                )
                return
            document = _normalize(ctx.payload.json_data())
            document = _json_add(document, value)
            ctx.payload.set_json(
                json.dumps(document, separators=(",", ":"), ensure_ascii=False)
            )
            return
        assert isinstance(target.xpath, JsonEval)
        document = _normalize(ctx.payload.json_data())
        path = target.xpath.path
        matches = path.find(document)
        if not matches:
            raise MediationFault(
                f"enrich: the target {target.xpath.source} selects nothing"
            )
        if target.action == "replace":
            document = path.update(document, value)
        else:
            for match in matches:
                updated = _json_add(match.value, value)
                document = match.full_path.update(document, updated)
        ctx.payload.set_json(
            json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        )


def _normalize(value: Any) -> Any:
    from .jsonpath import _normalize as normalize

    return normalize(value)


def _json_add(container: Any, value: Any) -> Any:
    if isinstance(container, list):
        return [*container, *(value if isinstance(value, list) else [value])]
    if isinstance(container, dict) and isinstance(value, dict):
        return {**container, **value}
    raise MediationFault("enrich: a child can only be added to a JSON object or array")


def _text_of(nodes: list[Any]) -> str:
    return "".join(n if isinstance(n, str) else "".join(n.itertext()) for n in nodes)


def _replace(node: etree._Element, elements: list[etree._Element]) -> None:
    parent = node.getparent()
    if parent is None:
        raise MediationFault("enrich: the root element cannot be replaced")
    index = parent.index(node)
    tail = node.tail
    parent.remove(node)
    for offset, element in enumerate(elements):
        parent.insert(index + offset, copy.deepcopy(element))
    if elements:
        parent[index + len(elements) - 1].tail = tail


def _add_children(parent: etree._Element, nodes: list[Any]) -> None:
    for node in nodes:
        if isinstance(node, etree._Element):
            parent.append(copy.deepcopy(node))
        elif len(parent):
            parent[-1].tail = (parent[-1].tail or "") + node
        else:
            parent.text = (parent.text or "") + node


def _enrich_expression(element: etree._Element, source: Source) -> Expression:
    require(element, "xpath", source)
    return source.expression(element, "xpath")


@builds("enrich")
def build_enrich(element: etree._Element, source: Source) -> Mediator:
    check_attributes(element, ("description",), source, "enrich")
    parts = {synapse_name(child, source): child for child in child_elements(element)}
    if set(parts) != {"source", "target"}:
        raise source.error(
            element, "<enrich> needs exactly one <source> and one <target>"
        )
    source_element, target_element = parts["source"], parts["target"]

    check_attributes(
        source_element, ("type", "xpath", "property", "clone", "key"), source, "source"
    )
    kind = attribute_choice(
        source_element,
        "type",
        ("custom", "envelope", "body", "property", "inline"),
        "custom",
        source,
    )
    if source_element.get("key") is not None:
        raise source.error(
            source_element,
            "an inline source from a registry key is not supported",
            hint="put the XML inside <source>",
        )
    inline_children = child_elements(source_element)
    enrich_source = EnrichSource(
        kind,
        _enrich_expression(source_element, source) if kind == "custom" else None,
        require(source_element, "property", source) if kind == "property" else None,
        copy.deepcopy(inline_children[0])
        if kind == "inline" and inline_children
        else None,
        (source_element.text or "").strip()
        if kind == "inline" and not inline_children
        else None,
        source_element.get("clone", "true").lower() != "false",
    )
    check_attributes(
        target_element, ("type", "xpath", "property", "action"), source, "target"
    )
    target_kind = attribute_choice(
        target_element,
        "type",
        ("custom", "envelope", "body", "property"),
        "custom",
        source,
    )
    action = attribute_choice(
        target_element, "action", ("replace", "child", "sibling"), "replace", source
    )
    enrich_target = EnrichTarget(
        target_kind,
        _enrich_expression(target_element, source) if target_kind == "custom" else None,
        require(target_element, "property", source)
        if target_kind == "property"
        else None,
        action,
    )
    if target_kind == "property" and action != "replace":
        raise source.error(
            target_element, 'a property target takes only action="replace"'
        )
    return EnrichMediator(source.file, element.sourceline, enrich_source, enrich_target)


# makefault


class FaultPart:
    __slots__ = ("value", "expression", "element")

    def __init__(
        self,
        value: str | None,
        expression: Expression | None,
        element: etree._Element | None,
    ):
        self.value = value
        self.expression = expression
        self.element = element

    def text(self, ctx: MessageContext) -> str:
        if self.value is not None:
            return self.value
        if self.expression is not None:
            return self.expression.evaluate(ctx) or ""
        return ""


class MakeFault(Mediator):
    """`<makefault>`: replace the payload with a SOAP fault."""

    __slots__ = ("version", "code", "reason", "node", "role", "detail", "response")
    tag = "makefault"

    def __init__(
        self,
        file: str,
        line: int | None,
        version: str,
        code: FaultPart,
        reason: FaultPart,
        node: FaultPart | None,
        role: FaultPart | None,
        detail: FaultPart | None,
        response: bool,
    ):
        super().__init__(file, line)
        self.version = version
        self.code = code
        self.reason = reason
        self.node = node
        self.role = role
        self.detail = detail
        self.response = response

    def mediate(self, ctx: MessageContext) -> bool:
        reason = self.reason.text(ctx)
        if self.version == "pox":
            element = etree.Element("Exception")
            element.text = reason
            ctx.payload.set_body_element(element)
        else:
            ns = SOAP12_NS if self.version == "soap12" else SOAP11_NS
            envelope = new_envelope(ns)
            body = soap_part(envelope, "Body")
            fault = etree.SubElement(body, f"{{{ns}}}Fault")
            code = _fault_code(self.code.text(ctx), ns)
            if ns == SOAP11_NS:
                etree.SubElement(fault, "faultcode").text = code
                etree.SubElement(fault, "faultstring").text = reason
                if self.role is not None:
                    etree.SubElement(fault, "faultactor").text = self.role.text(ctx)
                if self.detail is not None:
                    self._detail(etree.SubElement(fault, "detail"), ctx)
            else:
                code_element = etree.SubElement(fault, f"{{{ns}}}Code")
                etree.SubElement(code_element, f"{{{ns}}}Value").text = code
                reason_element = etree.SubElement(fault, f"{{{ns}}}Reason")
                text = etree.SubElement(reason_element, f"{{{ns}}}Text")
                text.text = reason
                text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
                if self.node is not None:
                    etree.SubElement(fault, f"{{{ns}}}Node").text = self.node.text(ctx)
                if self.role is not None:
                    etree.SubElement(fault, f"{{{ns}}}Role").text = self.role.text(ctx)
                if self.detail is not None:
                    self._detail(etree.SubElement(fault, f"{{{ns}}}Detail"), ctx)
            ctx.payload.set_envelope(envelope)
        message_type = {"soap11": "text/xml", "soap12": "application/soap+xml"}.get(
            self.version, "application/xml"
        )
        ctx.axis2["messageType"] = message_type
        ctx.axis2["ContentType"] = message_type
        if self.response:
            ctx.properties["RESPONSE"] = "true"
        self.record(ctx, f"makefault ({self.version}): {reason!r}")
        return True

    def _detail(self, element: etree._Element, ctx: MessageContext) -> None:
        assert self.detail is not None
        if self.detail.element is not None:
            element.append(copy.deepcopy(self.detail.element))
        else:
            element.text = self.detail.text(ctx)


def _fault_code(code: str, ns: str) -> str:
    prefix, sep, local = code.partition(":")
    if sep and prefix.startswith("soap"):
        return f"soapenv:{local}"
    return code if sep else f"soapenv:{code}"


def _fault_part(element: etree._Element, source: Source, what: str) -> FaultPart:
    check_attributes(element, ("value", "expression"), source, what)
    children = child_elements(element)
    if element.get("value") is not None:
        return FaultPart(element.get("value"), None, None)
    if element.get("expression") is not None:
        return FaultPart(None, source.expression(element, "expression"), None)
    if children:
        return FaultPart(None, None, copy.deepcopy(children[0]))
    text = (element.text or "").strip()
    if text:
        return FaultPart(text, None, None)
    raise source.error(element, f"<{what}> needs a value or an expression")


@builds("makefault")
def build_makefault(element: etree._Element, source: Source) -> Mediator:
    check_attributes(
        element, ("version", "response", "description"), source, "makefault"
    )
    version = attribute_choice(
        element, "version", ("soap11", "soap12", "pox"), "soap11", source
    )
    parts: dict[str, FaultPart] = {}
    for child in child_elements(element):
        name = synapse_name(child, source)
        if name not in ("code", "reason", "node", "role", "detail"):
            raise source.error(child, f"<makefault> may not hold <{name}>")
        parts[name] = _fault_part(child, source, name)
    if version != "pox" and "code" not in parts:
        raise source.error(element, "<makefault> needs a <code>")
    if "reason" not in parts:
        raise source.error(element, "<makefault> needs a <reason>")
    return MakeFault(
        source.file,
        element.sourceline,
        version,
        parts.get("code", FaultPart("Server", None, None)),
        parts["reason"],
        parts.get("node"),
        parts.get("role"),
        parts.get("detail"),
        element.get("response", "false") == "true",
    )
