"""JSON to XML and back, as WSO2's JSON message builder and formatter map them.

Facts from Synapse's JsonUtil and its StAXON-based reader and writer:

- A JSON object becomes `<jsonObject>` holding one element per key; an array at the top
  becomes `<jsonArray>` holding `<jsonElement>` items.
- An array under a key becomes repeated elements of that name, announced by an
  `<?xml-multiple name?>` processing instruction so the formatter can rebuild the array
  even when it holds one item; an array inside an array becomes a nested `<jsonArray>`.
- A key that starts with a digit gets the prefix `_JsonReader_PD_`; one that starts
  with `$` has the `$` replaced by `_JsonReader_PS_`.
- `null` and `{}` become empty elements; numbers and booleans become their text.
- Back to JSON: text that looks like a number, `true`, `false` or `null` becomes that
  primitive, an empty element becomes `null`, attributes become `@name` keys and text
  beside attributes becomes `$`; repeated names become arrays.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lxml import etree

PRECEDING_DIGIT = "_JsonReader_PD_"
PRECEDING_DOLLAR = "_JsonReader_PS_"
MULTIPLE = "xml-multiple"

_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class JsonNumber(str):
    """A JSON number kept in its original spelling (`1.0` stays `1.0`)."""

    __slots__ = ()


def loads(text: str | bytes) -> Any:
    """Parse JSON, keeping numbers as JsonNumber; raise ValueError if invalid.

    JSON nested deeper than Python's recursion allows is invalid here too.
    """
    try:
        return json.loads(
            text, parse_float=JsonNumber, parse_int=JsonNumber, parse_constant=_reject
        )
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def dumps(value: Any) -> str:
    """Write JSON compactly, numbers in their original spelling."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, JsonNumber):
        return str(value)
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{dumps(str(k))}:{dumps(v)}" for k, v in value.items())
            + "}"
        )
    return json.dumps(str(value), ensure_ascii=False)


def element_name(key: str) -> str:
    """Return the XML element name WSO2 builds for JSON key `key`."""
    if key[:1].isdigit():
        return PRECEDING_DIGIT + key
    if key.startswith("$"):
        return PRECEDING_DOLLAR + key[1:]
    return key


def key_name(name: str) -> str:
    """Return the JSON key for an element name built by `element_name`."""
    if name.startswith(PRECEDING_DIGIT):
        return name[len(PRECEDING_DIGIT) :]
    if name.startswith(PRECEDING_DOLLAR):
        return "$" + name[len(PRECEDING_DOLLAR) :]
    return name


def to_element(value: Any) -> etree._Element:
    """Build the `<jsonObject>` or `<jsonArray>` element for a parsed JSON value."""
    if isinstance(value, list):
        root = etree.Element("jsonArray")
        _add_array(root, "jsonElement", value)
        return root
    root = etree.Element("jsonObject")
    if isinstance(value, dict):
        _add_members(root, value)
    else:
        root.text = _scalar_text(value)
    return root


def _add_members(parent: etree._Element, members: dict[str, Any]) -> None:
    for key, value in members.items():
        name = element_name(str(key))
        if isinstance(value, list):
            _add_array(parent, name, value)
        else:
            _add_value(parent, name, value)


def _add_array(parent: etree._Element, name: str, items: list[Any]) -> None:
    parent.append(etree.ProcessingInstruction(MULTIPLE, name))
    for item in items:
        if isinstance(item, list):
            holder = _sub(parent, name)
            nested = etree.SubElement(holder, "jsonArray")
            _add_array(nested, "jsonElement", item)
        else:
            _add_value(parent, name, item)


def _add_value(parent: etree._Element, name: str, value: Any) -> None:
    element = _sub(parent, name)
    if isinstance(value, dict):
        _add_members(element, value)
    elif value is not None:
        element.text = _scalar_text(value)


def _sub(parent: etree._Element, name: str) -> etree._Element:
    try:
        return etree.SubElement(parent, name)
    except ValueError:
        raise ValueError(
            f"JSON key {key_name(name)!r} is not a valid XML element name"
        ) from None


def _scalar_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def from_element(element: etree._Element) -> Any:
    """Convert an element to JSON data as WSO2's JSON formatter writes it."""
    local = etree.QName(element).localname
    if local == "jsonObject" and not element.attrib:
        value = _value(element)
        return {} if value is None else value
    if local == "jsonArray":
        return _array_items(element)
    return {_field(element): _value(element)}


def _field(element: etree._Element) -> str:
    qname = etree.QName(element)
    local = key_name(qname.localname)
    return f"{element.prefix}_{local}" if element.prefix else local


def _array_items(element: etree._Element) -> list[Any]:
    return [_value(child) for child in element if isinstance(child.tag, str)]


def _value(element: etree._Element) -> Any:
    children = [child for child in element if isinstance(child.tag, str)]
    if (
        len(children) == 1
        and etree.QName(children[0]).localname == "jsonArray"
        and not element.attrib
    ):
        return _array_items(children[0])
    attributes = {f"@{etree.QName(k).localname}": v for k, v in element.attrib.items()}
    if not children:
        text = element.text
        if not attributes:
            return None if not text else _primitive(text)
        if text and text.strip():
            attributes["$"] = _primitive(text)
        return attributes
    forced = {
        node.text.strip()
        for node in element
        if isinstance(node, etree._ProcessingInstruction)
        and node.target == MULTIPLE
        and node.text
    }
    result: dict[str, Any] = dict(attributes)
    counts: dict[str, int] = {}
    for child in children:
        counts[_field(child)] = counts.get(_field(child), 0) + 1
    for child in children:
        name = _field(child)
        value = _value(child)
        if name in forced or counts[name] > 1 or etree.QName(child).localname in forced:
            result.setdefault(name, []).append(value)
        else:
            result[name] = value
    return result


def _primitive(text: str) -> Any:
    if text == "true":
        return True
    if text == "false":
        return False
    if text == "null":
        return None
    if _NUMBER.fullmatch(text):
        return JsonNumber(text)
    return text
