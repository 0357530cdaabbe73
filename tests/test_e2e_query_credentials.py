"""End to end: credentials in the query string never show in logs, comments or metadata.

WSO2's ApiKeyAuthenticator reads the `apikey` query parameter; a client may also put
an OAuth token in `access_token`. The gateway's log line, the flow comment and the flow
metadata (which saved flows keep) show such values as `****`.
"""

from __future__ import annotations

import json

import pytest
from mitmproxy import io

from addon.query_masking import mask_query_credentials, query_credential_values

CONFIG = """\
apis:
  - name: Orders
    context: /orders
    version: v1
    endpoint: {backend}/
    security: [api_key]
"""


def read_flows(path):
    with open(path, "rb") as handle:
        return list(io.FlowReader(handle).stream())


def test_query_credentials_masked_in_log_comment_metadata(workspace, backend):
    """The apikey WSO2 reads from the query, and any access_token, are masked."""
    workspace.write_config(CONFIG.format(backend=backend.url))
    with workspace.registry() as registry:
        registry.create_application("App")
        registry.subscribe("App", "Orders", "v1", tier="Gold")
        key = registry.issue_api_key("App")
    saved = workspace.root / "flows.mitm"
    gateway = workspace.start(["--set", f"save_stream_file={saved}"])

    # With API-key security only, Authorization passes to the tutorial backend.
    backend_token = {"Authorization": "Bearer 1234"}
    accepted = gateway.request(
        "GET", f"/orders/v1/items?apikey={key}&Access_Token=T0k&x=1", backend_token
    )
    rejected = gateway.request("GET", "/orders/v1/items?APIKEY=K&x=2", backend_token)
    gateway.stop()

    assert accepted.status == 200
    assert rejected.status == 401
    [received] = backend.take()
    assert received.path == "/items?Access_Token=T0k&x=1"
    log = gateway.log
    assert "gateway: GET /orders/v1/items?apikey=****&Access_Token=****&x=1" in log
    assert "gateway: GET /orders/v1/items?APIKEY=****&x=2" in log
    flows = read_flows(saved)
    assert len(flows) == 2
    for flow in flows:
        metadata = json.dumps(flow.metadata)
        for secret in (key, "T0k", "=K&"):
            assert secret not in flow.comment
            assert secret not in metadata
    assert "postfix '/items?apikey=****&Access_Token=****&x=1'" in flows[0].comment
    backend_url = flows[0].metadata["gateway"]["backend"]
    assert backend_url.endswith("/items?Access_Token=****&x=1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/a?apikey=K", "/a?apikey=****"),
        ("/a?x=1&ApiKey=K&y=2", "/a?x=1&ApiKey=****&y=2"),
        ("http://h:1/a?token=t&key=k&b=c", "http://h:1/a?token=****&key=****&b=c"),
        (
            "postfix '/a?client_secret=s&password=p'",
            "postfix '/a?client_secret=****&password=****'",
        ),
        ("/a?x_api_key=s&refresh_token=r", "/a?x_api_key=****&refresh_token=****"),
        ("/a?api%5Fkey=s", "/a?api%5Fkey=****"),
        ("/a?apikey=", "/a?apikey="),
        ("/a?keyboard=qwerty&monkey=1", "/a?keyboard=qwerty&monkey=1"),
        ("/a/apikey=K", "/a/apikey=K"),
    ],
)
def test_mask_query_credentials(text, expected):
    assert mask_query_credentials(text) == expected


def test_query_credential_values_decoded_too():
    assert query_credential_values("/a?apikey=a%2Bb&x=1") == ["a%2Bb", "a+b"]
