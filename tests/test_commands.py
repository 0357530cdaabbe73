"""The gateway.* commands, called on flows handled by a Gateway addon in-process."""

from __future__ import annotations

import json

import pytest
from conftest import TOKEN_EXCHANGE, tutorial_config
from mitmproxy import exceptions
from mitmproxy.test import taddons, tflow

from addon import pipeline
from addon.commands import GatewayCommands
from addon.credentials import fingerprint
from addon.gateway import METADATA_KEY, Gateway
from addon.replay import RecentRequests

NEW_VERSION = """\
<sequence xmlns="http://ws.apache.org/ns/synapse" name="TokenExchange">
    <property name="Authorization" expression="get-property('transport', 'Custom')"
              scope="transport"/>
    <property name="X-Version" value="2" scope="transport"/>
</sequence>
"""

BROKEN = """\
<sequence xmlns="http://ws.apache.org/ns/synapse" name="TokenExchange">
    <property name="a" value="b"/>
    <script language="js">mc.setProperty("x", 1)</script>
</sequence>
"""


@pytest.fixture
def setup(workspace, backend, monkeypatch):
    monkeypatch.chdir(workspace.root)
    workspace.write_config(tutorial_config(backend.url))
    workspace.write_sequence("TokenExchange", TOKEN_EXCHANGE)
    token = workspace.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = Gateway()
    commands = GatewayCommands(gateway)
    with taddons.context(gateway, commands) as tctx:
        tctx.configure(gateway, gateway_config=str(workspace.config))
        yield workspace, gateway, commands, token


def handled_flow(gateway, token):
    flow = tflow.tflow()
    flow.request.path = "/testcustomheader/1.0.0/items?x=1"
    flow.request.headers.clear()
    flow.request.headers["Authorization"] = f"Bearer {token}"
    flow.request.headers["Custom"] = "Bearer 1234"
    gateway.request(flow)
    return flow


def test_apis_lists_api_endpoint_and_sequence(setup, backend):
    _, _, commands, _ = setup

    text = commands.apis()

    assert "API TestCustomHeader:v1.0.0  (gateway.yaml:2)" in text
    assert "  context    /testcustomheader/1.0.0" in text
    assert f"  production {backend.url}/" in text
    assert "  security   oauth2" in text
    assert "  resource   GET POST PUT DELETE PATCH HEAD /*  (Application & Application User)" in text
    assert "  in         TokenExchange  (sequences/TokenExchange.xml:1)" in text
    assert "  TokenExchange  sequences/TokenExchange.xml:1  3 mediator(s)" in text


def test_trace_shows_text_and_metadata(setup):
    _, gateway, commands, token = setup
    flow = handled_flow(gateway, token)

    text = commands.trace([flow])

    assert text.startswith(f"flow {flow.id}: GET ")
    assert "auth: opaque token " + fingerprint(token) in text
    metadata = json.loads(text.split("metadata:\n", 1)[1])
    assert metadata == flow.metadata[METADATA_KEY]
    assert token not in text


def test_trace_of_flow_the_gateway_never_saw(setup):
    _, _, commands, _ = setup

    text = commands.trace([tflow.tflow()])

    assert text.endswith("not handled by the gateway")


def test_trace_without_http_flow_is_an_error(setup):
    _, _, commands, _ = setup

    with pytest.raises(exceptions.CommandError, match="no HTTP flow selected"):
        commands.trace([])


def test_replay_dry_runs_current_sequence(setup):
    """A changed sequence applies to the dry run; the flow itself is left as it was."""
    workspace, gateway, commands, token = setup
    flow = handled_flow(gateway, token)
    before = flow.request.copy()
    workspace.write_sequence("TokenExchange", NEW_VERSION)
    commands.reload()

    text = commands.replay_dry([flow])

    assert "(dry run, nothing sent)" in text
    assert "would send: GET http" in text
    assert "/items?x=1" in text
    assert "  X-Version: 2" in text
    assert "  Custom: Bearer ****" in text
    assert token not in text
    assert flow.request.get_state() == before.get_state()


def test_replay_dry_of_rejected_flow_shows_the_answer(setup):
    _, gateway, commands, _ = setup
    flow = handled_flow(gateway, "unknown-token")

    text = commands.replay_dry([flow])

    assert "rejected: 900901 Invalid Credentials, status 401" in text
    assert "would answer 401 without calling the backend:" in text
    assert '"code":"900901"' in text


def test_replay_dry_of_forgotten_flow(setup):
    """Past the memory of client requests, the flow's stored request is replayed."""
    _, gateway, commands, token = setup
    gateway.recent_requests = RecentRequests(size=1)
    flow = handled_flow(gateway, token)
    handled_flow(gateway, token)

    text = commands.replay_dry([flow])

    assert "no longer in memory" in text
    assert "no-api: 404 Not Found, status 404" in text


def test_reload_puts_new_sequence_in_force(setup):
    workspace, gateway, commands, _ = setup
    before = gateway.config.generation
    workspace.write_sequence("TokenExchange", NEW_VERSION)

    text = commands.reload()

    assert text.startswith(f"config generation {gateway.config.generation}: 1 API(s)")
    assert gateway.config.generation > before


def test_reload_rejects_broken_sequence_and_keeps_old(setup):
    workspace, gateway, commands, _ = setup
    config = gateway.config
    workspace.write_sequence("TokenExchange", BROKEN)

    with pytest.raises(exceptions.CommandError) as raised:
        commands.reload()

    assert "sequences/TokenExchange.xml:3:5: mediator <script> is not supported" in str(
        raised.value
    )
    assert gateway.config is config


def test_request_in_flight_keeps_its_config(setup, monkeypatch):
    """A reload while a request is in the pipeline leaves that request's config."""
    workspace, gateway, _, token = setup
    old = gateway.config
    workspace.write_sequence("TokenExchange", NEW_VERSION)
    process = pipeline.process

    def process_with_reload(config, *args, **kwargs):
        gateway.reload()
        return process(config, *args, **kwargs)

    monkeypatch.setattr(pipeline, "process", process_with_reload)
    flow = handled_flow(gateway, token)

    assert gateway.config is not old
    assert flow.metadata[METADATA_KEY]["config_generation"] == old.generation
    assert "X-Version" not in flow.request.headers
