"""End to end: the worked example of docs/configuration.md.

A subscription tier of four requests a minute stands in for Bronze's 1000, so that the
fifth counted request is throttled at once.
"""

from __future__ import annotations

import json

from conftest import running_backend

from addon.keypairs import create_key_pair
from addon.settings import DEFAULT_ISSUER
from addon.token_issue import issue_jwt

CONFIG = """\
throttling:
  subscription_tiers:
    - {{name: TinyBronze, requests: 4}}
apis:
  - name: Orders
    context: /orders
    version: v1
    production_endpoint: {backend}/prod
    sandbox_endpoint: {backend}/sandbox
    security: [oauth2, api_key]
    resources:
      - target: /items
        verbs: [GET, POST]
      - target: /items/{{id}}
        verbs: [GET, DELETE]
        scopes: [orders:read]
"""


def test_worked_example_two_resources_two_endpoints(workspace, confdir):
    """Docs example: JWT to production and sandbox, API key, 405, 404, then 429 900804."""
    with running_backend() as backend:
        workspace.write_config(CONFIG.format(backend=backend.url))
        create_key_pair(workspace.root / "keys", "wso2carbon")
        with workspace.registry() as registry:
            registry.create_application("ShopApp")
            registry.subscribe("ShopApp", "Orders", "v1", tier="TinyBronze")
            key = workspace.root / "keys" / "wso2carbon.key"
            jwts = {
                kind: issue_jwt(
                    registry,
                    "ShopApp",
                    signing_key=key,
                    issuer=DEFAULT_ISSUER,
                    key_type=kind,
                    scopes=("orders:read",),
                )
                for kind in ("PRODUCTION", "SANDBOX")
            }
            api_key = registry.issue_api_key("ShopApp")
        gateway = workspace.start()

        for kind in ("PRODUCTION", "SANDBOX"):
            gateway.request(
                "GET", "/orders/v1/items/7", {"Authorization": f"Bearer {jwts[kind]}"}
            )
        gateway.request("GET", "/orders/v1/items", {"ApiKey": api_key})
        not_allowed = gateway.request("PUT", "/orders/v1/items", {"ApiKey": api_key})
        not_found = gateway.request("GET", "/orders/v1/nothing", {"ApiKey": api_key})
        gateway.request("GET", "/orders/v1/items", {"ApiKey": api_key})
        throttled = gateway.request("GET", "/orders/v1/items", {"ApiKey": api_key})

        paths = [r.path for r in backend.requests]
        assert paths == [
            "/prod/items/7",
            "/sandbox/items/7",
            "/prod/items",
            "/prod/items",
        ]
        assert not_allowed.status == 405
        assert not_found.status == 404
        assert throttled.status == 429
        assert json.loads(throttled.body)["code"] == "900804"
