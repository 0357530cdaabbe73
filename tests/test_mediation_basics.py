"""The property mediator, get-property and Synapse's null rules, without a proxy."""

import pytest

from addon.context import MessageContext
from addon.errors import ConfigError, MediationFault
from addon.headers import TransportHeaders
from addon.mediation.library import build_sequence_text
from addon.mediation.payload import Payload
from addon.mediation.expressions import compile_expression
from addon.mediation.values import java_double
from addon.mediation.xmlparse import parse_xml

NS = 'xmlns="http://ws.apache.org/ns/synapse"'


def context(**headers):
    fields = [(k.encode(), v.encode()) for k, v in headers.items()]
    return MessageContext(TransportHeaders.from_fields(fields), "GET", "/ctx/1.0.0/x?a=1")


def sequence(body, name="S"):
    text = f'<sequence {NS} name="{name}">\n{body}\n</sequence>\n'
    return build_sequence_text(text.encode(), "S.xml")


def test_token_exchange_moves_custom_into_authorization():
    """The tutorial sequence: Custom's value becomes Authorization; Custom is removed."""
    ctx = context(Custom="Bearer 1234")
    sequence(
        '<property name="Custom" expression="get-property(\'transport\', \'Custom\')"/>\n'
        '<property name="Authorization" expression="get-property(\'Custom\')" scope="transport"/>\n'
        '<property name="Custom" scope="transport" action="remove"/>'
    ).mediate(ctx)
    assert ctx.headers.get("authorization") == "Bearer 1234"
    assert "Custom" not in ctx.headers
    assert ctx.properties["Custom"] == "Bearer 1234"


def test_default_scope_set_from_nothing_keeps_old_value():
    """Synapse: setting a default-scope property to null is a no-op."""
    ctx = context()
    ctx.properties["p"] = "old"
    sequence('<property name="p" expression="$trp:Missing"/>').mediate(ctx)
    assert ctx.properties["p"] == "old"


def test_transport_set_from_nothing_sends_empty_header():
    """Synapse: a transport property set from null becomes the empty string."""
    ctx = context()
    sequence('<property name="X-A" scope="transport" expression="$ctx:missing"/>').mediate(ctx)
    assert ctx.headers.get("X-A") == ""


def test_transport_headers_keep_first_spelling():
    ctx = context(**{"x-token": "a"})
    sequence('<property name="X-TOKEN" scope="transport" value="b"/>').mediate(ctx)
    assert ctx.headers.to_fields() == [(b"x-token", b"b")]


def test_value_wins_over_expression():
    ctx = context()
    sequence('<property name="p" value="literal" expression="\'expr\'"/>').mediate(ctx)
    assert ctx.properties["p"] == "literal"


def test_trace_records_each_mediator_with_line_and_masks_secrets():
    ctx = context(Custom="Bearer 1234")
    sequence(
        '<property name="Authorization" scope="transport" expression="$trp:Custom"/>'
    ).mediate(ctx)
    step = ctx.trace[-1]
    assert step.file == "S.xml"
    assert step.line == 2
    assert "Bearer ****" in step.summary
    assert "1234" not in step.summary


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("'text'", "text"),
        ("get-property('transport', 'custom')", "Bearer 1234"),
        ("$trp:CUSTOM", "Bearer 1234"),
        ("$ctx:unset", None),
        ("get-property('unset')", None),
        ("get-property('To')", "/ctx/1.0.0/x?a=1"),
        ("get-property('MESSAGE_FORMAT')", "pox"),
        ("fn:concat('a', $ctx:unset, 'b')", "ab"),
        ("concat('x', string-length('abc'))", "x3"),
        ("string-length('abc')", "3.0"),
        ("count(//nothing)", "0.0"),
        ("1 div 4", "0.25"),
        ("true()", "true"),
        ("substring-after($trp:Custom, ' ')", "1234"),
    ],
)
def test_expression_values_follow_synapse(expression, result):
    """Null stays null at the top level; numbers print as Java doubles there, not in concat."""
    assert compile_expression(expression).evaluate(context(Custom="Bearer 1234")) == result


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.0, "3.0"), (0.25, "0.25"), (1e7, "1.0E7"), (-0.0, "-0.0"), (float("nan"), "NaN"),
     (123456.5, "123456.5"), (1e-4, "1.0E-4")],
)
def test_java_double_formatting(value, text):
    assert java_double(value) == text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('<property name="p" scope="synapse" value="x"/>', "property scope 'synapse' is not valid in Synapse"),
        ('<property name="p" foo="x" value="x"/>', "attribute 'foo' of <property> is not supported"),
        ('<property value="x"/>', "needs a non-empty 'name' attribute"),
        ('<property name="p"/>', "needs a value, an expression or an XML child"),
        ('<property name="p" expression="nosuchfn(1)"/>', "XPath function nosuchfn() is not supported"),
        ('<property name="p" expression="$foo:x"/>', "variable prefix $foo: is not supported"),
        ('<property name="p" expression="concat(\'a\'"/>', "invalid XPath"),
        ('<script language="js"/>', "mediator <script> is not supported"),
    ],
)
def test_unsupported_constructs_are_load_errors(body, message):
    """Anything not implemented is rejected at load with file and line, never skipped."""
    with pytest.raises(ConfigError) as caught:
        sequence(body)
    assert message in str(caught.value)
    assert str(caught.value).startswith("S.xml:2:")


def test_doctype_and_entities_are_rejected():
    text = (
        '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        f'<sequence {NS} name="S"><property name="p" value="&x;"/></sequence>'
    )
    with pytest.raises(ConfigError, match="DOCTYPE|entity"):
        parse_xml(text.encode(), "S.xml")


def test_element_outside_synapse_namespace_is_rejected():
    text = '<sequence name="S"><property name="p" value="x"/></sequence>'
    with pytest.raises(ConfigError, match="not the Synapse namespace"):
        build_sequence_text(text.encode(), "S.xml")


def test_base64_decode_replaces_undecodable_bytes():
    """Synapse's base64Decode builds the text with Java's new String: bad bytes become U+FFFD."""
    value = compile_expression("base64Decode($trp:X-B)").evaluate(context(**{"X-B": "/w=="}))

    assert value == "\ufffd"


def test_json_nested_too_deeply_is_invalid_json():
    """JSON deeper than the parser's recursion allows is invalid JSON, never a crash.

    json-eval gives "" for it, as for any invalid JSON; reading it through $body faults.
    """
    ctx = context()
    deep = b'{"a":' + b"[" * 20000 + b"]" * 20000 + b"}"
    ctx.payload = Payload(deep, "application/json")

    assert compile_expression("json-eval($.a)").evaluate(ctx) == ""
    with pytest.raises(MediationFault):
        compile_expression("$body/jsonObject/a").evaluate(ctx)
