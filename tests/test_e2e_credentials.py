"""End to end: every credential kind, subscription state and scope check.

One gateway serves the module. Each test names the WSO2 4.x behaviour it pins
(OAuthAuthenticator, JWTValidator, ApiKeyAuthenticator, the key manager's subscription
validation); bodies are compared whole.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import jwt
import pytest
from conftest import Backend, GatewayProcess, Workspace, running_backend

from addon.keypairs import create_key_pair, load_private_key
from addon.settings import DEFAULT_ISSUER
from addon.token_issue import issue_jwt

CONFIG = """\
apis:
  - name: Shop
    context: /shop
    version: v1
    endpoint: {backend}/
    security: [oauth2, api_key]
    resources:
      - target: /items
        verbs: [GET]
      - target: /admin
        verbs: [GET]
        scopes: [admin]
  - name: KeysOnly
    context: /keys
    version: v1
    endpoint: {backend}/
    security: [api_key]
    api_key_header: X-Shop-Key
  - name: Custom
    context: /custom
    version: v1
    endpoint: {backend}/
    auth_header: X-Auth
"""

JWT_INVALID = (
    '{"code":"900901","message":"Invalid Credentials","description":"Invalid Credentials. '
    'Make sure you have provided the correct security credentials"}'
)
JWT_REVOKED = (
    '{"code":"900901","message":"Invalid Credentials","description":"Invalid JWT token. '
    'Make sure you have provided the correct security credentials"}'
)
SUBSCRIPTION_FAILED = (
    "User is NOT authorized to access the Resource. API Subscription validation failed."
)
BOTH_REALMS = (
    'Internal API Key realm="WSO2 API Manager", Bearer realm="WSO2 API Manager", '
    'API Key realm="WSO2 API Manager", error="invalid_token", '
    'error_description="The provided token is invalid"'
)


def opaque_body(code: str, message: str) -> str:
    return (
        f'{{"code":"{code}","message":"{message}","description":"Access failure for API: '
        f'/shop/v1, version: v1 status: ({code}) - {message}"}}'
    )


@dataclass
class World:
    space: Workspace
    backend: Backend
    gateway: GatewayProcess

    def registry(self):
        return self.space.registry()

    def jwt(self, app, **kwargs):
        with self.registry() as registry:
            return issue_jwt(
                registry,
                app,
                signing_key=self.space.root / "keys" / "wso2carbon.key",
                issuer=DEFAULT_ISSUER,
                **kwargs,
            )

    def get(self, path, headers=None):
        self.backend.take()
        return self.gateway.request("GET", path, headers or {})


@pytest.fixture(scope="module")
def world(tmp_path_factory, confdir):
    with running_backend() as backend:
        space = Workspace(tmp_path_factory.mktemp("credentials"), confdir)
        space.write_config(CONFIG.format(backend=backend.url))
        create_key_pair(space.root / "keys", "wso2carbon")
        with space.registry() as registry:
            registry.create_application("App")
            for api in ("Shop", "KeysOnly", "Custom"):
                registry.subscribe("App", api, "v1", tier="Gold")
            registry.create_application("Stranger")
            for state in ("BLOCKED", "PROD_ONLY_BLOCKED", "ON_HOLD", "REJECTED"):
                registry.create_application(state)
                registry.subscribe(state, "Shop", "v1", tier="Gold", state=state)
        gateway = space.start()
        try:
            yield World(space, backend, gateway)
        finally:
            gateway.stop()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_jwt_access_token_validated_locally(world):
    """A self-contained JWT (three dot-separated parts) is validated locally; token removed."""
    token = world.jwt("App")

    world.get("/shop/v1/items", bearer(token))

    [received] = world.backend.take()
    assert received.header("Authorization") is None
    assert all(token not in value for _, value in received.headers)


def test_expired_jwt_900901(world):
    """JWTValidator: exp in the past (no clock skew) is 900901 with the JWT-path text."""
    token = world.jwt("App", now=time.time() - 7200, validity=60)

    response = world.get("/shop/v1/items", bearer(token))

    assert response.status == 401
    assert response.text == JWT_INVALID
    assert response.header("WWW-Authenticate") == BOTH_REALMS
    assert world.backend.take() == []


def test_jwt_signed_by_unknown_key_900901(world, tmp_path):
    """A JWT whose signature no configured key verifies is 900901."""
    create_key_pair(tmp_path, "other")
    with world.registry() as registry:
        token = issue_jwt(
            registry, "App", signing_key=tmp_path / "other.key", issuer=DEFAULT_ISSUER
        )

    response = world.get("/shop/v1/items", bearer(token))

    assert response.status == 401
    assert response.text == JWT_INVALID


def test_jwt_from_unknown_issuer_900901(world):
    """An issuer that is no configured key manager is 900901."""
    with world.registry() as registry:
        token = issue_jwt(
            registry,
            "App",
            signing_key=world.space.root / "keys" / "wso2carbon.key",
            issuer="https://elsewhere.test/oauth2/token",
        )

    assert world.get("/shop/v1/items", bearer(token)).text == JWT_INVALID


def test_jwt_algorithm_none_rejected(world):
    """The algorithm list comes from the config: alg none is never accepted."""
    with world.registry() as registry:
        consumer_key = registry.consumer_key("App")
    now = int(time.time())
    claims = {"iss": DEFAULT_ISSUER, "azp": consumer_key, "exp": now + 600, "iat": now}
    token = jwt.encode(claims, None, algorithm="none")
    assert token.count(".") == 2

    assert world.get("/shop/v1/items", bearer(token)).text == JWT_INVALID


def test_jwt_hs256_with_public_key_rejected(world):
    """Key confusion: an HS256 token 'signed' with the public certificate is 900901."""
    with world.registry() as registry:
        consumer_key = registry.consumer_key("App")
    now = int(time.time())
    claims = {"iss": DEFAULT_ISSUER, "azp": consumer_key, "exp": now + 600, "iat": now}
    secret = (world.space.root / "keys" / "wso2carbon.crt").read_bytes()
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{_b64(mac)}"

    assert world.get("/shop/v1/items", bearer(token)).text == JWT_INVALID


def test_revoked_jwt_by_jti_900901(world):
    """A JWT revoked by its jti while the gateway runs: 900901 `Invalid JWT token`."""
    token = world.jwt("App")
    world.get("/shop/v1/items", bearer(token))
    assert len(world.backend.take()) == 1

    claims = jwt.decode(token, options={"verify_signature": False})
    with world.registry() as registry:
        registry.revoke_jwt(claims["jti"], claims["exp"])
    response = world.get("/shop/v1/items", bearer(token))

    assert response.text == JWT_REVOKED
    assert world.backend.take() == []


def test_jwt_of_unsubscribed_application_900908(world):
    """JWT path: not subscribed is 403 900908 with the subscription-validation text."""
    response = world.get("/shop/v1/items", bearer(world.jwt("Stranger")))

    assert response.status == 403
    assert json.loads(response.body) == {
        "code": "900908",
        "message": "Resource forbidden ",
        "description": SUBSCRIPTION_FAILED,
    }


def test_jwt_without_scope_900910(world):
    """JWT path: a resource scope the token lacks is 403 900910 naming the resource."""
    response = world.get("/shop/v1/admin", bearer(world.jwt("App", scopes=("read",))))

    assert response.status == 403
    assert json.loads(response.body) == {
        "code": "900910",
        "message": "The access token does not allow you to access the requested resource",
        "description": "User is NOT authorized to access the Resource: /admin. "
        "Scope validation failed.",
    }


def test_jwt_with_scope_passes(world):
    """A token holding one of the resource's scopes is let through."""
    world.get("/shop/v1/admin", bearer(world.jwt("App", scopes=("read", "admin"))))

    assert len(world.backend.take()) == 1


def test_opaque_token_without_scope_900910(world):
    """Opaque path: the key manager's 900910 in the `Access failure for API` text."""
    with world.registry() as registry:
        token = registry.issue_token("App", scopes=("read",))

    response = world.get("/shop/v1/admin", bearer(token))

    assert response.status == 403
    assert response.text == opaque_body(
        "900910", "The access token does not allow you to access the requested resource"
    )


@pytest.mark.parametrize(
    ("state", "key_type", "code", "message", "status"),
    [
        (
            "BLOCKED",
            "PRODUCTION",
            "900907",
            "The requested API is temporarily blocked",
            401,
        ),
        (
            "PROD_ONLY_BLOCKED",
            "PRODUCTION",
            "900907",
            "The requested API is temporarily blocked",
            401,
        ),
        (
            "ON_HOLD",
            "PRODUCTION",
            "900909",
            "The subscription to the API is inactive",
            401,
        ),
        (
            "REJECTED",
            "PRODUCTION",
            "900909",
            "The subscription to the API is inactive",
            401,
        ),
    ],
)
def test_subscription_states_opaque(world, state, key_type, code, message, status):
    """Subscription states: BLOCKED/PROD_ONLY_BLOCKED 900907, ON_HOLD/REJECTED 900909."""
    with world.registry() as registry:
        token = registry.issue_token(state, key_type=key_type)

    response = world.get("/shop/v1/items", bearer(token))

    assert response.status == status
    assert response.text == opaque_body(code, message)
    assert world.backend.take() == []


def test_prod_only_blocked_lets_sandbox_key_through(world):
    """PROD_ONLY_BLOCKED blocks production keys only; a sandbox key passes (then 403 for
    the missing sandbox endpoint)."""
    with world.registry() as registry:
        token = registry.issue_token("PROD_ONLY_BLOCKED", key_type="SANDBOX")

    response = world.get("/shop/v1/items", bearer(token))

    assert json.loads(response.body)["description"] == (
        "Sandbox key offered to the API with no sandbox endpoint"
    )


@pytest.mark.parametrize(
    ("state", "code"),
    [("BLOCKED", "900907"), ("ON_HOLD", "900909"), ("REJECTED", "900909")],
)
def test_subscription_states_jwt(world, state, code):
    """JWT path: the same codes, with the subscription-validation text."""
    response = world.get("/shop/v1/items", bearer(world.jwt(state)))

    assert response.status == 401
    assert json.loads(response.body)["code"] == code
    assert json.loads(response.body)["description"] == SUBSCRIPTION_FAILED


def test_api_key_header_removed_before_forwarding(world):
    """ApiKey header (any case) authenticates and never reaches the backend."""
    with world.registry() as registry:
        key = registry.issue_api_key("App")

    world.get("/shop/v1/items", {"apikey": key})

    [received] = world.backend.take()
    assert received.header("ApiKey") is None
    assert all(key not in value for _, value in received.headers)


def test_api_key_query_parameter_stripped(world):
    """`?apikey=` authenticates and is taken out of the forwarded query."""
    with world.registry() as registry:
        key = registry.issue_api_key("App")

    world.get(f"/shop/v1/items?a=1&apikey={key}&b=2")

    [received] = world.backend.take()
    assert received.path == "/items?a=1&b=2"


@pytest.mark.parametrize("kind", ["unknown", "revoked", "expired"])
def test_invalid_api_key_900901(world, kind):
    """An unknown, revoked or expired API key is 900901."""
    with world.registry() as registry:
        if kind == "unknown":
            key = "not-a-key"
        elif kind == "revoked":
            key = registry.issue_api_key("App")
            registry.revoke_api_key(key)
        else:
            key = registry.issue_api_key("App", validity=60, now=time.time() - 120)

    response = world.get("/shop/v1/items", {"ApiKey": key})

    assert response.status == 401
    assert response.text == JWT_INVALID
    assert response.header("ApiKey") is None


def test_api_key_of_unsubscribed_application_900908(world):
    """An API key of an application not subscribed to the API is 403 900908."""
    with world.registry() as registry:
        key = registry.issue_api_key("Stranger")

    response = world.get("/shop/v1/items", {"ApiKey": key})

    assert response.status == 403
    assert json.loads(response.body)["code"] == "900908"


def test_api_key_only_api_forwards_authorization(world):
    """With only api_key security no OAuth authenticator runs: Authorization passes untouched."""
    with world.registry() as registry:
        key = registry.issue_api_key("App")

    world.get("/keys/v1/", {"X-Shop-Key": key, "Authorization": "Bearer backend-own"})

    [received] = world.backend.take()
    assert received.header_values("Authorization") == ["Bearer backend-own"]
    assert received.header("X-Shop-Key") is None


def test_missing_credentials_names_api_headers(world):
    """900902 names the API's auth header and API-key header."""
    response = world.get("/keys/v1/")

    assert response.status == 401
    assert json.loads(response.body)["description"] == (
        "Invalid Credentials. Make sure your API invocation call has a header: "
        "'Authorization : Bearer ACCESS_TOKEN' or 'Authorization : Basic ACCESS_TOKEN' "
        "or 'X-Shop-Key : API_KEY'"
    )
    assert response.header("WWW-Authenticate") == (
        'Internal API Key realm="WSO2 API Manager", API Key realm="WSO2 API Manager", '
        'error="invalid_token", error_description="The provided token is invalid"'
    )


def test_custom_auth_header_carries_token(world):
    """Per-API auth header: the token is read from X-Auth and removed; Authorization stays."""
    with world.registry() as registry:
        token = registry.issue_token("App")

    world.get(
        "/custom/v1/",
        {"X-Auth": f"Bearer {token}", "Authorization": "Basic YmFja2VuZA=="},
    )

    [received] = world.backend.take()
    assert received.header("X-Auth") is None
    assert received.header_values("Authorization") == ["Basic YmFja2VuZA=="]


def test_jwt_resigned_token_with_changed_claims_rejected(world):
    """A JWT whose payload was changed after signing fails the signature check."""
    token = world.jwt("App")
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["scope"] = "admin"
    forged_payload = _b64(json.dumps(claims).encode())

    response = world.get(
        "/shop/v1/admin", bearer(f"{header}.{forged_payload}.{signature}")
    )

    assert response.text == JWT_INVALID


def test_private_key_is_owner_only(world):
    """The key the command line creates is readable by its owner only."""
    key = world.space.root / "keys" / "wso2carbon.key"

    assert key.stat().st_mode & 0o077 == 0
    assert load_private_key(key).key_size == 2048


def test_api_key_in_header_and_query_forwards_query(world):
    """WSO2's extractApiKey reads the header first; then the apikey query stays in the URL."""
    with world.registry() as registry:
        key = registry.issue_api_key("App")

    response = world.get(f"/shop/v1/items?apikey={key}", {"ApiKey": key})

    assert response.status == 401  # the tutorial backend's answer
    [received] = world.backend.take()
    assert received.header("ApiKey") is None
    assert received.path == f"/items?apikey={key}"


def test_deeply_nested_jwt_is_900901(world):
    """A token of JWT shape whose JSON is nested too deeply is invalid, never a 500."""

    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    token = ".".join(
        (segment(b'{"alg":"RS256"}'), segment(b"[" * 3000 + b"]" * 3000), "c2ln")
    )

    response = world.get("/shop/v1/items", {"Authorization": f"Bearer {token}"})

    assert response.status == 401
    assert response.text == JWT_INVALID
    assert world.backend.take() == []
