"""Compile Synapse expressions once, at load: XPath 1.0 with Synapse's functions.

An expression is tokenised first, which lets the loader reject functions and variables
this gateway does not implement, with the expression in the message. Shapes whose
result is provably the same without an XPath engine (a string literal, a lone
`get-property`, a lone `$ctx:`/`$trp:`/`$axis2:` variable, and `concat` of those) run
as plain Python. Everything else is rewritten for lxml and compiled into an
`etree.XPath` object.

Value rules kept from Synapse (its XPath engine is Jaxen):

- A lone variable or `get-property` call that finds nothing yields null (None here),
  which mediators treat differently from the empty string.
- Inside a function, null reads as the empty string.
- A number at the top level of an expression prints as a Java double (`3.0`), while
  XPath's own string conversion inside `concat` prints `3`.
- Function names match by local name, so `fn:concat` and `synapse:get-property` work.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from ..context import MessageContext
from ..errors import ConfigError, MediationFault
from .properties import (
    READABLE_SCOPES,
    SCOPE_WORDS,
    VARIABLE_SCOPES,
    get_property,
    get_variable,
)

MAX_EXPRESSION_LENGTH = 4096

_INTERNAL_PREFIX = "__gateway"
_INTERNAL_NS = "urn:wso2-gateway-emulator:internal"

XPATH_CORE_FUNCTIONS = frozenset(
    {
        "boolean", "ceiling", "concat", "contains", "count", "false", "floor", "id",
        "lang", "last", "local-name", "name", "namespace-uri", "normalize-space", "not",
        "number", "position", "round", "starts-with", "string", "string-length",
        "substring", "substring-after", "substring-before", "sum", "translate", "true",
    }
)
SYNAPSE_FUNCTIONS = frozenset({"get-property"})
NODE_TYPES = frozenset({"node", "text", "comment", "processing-instruction"})
OPERATOR_NAMES = frozenset({"and", "or", "mod", "div"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>"[^"]*"|'[^']*')
    | (?P<number>\d+(?:\.\d*)?|\.\d+)
    | (?P<variable>\$(?:[A-Za-z_][\w.\-]*:)?[A-Za-z_][\w.\-]*)
    | (?P<axis>[A-Za-z_][\w.\-]*(?=\s*::))
    | (?P<name>(?:[A-Za-z_][\w.\-]*:)?(?:[A-Za-z_][\w.\-]*|\*))
    | (?P<operator>//|::|\.\.|!=|<=|>=|[/()\[\]@,|+\-=<>*.])
    """,
    re.VERBOSE,
)

# After these tokens a name is a name and `*` is a wildcard; after anything else
# `and`/`or`/`mod`/`div` are operators and `*` multiplies (XPath 1.0, section 3.7).
_OPERAND_EXPECTED_AFTER = frozenset(
    {"@", "::", "(", "[", ",", "/", "//", "|", "+", "-", "=", "!=", "<", "<=", ">", ">=",
     "and", "or", "mod", "div", "*"}
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str


def tokenize(text: str) -> list[Token]:
    """Split an XPath expression into tokens, or raise ValueError at the first bad one."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"unexpected character {text[position]!r} at offset {position}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group()))
        position = match.end()
    _mark_operators(tokens)
    return tokens


def _mark_operators(tokens: list[Token]) -> None:
    previous: Token | None = None
    for index, token in enumerate(tokens):
        operand_expected = previous is None or previous.text in _OPERAND_EXPECTED_AFTER
        if token.kind == "name" and not operand_expected:
            if token.text in OPERATOR_NAMES or token.text == "*":
                tokens[index] = token = Token("operator", token.text)
        elif token.kind == "operator" and token.text == "*" and operand_expected:
            tokens[index] = token = Token("name", "*")
        previous = token


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def _unquote(token: Token) -> str:
    return token.text[1:-1]


def java_double(value: float) -> str:
    """Format `value` as Java's Double.toString does (`3.0`, `1.0E7`, `NaN`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1, value) < 0 else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(value)
        if "e" in text or "E" in text:
            text = f"{value:.17f}".rstrip("0")
        return text if "." in text else text + ".0"
    mantissa, _, exponent = f"{value:.16e}".partition("e")
    digits = repr(float(mantissa))
    return f"{digits}E{int(exponent)}"


def xpath_string(value: Any) -> str:
    """Convert a value to a string as XPath's string() does inside a function call."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        if number == int(number):
            return str(int(number))
        return repr(number)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return node_text(value[0]) if value else ""
    return str(value)


def node_text(node: Any) -> str:
    """Return a node's text as Synapse's string conversion does (direct text only)."""
    if isinstance(node, str):
        return node
    if isinstance(node, etree._Element):
        return (node.text or "") + "".join(child.tail or "" for child in node)
    return str(node)


def top_level_string(value: Any) -> str | None:
    """Convert the result of a whole expression to the string a mediator receives."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "".join(node_text(node) for node in value)
    return str(value)


class Expression:
    """A compiled expression; `evaluate` returns a string, a typed value or None."""

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source

    def evaluate(self, ctx: MessageContext) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"


class Literal(Expression):
    __slots__ = ("value",)

    def __init__(self, source: str, value: str) -> None:
        super().__init__(source)
        self.value = value

    def evaluate(self, ctx: MessageContext) -> Any:
        return self.value


class PropertyLookup(Expression):
    """`get-property('scope', 'name')` with literal arguments."""

    __slots__ = ("scope", "name")

    def __init__(self, source: str, scope: str, name: str) -> None:
        super().__init__(source)
        self.scope = scope
        self.name = name

    def evaluate(self, ctx: MessageContext) -> Any:
        return get_property(ctx, self.scope, self.name)


class VariableLookup(PropertyLookup):
    """`$ctx:name`, `$trp:name` or `$axis2:name`."""

    __slots__ = ()

    def evaluate(self, ctx: MessageContext) -> Any:
        return get_variable(ctx, self.scope, self.name)


class Concat(Expression):
    """`concat(...)` of simple parts; its result is a string, never null."""

    __slots__ = ("parts",)

    def __init__(self, source: str, parts: Sequence[Expression]) -> None:
        super().__init__(source)
        self.parts = tuple(parts)

    def evaluate(self, ctx: MessageContext) -> Any:
        return "".join(xpath_string(part.evaluate(ctx)) for part in self.parts)


_state = threading.local()


def _current() -> MessageContext:
    return _state.ctx


def _xpath_get_property(_context: Any, *args: Any) -> Any:
    texts = [xpath_string(arg) for arg in args]
    ctx = _current()
    if not texts:
        return ""
    if len(texts) == 1:
        value = get_property(ctx, "default", texts[0])
    elif texts[0] in SCOPE_WORDS:
        if texts[0] not in READABLE_SCOPES:
            raise MediationFault(f"get-property scope {texts[0]!r} is not supported")
        value = get_property(ctx, texts[0], texts[1])
    else:
        value = get_property(ctx, "default", texts[0])
    return _to_xpath(value)


def _xpath_variable(_context: Any, scope: str, name: str) -> Any:
    return _to_xpath(get_variable(_current(), scope, name))


def _to_xpath(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (str, bool, float)):
        return value
    if isinstance(value, int):
        return float(value)
    return str(value)


_EXTENSIONS = {
    (None, "get-property"): _xpath_get_property,
    (_INTERNAL_NS, "variable"): _xpath_variable,
}

# XPath needs a context node. Until a sequence reads the payload, it is evaluated
# against an empty SOAP 1.1 envelope, which is what Synapse holds for a bodiless call.
_EMPTY_ENVELOPE = etree.fromstring(
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body/></soapenv:Envelope>"
)


class XPathExpression(Expression):
    """An expression evaluated by lxml, with Synapse's functions as extensions."""

    __slots__ = ("_xpath",)

    def __init__(self, source: str, xpath: etree.XPath) -> None:
        super().__init__(source)
        self._xpath = xpath

    def evaluate(self, ctx: MessageContext) -> Any:
        previous = getattr(_state, "ctx", None)
        _state.ctx = ctx
        try:
            result = self._xpath(_EMPTY_ENVELOPE)
        except etree.XPathError as e:
            raise MediationFault(f"cannot evaluate {self.source!r}: {e}") from None
        finally:
            _state.ctx = previous
        return top_level_string(result)


class ExpressionError(ValueError):
    """An expression this gateway cannot compile; the message says why."""


def compile_expression(text: str, namespaces: dict[str, str] | None = None) -> Expression:
    """Compile `text` once; raise ExpressionError for what is not supported."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    if text.strip().startswith("json-eval("):
        raise ExpressionError("json-eval() is not supported yet")
    try:
        tokens = tokenize(text)
    except ValueError as e:
        raise ExpressionError(f"invalid XPath: {e}") from None
    if not tokens:
        raise ExpressionError("expression is empty")
    simple = _compile_simple(text, tokens)
    if simple is not None:
        return simple
    return _compile_xpath(text, tokens, namespaces or {})


def _literal_args(tokens: list[Token]) -> list[str] | None:
    """Return the string arguments of `name ( 'a' , 'b' )`, or None for other shapes."""
    if len(tokens) < 3 or tokens[1].text != "(" or tokens[-1].text != ")":
        return None
    inner = tokens[2:-1]
    if not inner:
        return []
    args = []
    for index, token in enumerate(inner):
        if index % 2 == 0:
            if token.kind != "string":
                return None
            args.append(_unquote(token))
        elif token.text != ",":
            return None
    return args if len(inner) % 2 == 1 else None


def _check_scope(scope: str) -> None:
    if scope not in READABLE_SCOPES:
        raise ExpressionError(
            f"get-property scope {scope!r} is not supported "
            f"(supported: {', '.join(sorted(READABLE_SCOPES))})"
        )


def _property_call(text: str, args: list[str]) -> Expression:
    if not args:
        return Literal(text, "")
    if len(args) == 1 or args[0] not in SCOPE_WORDS:
        name = args[0]
        if name == "SYSTEM_DATE":
            raise ExpressionError("get-property('SYSTEM_DATE') is not supported yet")
        return PropertyLookup(text, "default", name)
    if len(args) == 2:
        _check_scope(args[0])
        return PropertyLookup(text, args[0], args[1])
    raise ExpressionError("get-property with three arguments is not supported yet")


def _variable(text: str, token: Token) -> Expression:
    prefix, _, name = token.text[1:].rpartition(":")
    if not prefix:
        raise ExpressionError(f"variable {token.text} is not supported yet")
    scope = VARIABLE_SCOPES.get(prefix)
    if scope is None:
        raise ExpressionError(
            f"variable prefix ${prefix}: is not supported "
            f"(supported: {', '.join('$' + p + ':' for p in VARIABLE_SCOPES)})"
        )
    return VariableLookup(text, scope, name)


def _split_args(tokens: list[Token]) -> list[list[Token]] | None:
    """Split the tokens between a call's parentheses on its top-level commas."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.text in ("(", "["):
            depth += 1
        elif token.text in (")", "]"):
            depth -= 1
        if token.text == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(token)
    return None if any(not part for part in parts) else parts


def _compile_simple(text: str, tokens: list[Token]) -> Expression | None:
    """Compile the shapes that need no XPath engine, or return None."""
    if len(tokens) == 1:
        token = tokens[0]
        if token.kind == "string":
            return Literal(text, _unquote(token))
        if token.kind == "variable":
            return _variable(text, token)
        return None
    head = tokens[0]
    if head.kind != "name" or len(tokens) < 3 or tokens[1].text != "(":
        return None
    function = _local(head.text)
    if function == "get-property":
        args = _literal_args(tokens)
        return None if args is None else _property_call(text, args)
    if function == "concat" and tokens[-1].text == ")":
        groups = _split_args(tokens[2:-1])
        if groups is None or len(groups) < 2:
            return None
        parts = []
        for group in groups:
            source = " ".join(t.text for t in group)
            part = _compile_simple(source, group)
            if part is None or isinstance(part, Concat):
                return None
            parts.append(part)
        return Concat(text, parts)
    return None


def _compile_xpath(text: str, tokens: list[Token], namespaces: dict[str, str]) -> Expression:
    pieces: list[str] = []
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        is_call = (
            token.kind == "name"
            and following is not None
            and following.text == "("
            and _local(token.text) not in NODE_TYPES
        )
        if is_call:
            pieces.append(_function_name(token.text))
        elif token.kind == "variable":
            lookup = _variable(text, token)
            assert isinstance(lookup, VariableLookup)
            pieces.append(
                f"{_INTERNAL_PREFIX}:variable('{lookup.scope}', '{lookup.name}')"
            )
        elif token.kind == "string" and index >= 2 and _is_scope_argument(tokens, index):
            _check_scope(_unquote(token))
            pieces.append(token.text)
        else:
            pieces.append(token.text)
    rewritten = " ".join(pieces)
    prefixes = {p: uri for p, uri in namespaces.items() if p}
    prefixes[_INTERNAL_PREFIX] = _INTERNAL_NS
    try:
        xpath = etree.XPath(
            rewritten,
            namespaces=prefixes,
            extensions=_EXTENSIONS,
            regexp=False,
            smart_strings=False,
        )
    except etree.XPathSyntaxError as e:
        raise ExpressionError(f"invalid XPath: {e}") from None
    return XPathExpression(text, xpath)


def _is_scope_argument(tokens: list[Token], index: int) -> bool:
    """Whether token `index` is the first of two literal get-property arguments."""
    if tokens[index - 1].text != "(" or _local(tokens[index - 2].text) != "get-property":
        return False
    return (
        index + 2 < len(tokens)
        and tokens[index + 1].text == ","
        and _unquote(tokens[index]) in SCOPE_WORDS
    )


def _function_name(name: str) -> str:
    local = _local(name)
    if local in XPATH_CORE_FUNCTIONS or local in SYNAPSE_FUNCTIONS:
        return local
    raise ExpressionError(f"XPath function {name}() is not supported")


def compile_at(
    text: str,
    *,
    file: str,
    line: int | None,
    column: int | None,
    attribute: str,
    namespaces: dict[str, str] | None = None,
) -> Expression:
    """Compile `text`, turning a failure into a ConfigError at the given location."""
    try:
        return compile_expression(text, namespaces)
    except ExpressionError as e:
        raise ConfigError(
            f"{attribute}=\"{text}\": {e}", file=file, line=line, column=column
        ) from None
