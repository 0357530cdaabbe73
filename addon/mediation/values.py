"""Java-typed property values and the way Synapse turns them into text.

A property may hold a string, or with `type=` a Java Integer, Long, Short, Double,
Float, Boolean, an XML element (OM) or a Gson JSON element. Python values stand for
them: `int` for INTEGER/LONG/SHORT, `float` for DOUBLE, `JavaFloat` for FLOAT, `bool`,
an lxml element and `JsonValue`. The text of a value is Java's `toString()`:

- Integer 3 prints `3`, Double 3 prints `3.0`, Float 1.1 prints `1.1` (not 1.100000023...);
- a Boolean prints `true`/`false`; a JSON element prints as compact JSON.

Conversions follow Synapse's PropertyMediator: BOOLEAN is true only for `true` (any
case), `yes` (any case) and `1`; INTEGER/SHORT parse a decimal integer, and since
engine 4.0.0-wso2v131 an expression result with a `.` is truncated (`3.7` is 3).
"""

from __future__ import annotations

import copy
import json
import math
import struct
from typing import Any

from lxml import etree

DATA_TYPES = (
    "STRING",
    "INTEGER",
    "BOOLEAN",
    "DOUBLE",
    "FLOAT",
    "LONG",
    "SHORT",
    "OM",
    "JSON",
)

_INT_RANGES = {
    "INTEGER": (-(2**31), 2**31 - 1),
    "SHORT": (-(2**15), 2**15 - 1),
    "LONG": (-(2**63), 2**63 - 1),
}


class JavaFloat(float):
    """A Java `float` (32 bits); prints with the fewest digits that read back the same."""

    __slots__ = ()

    def __new__(cls, value: float) -> JavaFloat:
        return super().__new__(cls, struct.unpack("f", struct.pack("f", value))[0])


class JsonValue:
    """A Gson JSON element held by a property of type JSON."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def text(self) -> str:
        return json.dumps(self.value, separators=(",", ":"), ensure_ascii=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonValue) and other.value == self.value

    def __repr__(self) -> str:
        return f"JsonValue({self.text()})"


class ConversionError(ValueError):
    """A value that cannot be converted to the requested property type."""


def java_double(value: float) -> str:
    """Format `value` as Java's Double.toString does (`3.0`, `1.0E7`, `NaN`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1, value) < 0 else "0.0"
    return _java_decimal(repr(float(value)), abs(value))


def java_float(value: float) -> str:
    """Format a 32-bit float as Java's Float.toString does (`1.1`, not `1.100000023...`)."""
    if math.isnan(value) or math.isinf(value) or value == 0:
        return java_double(value)
    packed = struct.pack("f", value)
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.pack("f", float(text)) == packed:
            return _java_decimal(repr(float(text)), abs(value))
    return java_double(value)


def _java_decimal(shortest: str, magnitude: float) -> str:
    # Java writes plain notation from 10^-3 up to 10^7, and d.dddE±n outside it.
    mantissa, _, exponent = shortest.lower().partition("e")
    digits = mantissa.lstrip("-").replace(".", "").lstrip("0") or "0"
    digits = digits.rstrip("0") or "0"
    sign = "-" if shortest.startswith("-") else ""
    power = math.floor(math.log10(magnitude)) if magnitude else 0
    # Correct the power when log10 rounds across a power of ten.
    if float(f"1e{power}") > magnitude:
        power -= 1
    if 1e-3 <= magnitude < 1e7:
        if power >= 0:
            whole = digits[: power + 1].ljust(power + 1, "0")
            fraction = digits[power + 1 :] or "0"
        else:
            whole = "0"
            fraction = "0" * (-power - 1) + digits
        return f"{sign}{whole}.{fraction}"
    fraction = digits[1:] or "0"
    return f"{sign}{digits[0]}.{fraction}E{power}"


def xml_text(element: etree._Element) -> str:
    """Serialise an element as Axiom prints it: only the namespaces it uses."""
    if element.getparent() is None and not element.nsmap:
        return etree.tostring(element, encoding="unicode", with_tail=False)
    copied = copy.deepcopy(element)
    etree.cleanup_namespaces(copied)
    return etree.tostring(copied, encoding="unicode", with_tail=False)


def java_string(value: Any) -> str | None:
    """Return `value` as Java's `toString()` prints it; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, JavaFloat):
        return java_float(value)
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, JsonValue):
        return value.text()
    if isinstance(value, etree._Element):
        return xml_text(value)
    return str(value)


def is_true_explicitly(text: str | None) -> bool:
    """Axis2's JavaUtils.isTrueExplicitly: `true`, `yes` (any case) or `1`."""
    if text is None:
        return False
    return text.lower() in ("true", "yes") or text == "1"


def _parse_int(text: str, data_type: str, truncate: bool) -> int:
    stripped = text
    try:
        if truncate and "." in stripped:
            number = int(float(stripped))
        else:
            if (
                not stripped
                or not stripped.lstrip("+-").isdigit()
                or stripped.count("-") > 1
            ):
                raise ValueError
            number = int(stripped)
    except ValueError:
        raise ConversionError(f"{text!r} is not a valid {data_type}") from None
    low, high = _INT_RANGES[data_type]
    if not low <= number <= high:
        raise ConversionError(f"{text!r} is out of range for {data_type}")
    return number


def _parse_float(text: str, data_type: str) -> float:
    stripped = text.strip()
    if stripped in ("NaN", "Infinity", "+Infinity", "-Infinity"):
        return float(stripped.replace("Infinity", "inf"))
    if not stripped or any(c.isalpha() and c not in "eEdDfF" for c in stripped):
        raise ConversionError(f"{text!r} is not a valid {data_type}")
    try:
        return float(stripped.rstrip("dDfF"))
    except ValueError:
        raise ConversionError(f"{text!r} is not a valid {data_type}") from None


def parse_om(text: str) -> etree._Element:
    """Parse XML text into an element, with DTDs and entities off."""
    from .xmlparse import parse_fragment

    return parse_fragment(text)


def parse_json(text: str) -> JsonValue | None:
    """Parse as Gson does: JSON text, else the text as a JSON string, else None."""
    try:
        return JsonValue(json.loads(text))
    except ValueError:
        pass
    try:
        return JsonValue(json.loads(f'"{text}"'))
    except ValueError:
        return None


def convert(text: str | None, data_type: str, *, from_expression: bool) -> Any:
    """Convert the text of a literal or an expression result to `data_type`.

    Raises ConversionError when the text is not a valid value of the type.
    """
    if data_type == "STRING":
        return text
    if data_type == "BOOLEAN":
        return is_true_explicitly(text)
    if text is None:
        if data_type in ("OM", "JSON"):
            return None
        raise ConversionError(f"a null value cannot be converted to {data_type}")
    if data_type in _INT_RANGES:
        truncate = from_expression and data_type != "LONG"
        return _parse_int(
            text.strip() if from_expression else text, data_type, truncate
        )
    if data_type == "DOUBLE":
        return _parse_float(text, data_type)
    if data_type == "FLOAT":
        return JavaFloat(_parse_float(text, data_type))
    if data_type == "OM":
        try:
            return parse_om(text)
        except ValueError as e:
            raise ConversionError(
                f"{text[:40]!r} is not well-formed XML: {e}"
            ) from None
    if data_type == "JSON":
        return parse_json(text)
    raise ConversionError(f"unknown type {data_type!r}")
