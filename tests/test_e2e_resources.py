"""End to end: resources, verbs, default version, `{uri.var.x}` endpoints and CORS.

One gateway serves every case of this module; each test names the WSO2 4.x behaviour
it pins (CORSRequestHandler, Synapse's dispatchers, the `_cors_request_handler_` and
`_resource_mismatch_handler_` sequences).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from conftest import Backend, GatewayProcess, Workspace, running_backend

CONFIG = """\
apis:
  - name: Orders
    context: /orders
    version: v1
    default_version: true
    endpoint: {backend}/prod
    resources:
      - target: /items
        verbs: [GET, POST]
      - target: /items/{{id}}
        verbs: [GET, DELETE]
      - target: /public/*
        verbs: [GET]
        auth_type: None
      - target: /echo
        verbs: [GET, OPTIONS]
  - name: Mapped
    context: /mapped
    version: v1
    endpoint: "{backend}/customers/{{uri.var.cid}}/info"
    resources:
      - target: /customers/{{cid}}
        verbs: [GET]
  - name: Partner
    context: /partner
    version: v1
    endpoint: {backend}/
    cors:
      allow_origins: ["https://app.example.com", "https://*.example.org"]
      allow_credentials: true
    resources:
      - target: /x
        verbs: [GET]
"""

NOT_FOUND = (
    '{"code":"404","type":"Status report","message":"Runtime Error",'
    '"description":"No matching resource found for given API Request"}'
)
NOT_ALLOWED = (
    '{"code":"405","type":"Status report","message":"Runtime Error",'
    '"description":"Method not allowed for given API resource"}'
)
ALLOW_HEADERS = "authorization,Access-Control-Allow-Origin,Content-Type,SOAPAction,apikey,Internal-Key"


@dataclass
class World:
    space: Workspace
    backend: Backend
    gateway: GatewayProcess
    token: str

    def call(self, method, path, headers=None, token=True):
        headers = dict(headers or {})
        if token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        self.backend.take()
        return self.gateway.request(method, path, headers)


@pytest.fixture(scope="module")
def world(tmp_path_factory, confdir):
    with running_backend() as backend:
        space = Workspace(tmp_path_factory.mktemp("resources"), confdir)
        space.write_config(CONFIG.format(backend=backend.url))
        token = space.app_with_token("App", "Orders", version="v1")
        with space.registry() as registry:
            for api in ("Mapped", "Partner"):
                registry.subscribe("App", api, "v1", tier="Gold")
        gateway = space.start()
        try:
            yield World(space, backend, gateway, token)
        finally:
            gateway.stop()


def test_uri_template_resource_forwards_postfix(world):
    """A uri-template resource `/items/{id}` is elected; REST_URL_POSTFIX joins the endpoint."""
    response = world.call("GET", "/orders/v1/items/42?x=1")

    assert response.status == 401  # the tutorial backend answers anything but 1234 so
    [received] = world.backend.take()
    assert received.path == "/prod/items/42?x=1"


def test_unmatched_path_is_404_before_authentication(world):
    """WSO2 4.x: no resource path matches: 404 from the CORS handler, even without a token."""
    response = world.call("GET", "/orders/v1/nothing", token=False)

    assert response.status == 404
    assert response.text == NOT_FOUND
    assert response.header("WWW-Authenticate") is None
    assert world.backend.take() == []


def test_wrong_verb_is_405(world):
    """WSO2 4.x: the path matches a resource but not the verb: 405."""
    response = world.call("PUT", "/orders/v1/items")

    assert response.status == 405
    assert response.text == NOT_ALLOWED
    assert world.backend.take() == []


def test_template_does_not_match_extra_segments(world):
    """`{id}` is one segment: /items/1/2 matches no resource (404)."""
    response = world.call("GET", "/orders/v1/items/1/2")

    assert response.status == 404


def test_trailing_slash_tolerated_by_url_mapping(world):
    """Synapse trims a trailing slash before exact url-mapping matching."""
    world.call("GET", "/orders/v1/items/")

    [received] = world.backend.take()
    assert received.path == "/prod/items/"


def test_auth_none_resource_passes_client_authorization(world):
    """Auth type None: no authentication; the client's Authorization reaches the backend."""
    response = world.call(
        "GET", "/orders/v1/public/a/b", {"Authorization": "Basic YTpi"}, token=False
    )

    assert response.status == 401  # from the backend, not the gateway
    assert response.text.startswith("Unauthorized: the backend")
    [received] = world.backend.take()
    assert received.header_values("Authorization") == ["Basic YTpi"]


def test_default_version_reachable_without_version(world):
    """An API marked default_version also answers at its context without the version."""
    world.call("GET", "/orders/items/7")

    [received] = world.backend.take()
    assert received.path == "/prod/items/7"
    assert received.header("WSO2_AM_API_DEFAULT_VERSION") is None


def test_uri_var_filled_in_endpoint_and_postfix_kept(world):
    """`{uri.var.cid}` is filled from the template; WSO2 still appends REST_URL_POSTFIX."""
    world.call("GET", "/mapped/v1/customers/7")

    [received] = world.backend.take()
    assert received.path == "/customers/7/info/customers/7"


def test_preflight_answered_by_gateway(world):
    """OPTIONS on a resource without OPTIONS: 200 from the gateway, no auth, no backend call."""
    response = world.call(
        "OPTIONS",
        "/orders/v1/items",
        {"Origin": "https://ui.test", "Access-Control-Request-Method": "POST"},
        token=False,
    )

    assert response.status == 200
    assert response.body == b""
    assert response.header("Access-Control-Allow-Origin") == "*"
    assert response.header("Access-Control-Allow-Methods") == "GET,POST"
    assert response.header("Access-Control-Allow-Headers") == ALLOW_HEADERS
    assert response.header("Access-Control-Allow-Credentials") is None
    assert world.backend.take() == []


def test_preflight_for_unsupported_method_is_405(world):
    """A preflight asking for a verb no resource on that path has: 405."""
    response = world.call(
        "OPTIONS",
        "/orders/v1/items",
        {"Origin": "https://ui.test", "Access-Control-Request-Method": "DELETE"},
        token=False,
    )

    assert response.status == 405
    assert response.text == NOT_ALLOWED


def test_options_resource_goes_to_backend_with_auth(world):
    """A resource that lists OPTIONS: the preflight is authenticated and proxied."""
    without = world.call(
        "OPTIONS", "/orders/v1/echo", {"Origin": "https://ui.test"}, token=False
    )
    assert without.status == 401
    assert json.loads(without.body)["code"] == "900902"

    world.call("OPTIONS", "/orders/v1/echo", {"Origin": "https://ui.test"})
    [received] = world.backend.take()
    assert received.method == "OPTIONS"


def test_allow_origin_on_backend_and_error_responses(world):
    """Access-Control-Allow-Origin on every response; Allow-Methods only on preflights."""
    proxied = world.call("GET", "/orders/v1/items", {"Origin": "https://ui.test"})
    rejected = world.call(
        "GET", "/orders/v1/items", {"Origin": "https://ui.test"}, token=False
    )

    assert proxied.header("Access-Control-Allow-Origin") == "*"
    assert proxied.header("Access-Control-Allow-Methods") is None
    assert rejected.status == 401
    assert rejected.header("Access-Control-Allow-Origin") == "*"


def test_per_api_cors_origins_and_credentials(world):
    """Per-API CORS: a listed or pattern-matched Origin is echoed with credentials true."""
    listed = world.call("GET", "/partner/v1/x", {"Origin": "https://app.example.com"})
    pattern = world.call("GET", "/partner/v1/x", {"Origin": "https://a.example.org"})
    other = world.call("GET", "/partner/v1/x", {"Origin": "https://evil.test"})

    assert listed.header("Access-Control-Allow-Origin") == "https://app.example.com"
    assert listed.header("Access-Control-Allow-Credentials") == "true"
    assert pattern.header("Access-Control-Allow-Origin") == "https://a.example.org"
    assert not other.header("Access-Control-Allow-Origin")


def test_correlation_id_on_request_and_response(world):
    """Synapse adds an `activityid` to the request and sends the same one back."""
    response = world.call("GET", "/orders/v1/items")

    [received] = world.backend.take()
    sent = received.header("activityid")
    assert sent
    assert response.header("activityid") == sent

    world.call("GET", "/orders/v1/items", {"activityid": "client-chosen-id"})
    [received] = world.backend.take()
    assert received.header("activityid") == "client-chosen-id"


def test_transport_replaces_user_agent(world):
    """The pass-through transport sends its own User-Agent, not the client's."""
    world.call("GET", "/orders/v1/items", {"User-Agent": "curl/8.0"})

    [received] = world.backend.take()
    assert received.header_values("User-Agent") == ["Synapse-PT-HttpComponents-NIO"]
