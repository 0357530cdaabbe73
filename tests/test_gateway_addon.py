"""The hook boundary, called directly on mitmproxy test flows."""

import pytest
from mitmproxy.test import taddons, tflow, tutils

from addon import pipeline
from addon.gateway import Gateway, point_at_backend
from addon.headers import TransportHeaders
from addon.store import Registry


@pytest.fixture
def gateway(tmp_path):
    (tmp_path / "sequences").mkdir()
    (tmp_path / "gateway.yaml").write_text(
        "apis:\n  - name: A\n    context: /a\n    version: v1\n    endpoint: http://127.0.0.1:1/b\n"
    )
    with Registry(tmp_path / "gateway.db", create=True) as registry:
        registry.create_application("App")
        registry.subscribe("App", "A", "v1")
        token = registry.issue_token("App")
    addon = Gateway()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, gateway_config=str(tmp_path / "gateway.yaml"))
        yield addon, token, tctx


def make_flow(path, token=None):
    flow = tflow.tflow()
    flow.request.path = path
    flow.request.host = "gateway.test"
    flow.request.port = 8280
    if token:
        flow.request.headers["Authorization"] = f"Bearer {token}"
    return flow


def test_forwarded_flow_points_at_backend_without_token(gateway):
    addon, token, _ = gateway
    flow = make_flow("/a/v1/c?d=1", token)
    addon.request(flow)
    assert flow.response is None
    assert flow.request.url == "http://127.0.0.1:1/b/c?d=1"
    assert "Authorization" not in flow.request.headers
    assert flow.metadata["gateway"]["outcome"] == "forwarded"


def test_unexpected_error_answers_500_and_forwards_nothing(gateway, monkeypatch):
    """Fail closed: mitmproxy would forward a flow whose hook raised."""
    addon, token, _ = gateway

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(pipeline, "process", broken)
    flow = make_flow("/a/v1/c", token)
    addon.request(flow)
    assert flow.response.status_code == 500
    assert b'"message":"Runtime Error"' in flow.response.content
    assert flow.request.host == "gateway.test"
    assert flow.metadata["gateway"]["outcome"] == "internal-error"


def test_flow_answered_by_another_addon_is_left_alone(gateway):
    addon, _, _ = gateway
    flow = tflow.tflow(resp=True)
    before = flow.response
    addon.request(flow)
    assert flow.response is before


def test_bad_option_change_keeps_last_good_config(gateway, tmp_path):
    """A broken config set at run time is rejected and the loaded one stays in force."""
    from mitmproxy import exceptions

    addon, _, tctx = gateway
    loaded = addon.config
    with pytest.raises(exceptions.OptionsError):
        tctx.configure(addon, gateway_config=str(tmp_path / "missing.yaml"))
    # mitmproxy rolls the option back, which loads the good file again.
    assert addon.config.path == loaded.path
    assert [api.label for api in addon.config.apis] == ["A:vv1"]


@pytest.mark.parametrize(
    ("http_version", "authority", "expected"),
    [
        ("HTTP/1.1", "evil.example:1234", b""),
        ("HTTP/1.1", "", b""),
        ("HTTP/2.0", "evil.example:1234", b"127.0.0.1:8081"),
        ("HTTP/2.0", "", b"127.0.0.1:8081"),
    ],
)
def test_point_at_backend_sets_authority(http_version, authority, expected):
    """HTTP/1 goes out in origin form, as WSO2 sends it; HTTP/2 names the backend."""
    request = tutils.treq(
        http_version=http_version.encode(), authority=authority.encode()
    )
    forward = pipeline.Forward(
        "http", "127.0.0.1", 8081, "/a?b=1", "GET", "http://127.0.0.1:8081/a?b=1"
    )
    point_at_backend(request, TransportHeaders(), forward)

    assert request.data.authority == expected
    assert request.host == "127.0.0.1"
    assert request.port == 8081
    assert request.path == "/a?b=1"
