"""The trace of a flow: header difference, masking, comment text and marks."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from conftest import TOKEN_EXCHANGE, tutorial_config
from mitmproxy.test import taddons, tflow

from addon import outcomes, tracing
from addon.credentials import fingerprint
from addon.context import MessageContext
from addon.gateway import METADATA_KEY, Gateway
from addon.headers import TransportHeaders
from addon.replay import RecentRequests


def fields(*pairs: tuple[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((n.encode(), v.encode()) for n, v in pairs)


def test_header_diff_removed_added_changed():
    client = fields(
        ("Accept", "*/*"), ("X-Old", "1"), ("X-Same", "a"), ("x-changed", "1")
    )
    backend = fields(
        ("Accept", "*/*"), ("X-Same", "a"), ("X-Changed", "2"), ("X-New", "n")
    )

    changes = tracing.header_diff(client, backend)

    assert changes == [
        {"name": "X-Old", "change": "removed", "client": ["1"], "backend": []},
        {"name": "x-changed", "change": "changed", "client": ["1"], "backend": ["2"]},
        {"name": "X-New", "change": "added", "client": [], "backend": ["n"]},
    ]


def test_header_diff_lists_every_duplicate_value():
    client = fields(("X-A", "1"), ("X-A", "2"))
    backend = fields(("X-A", "1"))

    [change] = tracing.header_diff(client, backend)

    assert change["client"] == ["1", "2"]
    assert change["backend"] == ["1"]


def test_header_diff_leaves_out_host():
    """mitmproxy's reverse mode rewrites Host before any hook, so it is not compared."""
    client = fields(("Host", "127.0.0.1:9"))
    backend = fields(("Host", "backend:8080"))

    assert tracing.header_diff(client, backend) == []


def test_header_diff_masks_credentials_with_fingerprints():
    """A secret shows as scheme, **** and the fingerprint of its credential."""
    client = fields(
        ("Authorization", "Bearer app-token-value"), ("Custom", "Bearer 1234")
    )
    backend = fields(("Authorization", "Bearer 1234"))

    changes = tracing.header_diff(client, backend)
    text = json.dumps(changes)

    assert "app-token-value" not in text
    assert "1234" not in text.replace(tracing.value_fingerprint("1234"), "")
    authorization, custom = changes
    assert authorization["client"] == [
        f"Bearer **** ({tracing.value_fingerprint('app-token-value')})"
    ]
    assert authorization["backend"] == [
        f"Bearer **** ({tracing.value_fingerprint('1234')})"
    ]
    assert custom["client"] == authorization["backend"]
    assert custom["change"] == "removed"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("X-Api-Key", True),
        ("X-Auth-Token", True),
        ("Cookie", True),
        ("Custom", True),
        ("Accept", False),
        ("Content-Type", False),
        ("X-Request-Id", False),
    ],
)
def test_masked_by_header_name(name, secret):
    displayed = tracing.masked(name, "value-of-header")

    assert (displayed != "value-of-header") is secret


def test_redact_blanks_secret_values_longest_first():
    secrets = tracing.secret_values(
        fields(("Custom", "Bearer 1234"), ("Accept", "text/x"))
    )

    assert secrets == {"Bearer 1234", "1234"}
    assert tracing.redact("property Custom = 'Bearer 1234'", secrets) == (
        "property Custom = '****'"
    )
    assert tracing.redact("text/x", secrets) == "text/x"


def test_every_outcome_has_a_mark():
    names = [
        outcomes.FORWARDED,
        outcomes.REJECTED,
        outcomes.THROTTLED,
        outcomes.MEDIATION_FAULT,
        outcomes.NO_API,
        outcomes.BACKEND_FAILURE,
        outcomes.INTERNAL_ERROR,
        outcomes.REJECTED_AT_EDGE,
        outcomes.PREFLIGHT,
        outcomes.RESOURCE_MISMATCH,
        outcomes.RESPONDED,
        outcomes.DROPPED,
        outcomes.LOOPBACK,
    ]

    assert sorted(outcomes.MARKS) == sorted(names)


def test_outcome_of_wso2_handler():
    """WSO2 builds each error response in a named sequence, which sets the outcome."""
    assert outcomes.outcome_of_handler("_auth_failure_handler_") == outcomes.REJECTED
    assert outcomes.outcome_of_handler("_throttle_out_handler_") == outcomes.THROTTLED
    assert outcomes.outcome_of_handler("fault") == outcomes.MEDIATION_FAULT
    assert outcomes.outcome_of_handler("main") == outcomes.NO_API


def test_render_headline_of_rejected_flow():
    state = {
        "outcome": "rejected",
        "code": "900901",
        "message": "Invalid Credentials",
        "status": 401,
        "api": "A:v1",
        "config_generation": 3,
        "token": "sha256:0123abcd",
    }

    lines = tracing.render(state).splitlines()

    assert lines[0] == "rejected: 900901 Invalid Credentials, status 401"
    assert lines[1] == "API A:v1 · config generation 3"
    assert lines[2] == "token sha256:0123abcd"


def test_render_backend_failure_names_the_error():
    state = {
        "outcome": "backend-failure",
        "error": "Connection refused",
        "backend": "http://x/",
    }

    text = tracing.render(state)

    assert text.startswith("backend-failure: Connection refused\n")
    assert "backend: http://x/" in text


@pytest.fixture
def gateway_in_workspace(workspace, backend):
    workspace.write_config(tutorial_config(backend.url))
    workspace.write_sequence("TokenExchange", TOKEN_EXCHANGE)
    token = workspace.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = Gateway()
    with taddons.context(gateway) as tctx:
        tctx.configure(gateway, gateway_config=str(workspace.config))
        yield gateway, token


def tutorial_flow(token: str | None):
    flow = tflow.tflow()
    flow.request.path = "/testcustomheader/1.0.0"
    flow.request.headers.clear()
    flow.request.data.content = b""  # a GET without a body, as curl sends it
    if token is not None:
        flow.request.headers["Authorization"] = f"Bearer {token}"
    flow.request.headers["Custom"] = "Bearer 1234"
    return flow


def test_forwarded_flow_trace(gateway_in_workspace):
    """The tutorial call: comment, mark and metadata name every decision, no secret."""
    gateway, token = gateway_in_workspace
    flow = tutorial_flow(token)

    gateway.request(flow)

    state = flow.metadata[METADATA_KEY]
    assert flow.marked == ":white_check_mark:"
    assert flow.comment.startswith(
        "forwarded\nAPI TestCustomHeader:v1.0.0 · config generation "
    )
    assert (
        "application DefaultApplication · key type PRODUCTION · tier Gold"
        in flow.comment
    )
    assert "mediator: sequence TokenExchange  [" in flow.comment
    assert "TokenExchange.xml:3]" in flow.comment
    assert state["application"] == "DefaultApplication"
    assert state["token"] == fingerprint(token)
    # activityid is the correlation id the gateway adds; User-Agent becomes Synapse's.
    assert sorted(c["name"] for c in state["headers"]) == [
        "Authorization",
        "Custom",
        "User-Agent",
        "activityid",
    ]
    saved = json.dumps(state)
    assert token not in saved
    assert token not in flow.comment
    assert "1234" not in flow.comment.replace(fingerprint("1234"), "")


def test_response_adds_status_to_comment(gateway_in_workspace):
    gateway, token = gateway_in_workspace
    flow = tutorial_flow(token)
    gateway.request(flow)
    flow.response = tflow.tresp(status_code=200)

    gateway.response(flow)

    assert flow.comment.startswith("forwarded: backend status 200\n")
    assert flow.metadata[METADATA_KEY]["status"] == 200


def test_response_trace_forgotten_request(gateway_in_workspace):
    """A response after the client request left the gateway's memory still hides its secrets."""
    gateway, token = gateway_in_workspace
    flow = tutorial_flow(token)
    gateway.request(flow)
    ctx, _ = gateway.flows.get(flow.id)
    ctx.record("mediator", f"copied {token} into a property")  # a new step to redact
    gateway.recent_requests = RecentRequests()  # as after 2,000 newer flows
    flow.response = tflow.tresp(status_code=200)

    gateway.response(flow)

    assert token not in json.dumps(flow.metadata[METADATA_KEY])
    assert token not in flow.comment
    assert "copied **** into a property" in flow.comment


def test_configured_credential_headers_masked(workspace, backend):
    """An API's own auth_header and api_key_header are credentials in the trace too."""
    workspace.write_config(
        "apis:\n"
        "  - name: Tok\n    context: /tok\n    version: v1\n"
        f"    endpoint: {backend.url}/\n    auth_header: X-Tok\n"
        "  - name: Key\n    context: /key\n    version: v1\n"
        f"    endpoint: {backend.url}/\n    security: [api_key]\n    api_key_header: X-Key\n"
    )
    token = workspace.app_with_token("App", "Tok", "v1")
    with workspace.registry() as registry:
        registry.subscribe("App", "Key", "v1", tier="Gold")
        key = registry.issue_api_key("App")
    gateway = Gateway()
    with taddons.context(gateway) as tctx:
        tctx.configure(gateway, gateway_config=str(workspace.config))
        flows = []
        for path, header, value in (
            ("/tok/v1/x", "X-Tok", f"Bearer {token}"),
            ("/key/v1/x", "X-Key", key),
        ):
            flow = tflow.tflow()
            flow.request.path = path
            flow.request.headers.clear()
            flow.request.data.content = b""
            flow.request.headers[header] = value
            gateway.request(flow)
            flows.append(flow)

    for flow, secret in zip(flows, (token, key)):
        assert flow.metadata[METADATA_KEY]["outcome"] == "forwarded"
        assert secret not in flow.comment
        assert secret not in json.dumps(flow.metadata[METADATA_KEY])
    assert "- X-Tok: Bearer **** (hmac:" in flows[0].comment
    assert "- X-Key: **** (hmac:" in flows[1].comment


def test_rejected_flow_trace(gateway_in_workspace):
    """Unknown token: 900901, a no-entry mark, the fingerprint and never the token."""
    gateway, _ = gateway_in_workspace
    flow = tutorial_flow("not-a-token")

    gateway.request(flow)

    assert flow.response.status_code == 401
    assert flow.marked == ":no_entry:"
    assert flow.comment.startswith("rejected: 900901 Invalid Credentials, status 401\n")
    assert f"auth: unknown token {fingerprint('not-a-token')}: 900901" in flow.comment
    assert "not-a-token" not in flow.comment
    assert "headers" not in flow.metadata[METADATA_KEY]


def test_backend_failure_marks_flow(gateway_in_workspace):
    gateway, token = gateway_in_workspace
    flow = tutorial_flow(token)
    gateway.request(flow)
    flow.error = tflow.terr("Connection refused")

    gateway.error(flow)

    assert flow.marked == ":electric_plug:"
    assert flow.comment.startswith("backend-failure: Connection refused\n")


def test_replay_of_forwarded_flow_sends_it_as_stored(gateway_in_workspace):
    """mitmweb's Replay resends the backend's request; the gateway keeps its trace."""
    gateway, token = gateway_in_workspace
    flow = tutorial_flow(token)
    gateway.request(flow)
    sent = flow.request.get_state()
    flow.is_replay = "request"

    gateway.request(flow)

    state = flow.metadata[METADATA_KEY]
    assert flow.request.get_state() == sent
    assert state["outcome"] == "forwarded"
    assert state["trace"][-1]["stage"] == "replay"


def test_replay_of_rejected_flow_runs_gateway_again(gateway_in_workspace):
    """A rejected flow still holds the client's request, so a replay is checked again."""
    gateway, _ = gateway_in_workspace
    flow = tutorial_flow("not-a-token")
    gateway.request(flow)
    flow.response = None
    flow.is_replay = "request"

    gateway.request(flow)

    assert flow.response.status_code == 401
    assert flow.metadata[METADATA_KEY]["outcome"] == "rejected"


def test_header_fingerprint_is_hmac_sha256():
    """The fingerprint is the HMAC-SHA-256 of the value under the process key."""
    for value in ("1234", "", "é-ünïcode", "x" * 200):
        expected = hmac.new(
            tracing._FINGERPRINT_KEY, value.encode("utf-8"), hashlib.sha256
        ).hexdigest()[:8]

        assert tracing.value_fingerprint(value) == f"hmac:{expected}"


def test_header_fingerprint_is_keyed_not_plain_sha256():
    """A short secret's fingerprint in a saved flow cannot be matched to its SHA-256."""
    displayed = tracing.masked("Custom", "Bearer 1234")

    assert displayed.startswith("Bearer **** (hmac:")
    assert fingerprint("1234")[len("sha256:"):] not in displayed
    assert tracing.masked("Authorization", "Bearer 1234") == displayed


def test_redacted_steps_reused_until_inputs_change():
    """The response hook reuses the request hook's steps only while nothing changed."""
    ctx = MessageContext(headers=TransportHeaders(), method="GET", to="/")
    ctx.record("auth", "token Bearer secret-value")
    client = fields(("Authorization", "Bearer secret-value"))
    backend = fields(("Accept", "*/*"))

    first = tracing.redacted_steps(ctx, (client, backend), ("/",))
    again = tracing.redacted_steps(ctx, (client, backend), ("/",))
    other_headers = tracing.redacted_steps(ctx, ((), backend), ("/",))
    ctx.record("route", "GET /")
    longer = tracing.redacted_steps(ctx, ((), backend), ("/",))

    assert first == [{"stage": "auth", "summary": "token ****"}]
    assert again is first
    assert other_headers is not first
    assert other_headers == [
        {"stage": "auth", "summary": "token Bearer secret-value"}
    ]
    assert len(longer) == 2
