"""End to end: basic authentication of callers, as WSO2's BasicAuthAuthenticator does it.

One gateway serves the module, with users in its SQLite store. Each test names the WSO2
4.x behaviour it pins; bodies are compared whole.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from conftest import Backend, GatewayProcess, Workspace, running_backend

from addon import credentials_basic
from addon.auth import AuthFailure, AuthRequest
from addon.config import ApiConfig
from addon.context import MessageContext
from addon.credentials import hash_password, verify_password
from addon.credentials_basic import BasicAuthenticator
from addon.headers import TransportHeaders
from addon.resources import compile_resource

CONFIG = """\
apis:
  - name: Staff
    context: /staff
    version: v1
    endpoint: {backend}/
    security: [oauth2, basic_auth]
    scopes:
      - name: payroll
        roles: [HR]
      - name: open
    resources:
      - target: /news
        verbs: [GET]
      - target: /salaries
        verbs: [GET]
        scopes: [payroll]
      - target: /lobby
        verbs: [GET]
        scopes: [open]
      - target: /vault
        verbs: [GET]
        scopes: [undefined]
  - name: TokensOnly
    context: /tokens
    version: v1
    endpoint: {backend}/
"""

BASIC_AND_BEARER_REALMS = (
    'Internal API Key realm="WSO2 API Manager", Bearer realm="WSO2 API Manager", '
    'Basic realm="WSO2 API Manager", error="invalid_token", '
    'error_description="The provided token is invalid"'
)
INVALID = (
    '{"code":"900901","message":"Invalid Credentials","description":"Invalid Credentials. '
    'Make sure you have provided the correct security credentials"}'
)
SCOPE_FAILED = (
    '{"code":"900910","message":"The access token does not allow you to access the '
    'requested resource","description":"Scope validation failed"}'
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class World:
    space: Workspace
    backend: Backend
    gateway: GatewayProcess

    def get(self, path, headers=None):
        self.backend.take()
        return self.gateway.request("GET", path, headers or {})


@pytest.fixture(scope="module")
def world(tmp_path_factory, confdir):
    with running_backend() as backend:
        space = Workspace(tmp_path_factory.mktemp("basic-auth"), confdir)
        space.write_config(CONFIG.format(backend=backend.url))
        with space.registry() as registry:
            registry.set_user("alice", "wonderland", ("hr",))
            registry.set_user("bob", "builder", ())
            registry.create_application("App")
            registry.subscribe("App", "Staff", "v1", tier="Gold")
        gateway = space.start()
        try:
            yield World(space, backend, gateway)
        finally:
            gateway.stop()


def test_valid_user_basic_part_removed(world):
    """BasicAuthAuthenticator: a valid user passes; the Basic part leaves Authorization."""
    response = world.get("/staff/v1/news", {"Authorization": basic("alice", "wonderland")})

    assert response.status == 401  # the tutorial backend expects Bearer 1234
    [received] = world.backend.take()
    assert received.header("Authorization") is None


def test_other_authorization_parts_kept(world):
    """extractBasicAuthHeader: the parts that are not `Basic ...` are kept, comma-joined."""
    world.get(
        "/staff/v1/news",
        {"Authorization": f"{basic('alice', 'wonderland')}, Backend 1234"},
    )

    [received] = world.backend.take()
    assert received.header_values("Authorization") == ["Backend 1234"]


def test_wrong_password_is_900901(world):
    """A password mismatch is 900901 `Invalid Credentials`, with the Basic realm."""
    response = world.get("/staff/v1/news", {"Authorization": basic("alice", "looking-glass")})

    assert (response.status, response.text) == (401, INVALID)
    assert response.header("WWW-Authenticate") == BASIC_AND_BEARER_REALMS
    assert world.backend.take() == []


def test_unknown_user_is_900901(world):
    """An unknown user fails as a wrong password does."""
    response = world.get("/staff/v1/news", {"Authorization": basic("mallory", "x")})

    assert (response.status, response.text) == (401, INVALID)


@pytest.mark.parametrize(
    "value",
    ["Basic not-base64!", "Basic " + base64.b64encode(b"no-colon").decode()],
)
def test_malformed_basic_value_is_900901(world, value):
    """extractBasicAuthCredentials: undecodable or colon-less credentials are 900901."""
    response = world.get("/staff/v1/news", {"Authorization": value})

    assert (response.status, response.text) == (401, INVALID)


def test_other_tenant_is_900908(world):
    """A user of another tenant than the API's (carbon.super) is 900908, 403."""
    response = world.get("/staff/v1/news", {"Authorization": basic("alice@example.org", "w")})

    assert response.status == 403
    assert json.loads(response.body) == {
        "code": "900908",
        "message": "Resource forbidden ",
        "description": "Resource forbidden ",
    }


def test_tenant_suffix_of_the_api_is_accepted(world):
    """`alice@carbon.super` is alice of the API's own tenant."""
    world.get("/staff/v1/news", {"Authorization": basic("alice@carbon.super", "wonderland")})

    assert len(world.backend.take()) == 1


def test_scope_bound_role_any_case(world):
    """validateScopes: a user role bound to a resource scope passes; case is ignored."""
    world.get("/staff/v1/salaries", {"Authorization": basic("alice", "wonderland")})

    assert len(world.backend.take()) == 1


def test_scope_without_the_role_is_900910(world):
    """validateScopes: no role of the resource's scopes is 900910, 403."""
    response = world.get("/staff/v1/salaries", {"Authorization": basic("bob", "builder")})

    assert (response.status, response.text) == (403, SCOPE_FAILED)
    assert world.backend.take() == []


def test_scope_without_roles_admits_all(world):
    """validateScopes: a scope that binds no role lets every authenticated user pass."""
    world.get("/staff/v1/lobby", {"Authorization": basic("bob", "builder")})

    assert len(world.backend.take()) == 1


def test_scope_unknown_to_the_api_is_900910(world):
    """validateScopes: a resource scope the API does not define admits no user."""
    response = world.get("/staff/v1/vault", {"Authorization": basic("alice", "wonderland")})

    assert (response.status, response.text) == (403, SCOPE_FAILED)


def test_bearer_token_beside_basic_auth(world):
    """The OAuth authenticator (priority 10) runs before basic auth (priority 20)."""
    with world.space.registry() as registry:
        token = registry.issue_token("App")

    world.get("/staff/v1/news", {"Authorization": f"Bearer {token}"})

    assert len(world.backend.take()) == 1


def test_basic_on_an_oauth_only_api_is_900902(world):
    """Without `basic_auth` in the API's security, Basic credentials are not credentials."""
    response = world.get("/tokens/v1/", {"Authorization": basic("alice", "wonderland")})

    assert response.status == 401
    assert json.loads(response.body)["code"] == "900902"


def test_password_change_next_request(world):
    """The store is read on every request: a changed password stops the old one at once."""
    world.get("/staff/v1/news", {"Authorization": basic("bob", "builder")})
    assert len(world.backend.take()) == 1
    with world.space.registry() as registry:
        registry.set_user("bob", "rebuilt", ())

    old = world.get("/staff/v1/news", {"Authorization": basic("bob", "builder")})
    new = world.get("/staff/v1/news", {"Authorization": basic("bob", "rebuilt")})

    assert old.status == 401
    assert old.text == INVALID
    assert new.status == 401
    assert len(world.backend.requests) == 1


def test_log_never_shows_password(world):
    """The gateway log names the user, never the password or the encoded credentials."""
    value = basic("alice", "wonderland")
    world.get("/staff/v1/news", {"Authorization": value})

    log = world.gateway.log
    assert "wonderland" not in log
    assert value.split()[1] not in log
    assert "token=user:alice@carbon.super" in log


def test_password_with_trailing_nul_rejected(world):
    """`pw` and `pw` plus NUL hash alike under PBKDF2; the gateway rejects the second."""
    response = world.get("/staff/v1/news", {"Authorization": basic("bob", "rebuilt\x00")})

    assert response.status == 401
    assert response.text == INVALID


def test_unknown_user_shown_as_fingerprint():
    """A user name that is not a user may be a mistyped password: the trace hides it."""
    api = ApiConfig("Staff", "/staff", "v1", None, None, "test", security=("basic_auth",))
    store = SimpleNamespace(lookup_user=lambda name: None)
    request = AuthRequest(api, compile_resource("/*", ("GET",)), store, time.time())
    ctx = MessageContext(
        TransportHeaders.from_fields([(b"Authorization", basic("Sup3rSecretPw", "").encode())]),
        "GET",
        "/staff/v1/news",
    )

    with pytest.raises(AuthFailure):
        BasicAuthenticator().authenticate(ctx, request)

    summaries = " ".join(step.summary for step in ctx.trace)
    assert "Sup3rSecretPw" not in summaries
    assert "unknown user (hmac:" in summaries


def test_password_checked_once(monkeypatch):
    """PBKDF2 runs once per user and password, for wrong passwords too."""
    stored = hash_password("right", iterations=1000)
    calls = []

    def counting(password, hashed):
        calls.append(password)
        return verify_password(password, hashed)

    monkeypatch.setattr(credentials_basic, "verify_password", counting)
    results = [
        credentials_basic._password_matches("carol", password, stored)
        for password in ("right", "wrong", "right", "wrong")
    ]

    assert results == [True, False, True, False]
    assert calls == ["right", "wrong"]
