"""Unit tests of the mediation interpreter, on top of the conformance suite.

They pin the pieces the end-to-end cases cannot see directly: Java number printing,
the JSON/XML mapping, that the fast paths give the same result as lxml, that the
gateway's error responses built by the default sequences keep their bytes, and the
dry-run command.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from lxml import etree

from addon import answer, cli
from addon.context import MessageContext
from addon.errors import ConfigError, GatewayError, MediationFault
from addon.headers import TransportHeaders
from addon.mediation import jsonxml
from addon.mediation.base import shown_value
from addon.mediation.expressions import (
    Comparison,
    Concat,
    ExpressionError,
    PropertyLookup,
    XPathExpression,
    _compile_xpath,
    compile_expression,
    tokenize,
)
from addon.mediation.library import BUILTIN_FOLDER, DEFAULT_SEQUENCES, SequenceLibrary
from addon.mediation.payload import Payload
from addon.mediation.runner import Answered, mediate_request
from addon.mediation.values import JavaFloat, convert, java_double, java_float

SYNAPSE = "http://ws.apache.org/ns/synapse"


def context(headers=(), **properties) -> MessageContext:
    fields = [(name.encode(), value.encode()) for name, value in headers]
    ctx = MessageContext(
        headers=TransportHeaders.from_fields(fields), method="GET", to="/a?x=1"
    )
    ctx.properties.update(properties)
    return ctx


def library_with(tmp_path: Path, **sequences: str) -> SequenceLibrary:
    for name, body in sequences.items():
        (tmp_path / f"{name}.xml").write_text(
            f'<sequence xmlns="{SYNAPSE}" name="{name}">{body}</sequence>'
        )
    library, errors = SequenceLibrary.load(tmp_path)
    if errors:
        raise errors[0]
    return library


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3.0"),
        (0.1, "0.1"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (1e7, "1.0E7"),
        (12345678.9, "1.23456789E7"),
        (123456.789, "123456.789"),
        (-2.5, "-2.5"),
        (-0.0, "-0.0"),
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
    ],
)
def test_java_double_printing(value, text):
    """Double.toString: plain from 10^-3 to 10^7, E notation outside."""
    assert java_double(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(1.1, "1.1"), (0.1, "0.1"), (3.0, "3.0"), (1e10, "1.0E10")]
)
def test_java_float_printing(value, text):
    """Float.toString prints the shortest text that reads back as the same float."""
    assert java_float(JavaFloat(value)) == text


@pytest.mark.parametrize(
    ("text", "data_type", "expected"),
    [
        ("TRUE", "BOOLEAN", True),
        ("Yes", "BOOLEAN", True),
        ("1", "BOOLEAN", True),
        ("no", "BOOLEAN", False),
        ("42", "INTEGER", 42),
        ("-7", "SHORT", -7),
        ("9999999999", "LONG", 9999999999),
        ("2.5", "DOUBLE", 2.5),
    ],
)
def test_literal_conversion(text, data_type, expected):
    """Literal values convert to their type at load, as PropertyMediatorFactory does."""
    assert convert(text, data_type, from_expression=False) == expected


@pytest.mark.parametrize(
    ("text", "data_type"),
    [("2147483648", "INTEGER"), ("40000", "SHORT"), ("3.5", "INTEGER"), ("", "LONG")],
)
def test_literal_conversion_rejects(text, data_type):
    """Out-of-range or malformed literals are errors (Integer.parseInt semantics)."""
    with pytest.raises(ValueError):
        convert(text, data_type, from_expression=False)


def test_json_xml_round_trip():
    """JSON -> jsonObject -> JSON keeps arrays of one, nulls and special keys."""
    data = jsonxml.loads('{"a":[1],"b":{"c":null},"1x":"y","$k":true,"n":1.50}')
    element = jsonxml.to_element(data)
    assert element.find("_JsonReader_PD_1x").text == "y"
    assert jsonxml.dumps(jsonxml.from_element(element)) == (
        '{"a":[1],"b":{"c":null},"1x":"y","$k":true,"n":1.50}'
    )


def test_json_top_level_array():
    """A top-level JSON array is a jsonArray of jsonElement items."""
    element = jsonxml.to_element(jsonxml.loads("[1,[2]]"))
    assert etree.QName(element).localname == "jsonArray"
    assert jsonxml.dumps(jsonxml.from_element(element)) == "[1,[2]]"


FAST_PATH_EXPRESSIONS = [
    "get-property('p')",
    "get-property('default', 'p')",
    "$ctx:b",
    "$ctx:missing",
    "$trp:X-In",
    "concat($ctx:p, '-', $ctx:n, '-', $ctx:b, '-', $ctx:d, '-', $ctx:missing)",
    "$ctx:p = 'text'",
    "$ctx:p != 'text'",
    "$ctx:missing = ''",
    "$ctx:missing != ''",
    "$ctx:b = 'x'",
    "$ctx:n = '5'",
    "$ctx:n != '5.0'",
    "$ctx:d = '2.5'",
    "'text' = $ctx:p",
]


@pytest.mark.parametrize("text", FAST_PATH_EXPRESSIONS)
def test_fast_paths_match_lxml(text):
    """Each fast path gives exactly what lxml gives for the same expression."""
    fast = compile_expression(text)
    assert isinstance(fast, (PropertyLookup, Concat, Comparison))
    slow = _compile_xpath(text, tokenize(text), {})
    assert isinstance(slow, XPathExpression)
    ctx = context([("X-In", "v")], p="text", n=5, b=False, d=2.5)
    assert fast.evaluate(ctx) == slow.evaluate(ctx) or (
        isinstance(fast, PropertyLookup) and slow.evaluate(ctx) == ""
    )
    assert fast.test(ctx) == slow.test(ctx)


def test_lone_lookup_of_integer_prints_integer():
    """Jaxen hands a lone typed value to toString: INTEGER 5 is "5", DOUBLE 5 is "5.0".

    lxml would print every number as a double, so only the fast path gets this right;
    an INTEGER inside a larger expression is a number like any other.
    """
    ctx = context(n=5, d=5.0)
    assert compile_expression("get-property('default', 'n')").evaluate(ctx) == "5"
    assert compile_expression("$ctx:d").evaluate(ctx) == "5.0"


def test_lone_lookup_of_missing_is_null():
    """A lone get-property or variable that finds nothing is null, not ""."""
    ctx = context()
    assert compile_expression("get-property('missing')").evaluate(ctx) is None
    assert compile_expression("$ctx:missing").evaluate(ctx) is None
    assert compile_expression("$trp:Missing").evaluate(ctx) is None


@pytest.mark.parametrize(
    "text",
    [
        "unknown-function()",
        "$nothing",
        "get-property('file', 'x')",
        "concat('a',",
        "document('x')",
    ],
)
def test_unsupported_expressions_rejected(text):
    """Expressions this gateway cannot run are load errors, never skipped."""
    with pytest.raises(ExpressionError):
        compile_expression(text)


def test_body_not_parsed_unless_read(tmp_path):
    """A sequence that reads only headers leaves the body unparsed."""
    library = library_with(tmp_path, S='<property name="a" expression="$trp:X-In"/>')
    ctx = context([("X-In", "v")])
    ctx.payload = Payload(b"{broken", "application/json")
    mediate_request(ctx, library.get("S"), library, None, None)
    assert ctx.payload.source == "raw"
    assert ctx.payload._envelope is None


def test_sequence_recursion_is_a_fault(tmp_path):
    """A sequence that calls itself ends in a mediation fault, not a crash."""
    library = library_with(tmp_path, Loop='<sequence key="Loop"/>')
    ctx = context()
    with pytest.raises(MediationFault):
        library.get("Loop").mediate(ctx)


def test_fault_answer_through_runner(tmp_path):
    """A mediation fault is answered by the fault sequence (code 0, 500)."""
    library = library_with(tmp_path, S='<sequence key="Nope"/>')
    ctx = context()
    with pytest.raises(Answered) as answered:
        mediate_request(ctx, library.get("S"), library, None, None)
    assert answered.value.response.status == 500
    assert ctx.properties["ERROR_CODE"] == 0


def test_shown_value_masks_credentials():
    """Trace lines mask credential headers and token-like values."""
    assert shown_value("Authorization", "Bearer abc") == "Bearer ****"
    assert shown_value("Other", "Basic dXNlcg==") == "Basic ****"
    assert shown_value("Other", "plain") == "'plain'"


ERRORS = [
    GatewayError(
        "900902",
        "Missing Credentials",
        "Invalid Credentials. Make sure your API invocation call has a header: "
        "'Authorization : Bearer ACCESS_TOKEN'",
        401,
    ),
    GatewayError(
        "900908", "Resource forbidden ", "Access failure for API: /x/1, version: 1", 403
    ),
    answer.no_matching_api(),
    answer.internal_error("flow-1"),
    answer.mediation_fault("something broke"),
    answer.backend_unreachable("refused"),
]


@pytest.mark.parametrize("error", ERRORS, ids=[e.code + e.handler for e in ERRORS])
def test_sequence_answers_keep_builtin_bytes(error):
    """The default sequences build the same bytes as WSO2's answers coded by hand."""
    headers = [
        (b"Host", b"gw"),
        (b"Custom", b"Bearer 1234"),
        (b"Accept", b"*/*"),
        (b"Content-Length", b"0"),
    ]
    built = answer.builtin_response(TransportHeaders.from_fields(headers), error)
    sequenced = answer.error_response(TransportHeaders.from_fields(headers), error)
    assert sequenced.status_code == built.status_code
    assert sequenced.headers.fields == built.headers.fields
    assert sequenced.content == built.content


def test_error_response_falls_back_when_sequence_missing(tmp_path):
    """Without the handler's sequence, the built-in answer is sent."""
    library, _ = SequenceLibrary.load(tmp_path, defaults_from=None)
    error = answer.internal_error("flow-2")
    response = answer.error_response(TransportHeaders(), error, sequences=library)
    assert response.status_code == 500
    assert b"flow-2" in response.content


def test_missing_default_sequence_is_a_load_error(tmp_path):
    """A default sequence that is neither in the folder nor shipped stops the load."""
    defaults = tmp_path / "defaults"
    defaults.mkdir()
    for name in DEFAULT_SEQUENCES[1:]:
        (defaults / f"{name}.xml").write_bytes(
            (BUILTIN_FOLDER / f"{name}.xml").read_bytes()
        )
    folder = tmp_path / "sequences"
    folder.mkdir()
    _, errors = SequenceLibrary.load(folder, defaults_from=defaults)
    assert [str(e) for e in errors] == [
        f"{ConfigError('', file=str(Path(errors[0].file))).location}: default sequence 'fault' "
        "not found (the gateway builds its error responses with it; restore the file)"
    ]


def test_mediate_command_prints_request_and_trace(tmp_path, capsys, monkeypatch):
    """The dry run shows the backend request, masked, and each mediator with its line."""
    (tmp_path / "sequences").mkdir()
    (tmp_path / "sequences" / "TokenExchange.xml").write_bytes(
        (BUILTIN_FOLDER / "TokenExchange.xml").read_bytes()
    )
    (tmp_path / "gateway.yaml").write_text(
        "apis:\n  - name: T\n    context: /t\n    version: v1\n"
        "    endpoint: http://127.0.0.1:9/base\n    in_sequence: TokenExchange\n"
    )
    monkeypatch.chdir(tmp_path)
    status = cli.main(
        [
            "mediate",
            "TokenExchange",
            "--path",
            "/t/v1/items?q=1",
            "--header",
            "Custom: Bearer 1234",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "GET http://127.0.0.1:9/base/items?q=1" in out
    assert "Authorization: Bearer ****" in out
    assert "1234" not in out
    assert "sequences/TokenExchange.xml:3" in out
    assert "property transport:Custom removed" in out


def test_mediate_command_shows_response(tmp_path, capsys, monkeypatch):
    """When the sequence answers, the dry run prints the response."""
    folder = tmp_path / "sequences"
    folder.mkdir()
    (folder / "Answer.xml").write_text(
        f'<sequence xmlns="{SYNAPSE}" name="Answer">'
        '<payloadFactory media-type="json"><format>{"a":1}</format></payloadFactory>'
        '<property name="HTTP_SC" scope="axis2" value="201"/><respond/></sequence>'
    )
    monkeypatch.chdir(tmp_path)
    assert cli.main(["mediate", "Answer"]) == 0
    out = capsys.readouterr().out
    assert "HTTP 201" in out
    assert '{"a":1}' in out


def test_mediate_command_unknown_sequence(tmp_path, capsys, monkeypatch):
    """An unknown sequence is a usage error with exit status 2."""
    (tmp_path / "sequences").mkdir()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["mediate", "Nope"]) == 2
    assert "sequence 'Nope' not found" in capsys.readouterr().err
