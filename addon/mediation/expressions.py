"""Compile Synapse expressions once, at load: XPath 1.0 with Synapse's functions.

An expression is tokenised first, which lets the loader reject functions and variables
this gateway does not implement, with the expression in the message. Shapes whose
result is provably the same without an XPath engine (a string literal, a lone
`get-property` with literal arguments, a lone `$ctx:`/`$trp:`/`$axis2:`-style variable,
and `concat` of those) run as plain Python. Everything else is rewritten for lxml and
compiled into an `etree.XPath` object. `json-eval(...)` is JSONPath (see `jsonpath`).

Value rules kept from Synapse (its XPath engine is Jaxen):

- A lone variable or `get-property` call that finds nothing yields null (None here),
  which mediators treat differently from the empty string. Inside XPath, null is an
  empty node-set: functions read it as "", and `=` and `!=` against it are both false.
- The result of a whole expression is Java's `toString()` of it: a number prints as a
  Java double (`3.0`), while XPath's own string conversion inside `concat` prints `3`.
  A single element prints its trimmed text, or its XML when it has no text.
- A typed property keeps its type in XPath: a BOOLEAN false is false in a test, while
  the STRING `false` is a non-empty string, so true.
- Function names match by local name, so `fn:concat` and `synapse:get-property` work.
- Only expressions that use a path, `$body`, `$header`, `$env` or `get-property('FAULT')`
  read the payload, so no other expression makes the gateway parse the body.
"""

from __future__ import annotations

import base64
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from lxml import etree

from ..context import MessageContext
from ..errors import ConfigError, MediationFault
from .javadate import check_pattern
from .payload import PayloadError, new_envelope, soap_part
from .properties import (
    READABLE_SCOPES,
    SCOPE_WORDS,
    VARIABLE_SCOPES,
    get_property,
    get_variable,
)
from .values import JavaFloat, JsonValue, java_string, xml_text

MAX_EXPRESSION_LENGTH = 4096

_INTERNAL_PREFIX = "__gateway"
_INTERNAL_NS = "urn:wso2-gateway-emulator:internal"

XPATH_CORE_FUNCTIONS = frozenset(
    {
        "boolean",
        "ceiling",
        "concat",
        "contains",
        "count",
        "false",
        "floor",
        "id",
        "lang",
        "last",
        "local-name",
        "name",
        "namespace-uri",
        "normalize-space",
        "not",
        "number",
        "position",
        "round",
        "starts-with",
        "string",
        "string-length",
        "substring",
        "substring-after",
        "substring-before",
        "sum",
        "translate",
        "true",
    }
)
# Jaxen's extensions to XPath 1.0 and Synapse's own functions, run as Python.
EXTENSION_FUNCTIONS = frozenset(
    {
        "lower-case",
        "upper-case",
        "ends-with",
        "get-property",
        "base64Encode",
        "base64Decode",
        "url-encode",
    }
)
REJECTED_FUNCTIONS = {
    "evaluate": "Jaxen's evaluate() is not supported",
    "document": "document() would read files or URLs; it is not supported",
    "hmac-generate": "hmac-generate() is not supported",
    "encrypt": "encrypt() needs WSO2's key store; it is not supported",
    "decrypt": "decrypt() needs WSO2's key store; it is not supported",
    "vault-lookup": "vault-lookup() needs WSO2's secure vault; it is not supported",
    "url-decode": "url-decode() does not exist in Synapse XPath",
}
NODE_TYPES = frozenset({"node", "text", "comment", "processing-instruction"})
OPERATOR_NAMES = frozenset({"and", "or", "mod", "div"})
ENVELOPE_VARIABLES = ("body", "header", "env")

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
    {
        "@",
        "::",
        "(",
        "[",
        ",",
        "/",
        "//",
        "|",
        "+",
        "-",
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "and",
        "or",
        "mod",
        "div",
        "*",
    }
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
            raise ValueError(
                f"unexpected character {text[position]!r} at offset {position}"
            )
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


def xpath_number_text(number: float) -> str:
    """XPath's string() of a number: `3`, `3.5`, `NaN`, `Infinity`."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == int(number):
        return str(int(number))
    return repr(number)


def xpath_string(value: Any) -> str:
    """Convert a value to a string as XPath's string() does inside a function call."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return xpath_number_text(float(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return node_string_value(value[0]) if value else ""
    if isinstance(value, etree._Element):
        return node_string_value(value)
    return ""


def xpath_boolean(value: Any) -> bool:
    """Convert a value to a boolean as XPath's boolean() does (Jaxen's rules)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, str):
        return bool(value)
    if isinstance(value, list):
        if not value:
            return False
        return (
            xpath_boolean(value[0])
            if not isinstance(value[0], etree._Element)
            else True
        )
    return True


def node_string_value(node: Any) -> str:
    """Return the XPath string-value of a node: all its descendant text."""
    if isinstance(node, str):
        return node
    if isinstance(node, etree._Element):
        return "".join(node.itertext())
    return str(node)


def _element_text(element: etree._Element) -> str:
    return (element.text or "") + "".join(child.tail or "" for child in element)


def top_level_string(value: Any, expression: str = "") -> str | None:
    """Convert the result of a whole expression to the string a mediator receives.

    Follows Synapse's `SynapseXPath.stringValueOf`: a single element yields its own
    text (trimmed), or its XML when it has no text or the expression asks for node().
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, etree._Element):
        value = [value]
    if isinstance(value, list):
        if len(value) == 1 and value[0] is None:
            return None
        single = len(value) == 1 and "node()" not in expression
        parts = []
        for node in value:
            if isinstance(node, etree._Element):
                own = _element_text(node)
                trimmed = own.replace("\u00a0", " ").strip()
                if single and trimmed:
                    parts.append(trimmed)
                else:
                    parts.append(xml_text(node))
            else:
                parts.append(str(node))
        return "".join(parts)
    if isinstance(value, float) and not isinstance(value, JavaFloat):
        return java_string(value)
    return java_string(value)


class Expression:
    """A compiled expression.

    `evaluate` returns the string a mediator receives (or None for null),
    `value` the typed value Jaxen would hand to a function, and `test` the boolean
    a filter sees.
    """

    __slots__ = ("source",)
    reads_payload = False

    def __init__(self, source: str) -> None:
        self.source = source

    def value(self, ctx: MessageContext) -> Any:
        raise NotImplementedError

    def evaluate(self, ctx: MessageContext) -> str | None:
        return top_level_string(self.value(ctx), self.source)

    def test(self, ctx: MessageContext) -> bool:
        return xpath_boolean(self.value(ctx))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"


class Literal(Expression):
    __slots__ = ("literal",)

    def __init__(self, source: str, literal: str) -> None:
        super().__init__(source)
        self.literal = literal

    def value(self, ctx: MessageContext) -> Any:
        return self.literal

    def evaluate(self, ctx: MessageContext) -> str | None:
        return self.literal


class PropertyLookup(Expression):
    """`get-property('scope', 'name')` with literal arguments."""

    __slots__ = ("scope", "name", "date_format")

    def __init__(
        self, source: str, scope: str, name: str, date_format: str | None = None
    ):
        super().__init__(source)
        self.scope = scope
        self.name = name
        self.date_format = date_format

    def value(self, ctx: MessageContext) -> Any:
        return get_property(ctx, self.scope, self.name, self.date_format)

    def evaluate(self, ctx: MessageContext) -> str | None:
        value = get_property(ctx, self.scope, self.name, self.date_format)
        if value is None or isinstance(value, str):
            return value
        return top_level_string(value, self.source)


class VariableLookup(PropertyLookup):
    """`$ctx:name`, `$trp:name`, `$axis2:name` and the other prefixed variables."""

    __slots__ = ()

    def value(self, ctx: MessageContext) -> Any:
        scope = self.scope
        if scope == "default":
            return ctx.properties.get(self.name)
        if scope == "transport":
            return ctx.headers.get(self.name)
        if scope == "axis2":
            return ctx.axis2.get(self.name)
        return get_variable(ctx, scope, self.name)

    def evaluate(self, ctx: MessageContext) -> str | None:
        value = self.value(ctx)
        if value is None or type(value) is str:
            return value
        return top_level_string(value, self.source)


class Comparison(Expression):
    """`simple = 'literal'` or `simple != 'literal'` (either order), XPath 1.0 rules.

    Against null (an empty node-set) both `=` and `!=` are false; a boolean compares
    with the literal's boolean value, a number with its number value, a string or an
    element with the text.
    """

    __slots__ = ("operand", "literal", "negated")

    def __init__(
        self, source: str, operand: Expression, literal: str, negated: bool
    ) -> None:
        super().__init__(source)
        self.operand = operand
        self.literal = literal
        self.negated = negated

    def value(self, ctx: MessageContext) -> Any:
        found = self.operand.value(ctx)
        if found is None:
            return False
        if isinstance(found, bool):
            equal = found == bool(self.literal)
        elif isinstance(found, (int, float)):
            try:
                number = float(self.literal.strip())
            except ValueError:
                number = math.nan
            equal = float(found) == number
            if self.negated:
                return not equal
            return equal
        elif isinstance(found, str):
            equal = found == self.literal
        elif isinstance(found, etree._Element):
            equal = node_string_value(found) == self.literal
        elif isinstance(found, JsonValue):
            equal = found.text() == self.literal
        else:
            equal = str(found) == self.literal
        return equal != self.negated

    def evaluate(self, ctx: MessageContext) -> str | None:
        return "true" if self.value(ctx) else "false"

    def test(self, ctx: MessageContext) -> bool:
        return self.value(ctx)


class Concat(Expression):
    """`concat(...)` of simple parts; its result is a string, never null."""

    __slots__ = ("parts",)

    def __init__(self, source: str, parts: Sequence[Expression]) -> None:
        super().__init__(source)
        self.parts = tuple(parts)

    def value(self, ctx: MessageContext) -> Any:
        return "".join([xpath_string(part.value(ctx)) for part in self.parts])

    def evaluate(self, ctx: MessageContext) -> str | None:
        return "".join([xpath_string(part.value(ctx)) for part in self.parts])


_state = threading.local()


def _current() -> MessageContext:
    return _state.ctx


def _to_xpath(value: Any) -> Any:
    """Hand a property value to lxml as Jaxen would see it; null is an empty node-set."""
    if value is None:
        return []
    if isinstance(value, (str, bool, float)):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, etree._Element):
        return [value]
    if isinstance(value, JsonValue):
        return value.text()
    return str(value)


def _xpath_get_property(_context: Any, *args: Any) -> Any:
    texts = [xpath_string(arg) for arg in args]
    ctx = _current()
    if not texts:
        return ""
    date_format = None
    if len(texts) == 1:
        scope, name = "default", texts[0]
    elif texts[0] in SCOPE_WORDS:
        scope, name = texts[0], texts[1]
        date_format = texts[2] if len(texts) > 2 else None
        if scope not in READABLE_SCOPES:
            raise MediationFault(f"get-property scope {scope!r} is not supported")
    else:
        scope, name, date_format = "default", texts[0], texts[1]
    try:
        return _to_xpath(get_property(ctx, scope, name, date_format))
    except ValueError as e:
        raise MediationFault(f"get-property('{name}'): {e}") from None


def _xpath_variable(_context: Any, scope: str, name: str) -> Any:
    return _to_xpath(get_variable(_current(), scope, name))


def _charset(args: tuple[Any, ...]) -> str:
    charset = xpath_string(args[1]) if len(args) > 1 else "UTF-8"
    try:
        "".encode(charset)
    except LookupError:
        raise MediationFault(f"unsupported charset {charset!r}") from None
    return charset


def _xpath_base64_encode(_context: Any, *args: Any) -> str:
    text = xpath_string(args[0]) if args else ""
    if not text:
        return ""
    return base64.b64encode(text.encode(_charset(args))).decode("ascii").strip()


def _xpath_base64_decode(_context: Any, *args: Any) -> str:
    text = xpath_string(args[0]) if args else ""
    if not text:
        return ""
    charset = _charset(args)
    try:
        decoded = base64.b64decode(text, validate=False)
    except ValueError as e:
        raise MediationFault(f"base64Decode: {e}") from None
    # Java's new String(bytes, charset) puts U+FFFD for bytes the charset cannot decode.
    return decoded.decode(charset, errors="replace").strip()


# commons-httpclient URIUtil.encodePathQuery keeps the characters allowed in a path
# and query: unreserved, sub-delimiters, ':', '@', '/' and '?'.
_URL_SAFE = "-_.!~*'()" + "$&+,;=" + ":@/?"


def _xpath_url_encode(_context: Any, *args: Any) -> str:
    text = xpath_string(args[0]) if args else ""
    if not text:
        return ""
    return quote(text, safe=_URL_SAFE, encoding=_charset(args))


def _xpath_lower_case(_context: Any, value: Any) -> str:
    return xpath_string(value).lower()


def _xpath_upper_case(_context: Any, value: Any) -> str:
    return xpath_string(value).upper()


def _xpath_ends_with(_context: Any, value: Any, suffix: Any) -> bool:
    return xpath_string(value).endswith(xpath_string(suffix))


_EXTENSIONS = {
    (None, "get-property"): _xpath_get_property,
    (None, "base64Encode"): _xpath_base64_encode,
    (None, "base64Decode"): _xpath_base64_decode,
    (None, "url-encode"): _xpath_url_encode,
    (None, "lower-case"): _xpath_lower_case,
    (None, "upper-case"): _xpath_upper_case,
    (None, "ends-with"): _xpath_ends_with,
    (_INTERNAL_NS, "variable"): _xpath_variable,
}

# Expressions that do not read the payload run against this empty SOAP 1.1 envelope,
# which is what Synapse holds for a bodiless call.
_EMPTY_ENVELOPE = new_envelope()


class XPathExpression(Expression):
    """An expression evaluated by lxml, with Synapse's functions as extensions."""

    __slots__ = ("_xpath", "reads_payload", "_variables")

    def __init__(
        self,
        source: str,
        xpath: etree.XPath,
        reads_payload: bool,
        variables: tuple[str, ...],
    ) -> None:
        super().__init__(source)
        self._xpath = xpath
        self.reads_payload = reads_payload
        self._variables = variables

    def value(self, ctx: MessageContext) -> Any:
        previous = getattr(_state, "ctx", None)
        _state.ctx = ctx
        try:
            if self.reads_payload:
                envelope = ctx.payload.envelope()
            else:
                envelope = _EMPTY_ENVELOPE
            if self._variables:
                return self._xpath(
                    envelope, **_envelope_variables(envelope, self._variables)
                )
            return self._xpath(envelope)
        except PayloadError as e:
            raise MediationFault(f"cannot evaluate {self.source!r}: {e}") from None
        except etree.XPathError as e:
            raise MediationFault(f"cannot evaluate {self.source!r}: {e}") from None
        finally:
            _state.ctx = previous


def _envelope_variables(
    envelope: etree._Element, names: tuple[str, ...]
) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for name in names:
        if name == "env":
            variables[name] = envelope
        else:
            part = soap_part(envelope, "Body" if name == "body" else "Header")
            variables[name] = [] if part is None else part
    return variables


class ExpressionError(ValueError):
    """An expression this gateway cannot compile. The message gives the reason."""


def compile_expression(
    text: str, namespaces: dict[str, str] | None = None
) -> Expression:
    """Compile `text` once; raise ExpressionError for what is not supported."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression is longer than {MAX_EXPRESSION_LENGTH} characters"
        )
    stripped = text.strip()
    if stripped.startswith("json-eval("):
        from .jsonpath import compile_json_eval

        return compile_json_eval(text)
    if "json-eval(" in stripped:
        raise ExpressionError("json-eval() must be the whole expression, as in Synapse")
    if stripped.startswith("${"):
        raise ExpressionError(
            "Synapse Expressions (${...}) need a newer engine than WSO2 API Manager's; "
            "use XPath or json-eval()"
        )
    try:
        tokens = tokenize(text)
    except ValueError as e:
        raise ExpressionError(f"invalid XPath: {e}") from None
    if not tokens:
        raise ExpressionError("expression is empty")
    for opening, closing in (("(", ")"), ("[", "]")):
        if sum(t.text == opening for t in tokens) != sum(
            t.text == closing for t in tokens
        ):
            raise ExpressionError(f"invalid XPath: unbalanced {opening}{closing}")
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
    if scope == "registry":
        raise ExpressionError(
            "get-property scope 'registry' needs WSO2's registry, which this gateway does "
            "not have; put the value in a property instead"
        )
    if scope == "file":
        raise ExpressionError(
            "get-property scope 'file' (file.properties) is not supported; "
            "use get-property('env', NAME) or a property"
        )
    if scope not in READABLE_SCOPES:
        raise ExpressionError(
            f"get-property scope {scope!r} is not supported "
            f"(supported: {', '.join(sorted(READABLE_SCOPES))})"
        )


def _check_date_format(name: str, date_format: str | None) -> None:
    if name == "SYSTEM_DATE" and date_format is not None:
        try:
            check_pattern(date_format)
        except ValueError as e:
            raise ExpressionError(f"SYSTEM_DATE pattern {date_format!r}: {e}") from None


def _property_call(text: str, args: list[str]) -> Expression:
    if not args:
        return Literal(text, "")
    if len(args) == 1:
        return PropertyLookup(text, "default", args[0])
    if args[0] not in SCOPE_WORDS:
        _check_date_format(args[0], args[1])
        return PropertyLookup(text, "default", args[0], args[1])
    _check_scope(args[0])
    date_format = args[2] if len(args) > 2 else None
    _check_date_format(args[1], date_format)
    return PropertyLookup(text, args[0], args[1], date_format)


def _variable(text: str, token: Token) -> Expression | None:
    """Compile a prefixed variable, or return None for `$body`, `$header` and `$env`."""
    prefix, _, name = token.text[1:].rpartition(":")
    if not prefix:
        if name in ENVELOPE_VARIABLES:
            return None
        raise ExpressionError(
            f"variable {token.text} is not defined "
            "(use $body, $header, $env or a prefixed variable such as $ctx:name)"
        )
    scope = VARIABLE_SCOPES.get(prefix)
    if scope is None:
        hint = (
            "; Synapse variables ($var:) need a newer engine" if prefix == "var" else ""
        )
        raise ExpressionError(
            f"variable prefix ${prefix}: is not supported "
            f"(supported: {', '.join('$' + p + ':' for p in VARIABLE_SCOPES)}{hint})"
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
    comparison = _compile_comparison(text, tokens)
    if comparison is not None:
        return comparison
    head = tokens[0]
    if head.kind != "name" or len(tokens) < 3 or tokens[1].text != "(":
        return None
    function = _local(head.text)
    if function == "get-property":
        args = _literal_args(tokens)
        if args is None or (len(args) == 1 and args[0] == "FAULT"):
            return None
        return _property_call(text, args)
    if function == "concat" and tokens[-1].text == ")" and _closes_at_end(tokens):
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


def _compile_comparison(text: str, tokens: list[Token]) -> Expression | None:
    """Compile `simple (=|!=) 'literal'` in either order, or return None."""
    depth = 0
    operators = []
    for index, token in enumerate(tokens):
        if token.text in ("(", "["):
            depth += 1
        elif token.text in (")", "]"):
            depth -= 1
        elif depth == 0 and token.kind == "operator":
            operators.append(index)
    if len(operators) != 1 or tokens[operators[0]].text not in ("=", "!="):
        return None
    index = operators[0]
    left, right = tokens[:index], tokens[index + 1 :]
    negated = tokens[index].text == "!="
    for operand_tokens, literal_tokens in ((left, right), (right, left)):
        if (
            len(literal_tokens) == 1
            and literal_tokens[0].kind == "string"
            and operand_tokens
        ):
            if len(operand_tokens) == 1 and operand_tokens[0].kind == "string":
                return None
            operand = _compile_simple(
                " ".join(t.text for t in operand_tokens), operand_tokens
            )
            if isinstance(operand, (PropertyLookup, Concat, Literal)):
                return Comparison(text, operand, _unquote(literal_tokens[0]), negated)
            return None
    return None


def _closes_at_end(tokens: list[Token]) -> bool:
    """Return whether the parenthesis opened at token 1 closes at the last token."""
    depth = 0
    for index, token in enumerate(tokens[1:], start=1):
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
            if depth == 0:
                return index == len(tokens) - 1
    return False


def _compile_xpath(
    text: str, tokens: list[Token], namespaces: dict[str, str]
) -> Expression:
    pieces: list[str] = []
    reads_payload = False
    variables: list[str] = []
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        is_call = (
            token.kind == "name"
            and following is not None
            and following.text == "("
            and _local(token.text) not in NODE_TYPES
        )
        if is_call:
            name = _function_name(token.text)
            if name == "get-property" and _literal_args_from(tokens, index) == [
                "FAULT"
            ]:
                reads_payload = True
            pieces.append(name)
        elif token.kind == "variable":
            lookup = _variable(text, token)
            if lookup is None:
                name = token.text[1:]
                reads_payload = True
                if name not in variables:
                    variables.append(name)
                pieces.append(token.text)
            else:
                assert isinstance(lookup, VariableLookup)
                pieces.append(
                    f"{_INTERNAL_PREFIX}:variable('{lookup.scope}', '{lookup.name}')"
                )
        elif (
            token.kind == "string" and index >= 2 and _is_scope_argument(tokens, index)
        ):
            _check_scope(_unquote(token))
            pieces.append(token.text)
        else:
            if token.kind in ("name", "axis") or token.text in (
                "/",
                "//",
                ".",
                "..",
                "@",
            ):
                reads_payload = True
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
    expression = XPathExpression(text, xpath, reads_payload, tuple(variables))
    _trial_run(expression)
    return expression


# lxml finds some syntax errors (a missing argument, an unclosed call) only when an
# expression runs, so each one is run once at load on an empty message.
_SYNTAX_ERRORS = (
    "Invalid expression",
    "Invalid number of arguments",
    "Unfinished literal",
    "Invalid predicate",
    "Undefined namespace prefix",
)


def _trial_run(expression: XPathExpression) -> None:
    from ..headers import TransportHeaders

    ctx = MessageContext(headers=TransportHeaders(), method="GET", to="")
    previous = getattr(_state, "ctx", None)
    _state.ctx = ctx
    try:
        variables = _envelope_variables(_EMPTY_ENVELOPE, expression._variables)
        expression._xpath(_EMPTY_ENVELOPE, **variables)
    except etree.XPathEvalError as e:
        if any(message in str(e) for message in _SYNTAX_ERRORS):
            raise ExpressionError(f"invalid XPath: {e}") from None
    except Exception:  # noqa: S110 - run-time failures depend on the message, not the syntax
        pass
    finally:
        _state.ctx = previous


def _literal_args_from(tokens: list[Token], index: int) -> list[str] | None:
    """Return the literal arguments of the call starting at token `index`, if any."""
    depth = 0
    for end in range(index + 1, len(tokens)):
        if tokens[end].text == "(":
            depth += 1
        elif tokens[end].text == ")":
            depth -= 1
            if depth == 0:
                return _literal_args(tokens[index : end + 1])
    return None


def _is_scope_argument(tokens: list[Token], index: int) -> bool:
    """Return whether token `index` is the first of two literal get-property arguments."""
    if (
        tokens[index - 1].text != "("
        or _local(tokens[index - 2].text) != "get-property"
    ):
        return False
    return (
        index + 2 < len(tokens)
        and tokens[index + 1].text == ","
        and _unquote(tokens[index]) in SCOPE_WORDS
    )


def _function_name(name: str) -> str:
    local = _local(name)
    if local in XPATH_CORE_FUNCTIONS or local in EXTENSION_FUNCTIONS:
        return local
    if local in REJECTED_FUNCTIONS:
        raise ExpressionError(REJECTED_FUNCTIONS[local])
    if local == "json-eval":
        raise ExpressionError("json-eval() must be the whole expression, as in Synapse")
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
            f'{attribute}="{text}": {e}', file=file, line=line, column=column
        ) from None
