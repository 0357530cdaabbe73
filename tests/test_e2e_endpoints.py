"""End to end: production and sandbox endpoints, key errors, endpoint security basic,
the backend JWT and the outbound auth header option.

The first gateway runs with `gateway_backend_jwt` and `gateway_outbound_auth_header` off;
the second with both on. Each test names the WSO2 behaviour it pins.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import jwt
import pytest
from conftest import Backend, GatewayProcess, Workspace, running_backend, wait_for

from addon.keypairs import create_key_pair, load_private_key
from addon.settings import DEFAULT_ISSUER
from addon.token_issue import issue_jwt

CONFIG = """\
apis:
  - name: Both
    context: /both
    version: v1
    production_endpoint: {backend}/prod
    sandbox_endpoint: {backend}/sandbox
  - name: ProdOnly
    context: /prodonly
    version: v1
    endpoint: {backend}/prod
  - name: SandboxOnly
    context: /sandboxonly
    version: v1
    sandbox_endpoint: {backend}/sandbox
  - name: Secured
    context: /secured
    version: v1
    endpoint: {backend}/
    in_sequence: TokenExchange
    endpoint_security:
      type: basic
      username: backend-user
      password_env: BACKEND_PASSWORD
  - name: Reader
    context: /reader
    version: v1
    endpoint: {backend}/
    in_sequence: ReadAssertion
"""

TOKEN_EXCHANGE = """\
<sequence xmlns="http://ws.apache.org/ns/synapse" name="TokenExchange">
    <property name="Custom" expression="get-property('transport', 'Custom')"/>
    <property name="Authorization" expression="get-property('Custom')" scope="transport"/>
    <property name="Custom" scope="transport" action="remove"/>
</sequence>
"""
READ_ASSERTION = """\
<sequence xmlns="http://ws.apache.org/ns/synapse" name="ReadAssertion">
    <property name="X-Seen-Assertion" expression="get-property('transport', 'X-JWT-Assertion')"
              scope="transport"/>
    <property name="X-JWT-Assertion" scope="transport" action="remove"/>
</sequence>
"""


def key_error(key_type: str) -> str:
    text = {
        "PRODUCTION": "Production key offered to the API with no production endpoint",
        "SANDBOX": "Sandbox key offered to the API with no sandbox endpoint",
    }[key_type]
    return (
        '{"code":"900901","type":"Status report","message":"Runtime Error",'
        f'"description":"{text}"}}'
    )


@dataclass
class World:
    space: Workspace
    backend: Backend
    gateway: GatewayProcess

    def token(self, key_type="PRODUCTION", **kwargs):
        with self.space.registry() as registry:
            return registry.issue_token("App", key_type=key_type, **kwargs)

    def get(self, path, headers):
        self.backend.take()
        return self.gateway.request("GET", path, headers)


def _world(tmp_path_factory, confdir, backend, name, extra):
    space = Workspace(tmp_path_factory.mktemp(name), confdir)
    space.write_config(CONFIG.format(backend=backend.url))
    space.write_sequence("TokenExchange", TOKEN_EXCHANGE)
    space.write_sequence("ReadAssertion", READ_ASSERTION)
    create_key_pair(space.root / "keys", "wso2carbon")
    with space.registry() as registry:
        registry.create_application("App", tier="Unlimited")
        for api in ("Both", "ProdOnly", "SandboxOnly", "Secured", "Reader"):
            registry.subscribe("App", api, "v1", tier="Gold")
    return space, space.start(extra)


@pytest.fixture(scope="module")
def world(tmp_path_factory, confdir):
    with pytest.MonkeyPatch.context() as patch, running_backend() as backend:
        patch.setenv("BACKEND_PASSWORD", "s3cret")
        space, gateway = _world(tmp_path_factory, confdir, backend, "endpoints", [])
        try:
            yield World(space, backend, gateway)
        finally:
            gateway.stop()


@pytest.fixture(scope="module")
def jwt_world(tmp_path_factory, confdir):
    with pytest.MonkeyPatch.context() as patch, running_backend() as backend:
        patch.setenv("BACKEND_PASSWORD", "s3cret")
        extra = [
            "--set",
            "gateway_backend_jwt=true",
            "--set",
            "gateway_outbound_auth_header=true",
        ]
        space, gateway = _world(tmp_path_factory, confdir, backend, "backendjwt", extra)
        try:
            yield World(space, backend, gateway)
        finally:
            gateway.stop()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("key_type", "path"), [("PRODUCTION", "/prod"), ("SANDBOX", "/sandbox")]
)
def test_key_type_selects_endpoint(world, key_type, path):
    """AM_KEY_TYPE routes production keys to production and sandbox keys to sandbox."""
    world.get("/both/v1/x", bearer(world.token(key_type)))

    [received] = world.backend.take()
    assert received.path == f"{path}/x"


@pytest.mark.parametrize(
    ("key_type", "path"),
    [("SANDBOX", "/prodonly/v1/"), ("PRODUCTION", "/sandboxonly/v1/")],
)
def test_key_type_without_endpoint_403(world, key_type, path):
    """`_sandbox_key_error_` / `_production_key_error_`: 403, 900901, WSO2's texts."""
    response = world.get(path, bearer(world.token(key_type)))

    assert response.status == 403
    assert response.text == key_error(key_type)
    assert world.backend.take() == []


def test_endpoint_security_basic_overwrites_sequence(world):
    """Endpoint security basic replaces the Authorization a sequence set; logged at INFO."""
    world.get("/secured/v1/", {**bearer(world.token()), "Custom": "Bearer 1234"})

    [received] = world.backend.take()
    expected = "Basic " + base64.b64encode(b"backend-user:s3cret").decode()
    assert received.header_values("Authorization") == [expected]
    assert wait_for(
        lambda: "endpoint security basic of Secured:vv1 replaced" in world.gateway.log
    )
    assert "s3cret" not in world.gateway.log


def test_backend_jwt_absent_when_option_off(world):
    """Without gateway_backend_jwt no X-JWT-Assertion is added, and a client's never passes."""
    world.get("/both/v1/x", {**bearer(world.token()), "X-JWT-Assertion": "forged"})

    [received] = world.backend.take()
    assert received.header("X-JWT-Assertion") is None


def test_backend_jwt_claims_and_signature(jwt_world):
    """X-JWT-Assertion: RS256, iss wso2.org/products/am, WSO2's claims; standard base64."""
    world = jwt_world
    world.get("/both/v1/x", {**bearer(world.token()), "X-JWT-Assertion": "forged"})

    [received] = world.backend.take()
    [assertion] = received.header_values("X-JWT-Assertion")
    header_part, body_part, signature_part = assertion.split(".")
    header = json.loads(_decode_standard(header_part))
    assert header["typ"] == "JWT"
    assert header["alg"] == "RS256"
    assert header["kid"] == header["x5t"] + "_RS256"

    public_key = load_private_key(
        world.space.root / "keys" / "wso2carbon.key"
    ).public_key()
    urlsafe = ".".join(
        _to_urlsafe(part) for part in (header_part, body_part, signature_part)
    )
    claims = jwt.decode(urlsafe, public_key, algorithms=["RS256"])
    dialect = "http://wso2.org/claims/"
    assert claims["iss"] == "wso2.org/products/am"
    assert claims[dialect + "applicationname"] == "App"
    assert claims[dialect + "applicationtier"] == "Unlimited"
    assert claims[dialect + "apiname"] == "Both"
    assert claims[dialect + "apicontext"] == "/both/v1"
    assert claims[dialect + "version"] == "v1"
    assert claims[dialect + "tier"] == "Gold"
    assert claims[dialect + "keytype"] == "PRODUCTION"
    assert claims[dialect + "usertype"] == "Application_User"
    assert claims[dialect + "subscriber"] == "admin"
    assert claims[dialect + "enduser"] == "admin@carbon.super"
    assert claims[dialect + "applicationUUId"]
    assert claims["exp"] - claims["iat"] == 900


def test_backend_jwt_copies_access_token_claims(jwt_world):
    """A JWT access token's own claims are copied, except iss, aud, exp and the like."""
    world = jwt_world
    with world.space.registry() as registry:
        token = issue_jwt(
            registry,
            "App",
            signing_key=world.space.root / "keys" / "wso2carbon.key",
            issuer=DEFAULT_ISSUER,
            scopes=("read",),
        )

    world.get("/both/v1/x", bearer(token))

    [received] = world.backend.take()
    body = received.header("X-JWT-Assertion").split(".")[1]
    claims = json.loads(_decode_standard(body))
    assert claims["scope"] == "read"
    assert claims["azp"]
    assert claims["iss"] == "wso2.org/products/am"
    assert "aud" not in claims


def test_sequence_reads_and_removes_backend_jwt(jwt_world):
    """The backend JWT is added during authentication, before mediation."""
    world = jwt_world
    world.get("/reader/v1/", bearer(world.token()))

    [received] = world.backend.take()
    assert received.header("X-JWT-Assertion") is None
    assert received.header("X-Seen-Assertion").count(".") == 2


def test_outbound_auth_header_keeps_token(jwt_world):
    """gateway_outbound_auth_header (enable_outbound_auth_header): the token goes on."""
    world = jwt_world
    token = world.token()
    world.get("/both/v1/x", bearer(token))

    [received] = world.backend.take()
    assert received.header_values("Authorization") == [f"Bearer {token}"]


def _decode_standard(part: str) -> bytes:
    return base64.b64decode(part + "=" * (-len(part) % 4))


def _to_urlsafe(part: str) -> str:
    return part.replace("+", "-").replace("/", "_")
