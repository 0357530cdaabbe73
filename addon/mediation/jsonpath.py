"""`json-eval(...)`: JSONPath over the JSON payload or over a property, as Synapse does.

Facts from Synapse's SynapseJsonPath (Jayway JsonPath underneath):

- `json-eval` is only valid as a whole expression.
- `json-eval($.a.b)` reads the payload; an XML payload is first converted to JSON as
  the JSON formatter would write it. `json-eval($ctx:p.a.b)` (likewise `$trp:` and
  `$axis2:`) reads the property `p` as JSON and applies `$.a.b` to it.
- The result is "" when the path finds nothing or the payload is not JSON; a string is
  returned without quotes, `null` as `null`, objects and arrays as JSON text. A path
  that can match several values (wildcards, filters, deep scan, slices) returns them as
  a JSON array.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as parse_jsonpath

from ..context import MessageContext
from ..errors import MediationFault
from . import jsonxml
from .expressions import Expression, ExpressionError
from .payload import PayloadError
from .properties import get_variable

_PROPERTY_PATH = re.compile(r"\$(ctx|trp|axis2):([^.\[]+)(.*)", re.DOTALL)
_INDEFINITE = re.compile(r"\*|\.\.|\[\?|\[[^\]]*[,:][^\]]*\]")
_SCOPES = {"ctx": "default", "trp": "transport", "axis2": "axis2"}
_MISSING = object()


def _normalize(value: Any) -> Any:
    if isinstance(value, jsonxml.JsonNumber):
        text = str(value)
        return float(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(value, list):
        return [_normalize(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalize(item) for key, item in value.items()}
    return value


def json_text(value: Any) -> str:
    """Return a JSONPath result as json-eval prints it."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class JsonEval(Expression):
    """A compiled `json-eval(...)` expression."""

    __slots__ = ("path", "definite", "scope", "name")
    reads_payload = True

    def __init__(
        self, source: str, path: str, scope: str | None, name: str | None
    ) -> None:
        super().__init__(source)
        try:
            self.path = parse_jsonpath(path)
        except (JsonPathLexerError, JsonPathParserError, Exception) as e:
            raise ExpressionError(f"invalid JSONPath {path!r}: {e}") from None
        self.definite = not _INDEFINITE.search(path)
        self.scope = scope
        self.name = name

    def _document(self, ctx: MessageContext) -> Any:
        if self.scope is None:
            if not ctx.payload.is_json() and ctx.payload.empty:
                return _MISSING
            try:
                return _normalize(ctx.payload.json_data())
            except PayloadError:
                return _MISSING
        raw = get_variable(ctx, self.scope, self.name or "")
        if raw is None:
            return _MISSING
        if isinstance(raw, str):
            try:
                return json.loads(raw)
            except ValueError:
                return _MISSING
        from .values import JsonValue

        return raw.value if isinstance(raw, JsonValue) else _MISSING

    def value(self, ctx: MessageContext) -> Any:
        return self.evaluate(ctx)

    def evaluate(self, ctx: MessageContext) -> str | None:
        document = self._document(ctx)
        if document is _MISSING:
            return ""
        try:
            matches = [match.value for match in self.path.find(document)]
        except Exception as e:  # jsonpath-ng raises plain exceptions on bad data
            raise MediationFault(f"cannot evaluate {self.source!r}: {e}") from None
        if not matches:
            return ""
        if self.definite:
            return json_text(matches[0])
        return json_text(matches)

    def test(self, ctx: MessageContext) -> bool:
        # In a filter, a json-eval condition holds only when it yields the string "true".
        return self.evaluate(ctx) == "true"


def compile_json_eval(text: str) -> JsonEval:
    """Compile `json-eval(PATH)`; raise ExpressionError when it is malformed."""
    stripped = text.strip()
    if not stripped.endswith(")"):
        raise ExpressionError("json-eval(...) must be the whole expression")
    path = stripped[len("json-eval(") : -1].strip()
    if not path:
        raise ExpressionError("json-eval() needs a JSONPath")
    match = _PROPERTY_PATH.fullmatch(path)
    if match:
        prefix, name, rest = match.groups()
        return JsonEval(text, "$" + rest, _SCOPES[prefix], name)
    if not path.startswith("$"):
        raise ExpressionError(f"JSONPath {path!r} must start with $")
    return JsonEval(text, path, None, None)
