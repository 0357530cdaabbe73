"""End to end: the 3.x error profile (`gateway_wso2_version=3.x`) and CORS disabled.

API-M 3.x answered with XML faults unless `Accept` asked for JSON, used numeric codes in
that JSON, said `The access token expired` in `WWW-Authenticate`, and answered a
resource mismatch with 403 900906. With CORS disabled, 4.x does the same for mismatches.
Whole bodies and headers are compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from conftest import Backend, GatewayProcess, Workspace, running_backend

CONFIG = """\
throttling:
  subscription_tiers:
    - name: One
      requests: 1
apis:
  - name: Legacy
    context: /legacy
    version: v1
    endpoint: {backend}/
    resources:
      - target: /items
        verbs: [GET]
"""
NO_CORS_CONFIG = "cors:\n  enable: false\n" + CONFIG

CHALLENGE_3X = (
    'Internal API Key realm="WSO2 API Manager", Bearer realm="WSO2 API Manager", '
    'error="invalid_token", error_description="The access token expired"'
)
MISMATCH_XML = (
    '<ams:fault xmlns:ams="http://wso2.org/apimanager/security"><ams:code>900906</ams:code>'
    "<ams:message>No matching resource found in the API for the given request</ams:message>"
    "<ams:description>Access failure for API: /legacy/v1, version: v1 status: (900906) - "
    "No matching resource found in the API for the given request. Check the API "
    "documentation and add a proper REST resource path to the invocation URL"
    "</ams:description></ams:fault>"
)


@dataclass
class World:
    space: Workspace
    backend: Backend
    gateway: GatewayProcess
    token: str

    def get(self, path, headers=None):
        self.backend.take()
        return self.gateway.request("GET", path, headers or {})


def _start(tmp_path_factory, confdir, backend, config, extra):
    space = Workspace(tmp_path_factory.mktemp("profile"), confdir)
    space.write_config(config.format(backend=backend.url))
    token = space.app_with_token("App", "Legacy", version="v1", tier="One")
    return World(space, backend, space.start(extra), token)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory, confdir):
    with running_backend() as backend:
        world = _start(
            tmp_path_factory,
            confdir,
            backend,
            CONFIG,
            ["--set", "gateway_wso2_version=3.x"],
        )
        try:
            yield world
        finally:
            world.gateway.stop()


@pytest.fixture(scope="module")
def no_cors(tmp_path_factory, confdir):
    with running_backend() as backend:
        world = _start(tmp_path_factory, confdir, backend, NO_CORS_CONFIG, [])
        try:
            yield world
        finally:
            world.gateway.stop()


def test_3x_missing_credentials_xml(legacy):
    """3.x: ams:fault XML by default, numeric code, `'apikey: API_KEY'`, 3.x challenge."""
    response = legacy.get("/legacy/v1/items", {"Custom": "Bearer 1234"})

    assert response.status == 401
    assert response.header("Content-Type") == "application/xml"
    assert response.text == (
        '<ams:fault xmlns:ams="http://wso2.org/apimanager/security"><ams:code>900902</ams:code>'
        "<ams:message>Missing Credentials</ams:message><ams:description>Invalid Credentials. "
        "Make sure your API invocation call has a header: 'Authorization : Bearer "
        "ACCESS_TOKEN' or 'Authorization : Basic ACCESS_TOKEN' or 'apikey: API_KEY'"
        "</ams:description></ams:fault>"
    )
    assert response.header("WWW-Authenticate") == CHALLENGE_3X
    assert response.header("Custom") == "Bearer 1234"


def test_3x_json_when_accept_asks(legacy):
    """3.x: `Accept: application/json` gives `{"fault":{...}}` with a numeric code."""
    response = legacy.get(
        "/legacy/v1/items",
        {"Authorization": "Bearer unknown", "Accept": "application/json"},
    )

    assert response.status == 401
    assert response.header("Content-Type") == "application/json"
    assert response.text == (
        '{"fault":{"code":900901,"message":"Invalid Credentials","description":'
        '"Access failure for API: /legacy/v1, version: v1 status: (900901) - Invalid '
        'Credentials. Make sure you have provided the correct security credentials"}}'
    )


def test_3x_resource_mismatch_is_900906(legacy):
    """3.x: an unknown resource is 403 900906 from the authentication handler."""
    response = legacy.get(
        "/legacy/v1/nothing", {"Authorization": f"Bearer {legacy.token}"}
    )

    assert response.status == 403
    assert response.text == MISMATCH_XML
    assert response.header("WWW-Authenticate") is None


def test_3x_no_api_main_sequence_xml(legacy):
    """3.x main sequence: am:fault 404 naming the path, request headers not echoed."""
    response = legacy.get("/nowhere/x", {"Custom": "Bearer 1234"})

    assert response.status == 404
    assert response.text == (
        '<am:fault xmlns:am="http://wso2.org/apimanager"><am:code>404</am:code>'
        "<am:type>Status report</am:type><am:message>Not Found</am:message>"
        "<am:description>The requested resource (/nowhere/x) is not available."
        "</am:description></am:fault>"
    )
    assert response.header("Custom") is None


def test_3x_throttled_amt_fault(legacy):
    """3.x throttling: amt:fault with nextAccessTime and the description without suffix."""
    headers = {"Authorization": f"Bearer {legacy.token}"}
    legacy.get("/legacy/v1/items", headers)

    response = legacy.get("/legacy/v1/items", headers)

    assert response.status == 429
    assert response.text.startswith(
        '<amt:fault xmlns:amt="http://wso2.org/apimanager/throttling"><amt:code>900804'
        "</amt:code><amt:message>Message throttled out</amt:message><amt:description>"
        "You have exceeded your quota</amt:description><amt:nextAccessTime>"
    )
    assert response.header("Retry-After").endswith(" GMT")


def test_cors_disabled_mismatch_is_900906(no_cors):
    """4.x with CORS disabled: no CORS handler, so a mismatch is 403 900906 (JSON)."""
    response = no_cors.get(
        "/legacy/v1/nothing", {"Authorization": f"Bearer {no_cors.token}"}
    )

    assert response.status == 403
    assert json.loads(response.body) == {
        "code": "900906",
        "message": "No matching resource found in the API for the given request",
        "description": "Access failure for API: /legacy/v1, version: v1 status: (900906) - "
        "No matching resource found in the API for the given request. Check the API "
        "documentation and add a proper REST resource path to the invocation URL",
    }


def test_cors_disabled_no_cors_headers(no_cors):
    """CORS disabled: no Access-Control-* headers, and OPTIONS is not answered locally."""
    response = no_cors.get("/legacy/v1/items", {"Origin": "https://ui.test"})

    assert response.header("Access-Control-Allow-Origin") is None
