"""End to end: application tokens, user tokens and the resource auth type.

WSO2's key manager marks a token issued by the client credentials grant as an
application token and one issued by the password grant as a user token. Before it checks
the subscription, it rejects a token whose type the resource's auth type excludes with
900905 (`hasTokenRequiredAuthLevel`). The end user in the backend JWT follows the type.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

import pytest
from conftest import Backend, GatewayProcess, Workspace, running_backend

from addon.keypairs import create_key_pair

CONFIG = """\
apis:
  - name: Shop
    context: /shop
    version: v1
    endpoint: {backend}/
    resources:
      - target: /machines
        verbs: [GET]
        auth_type: Application
      - target: /people
        verbs: [GET]
        auth_type: Application User
      - target: /anyone
        verbs: [GET]
"""


def incorrect_type() -> str:
    return (
        '{"code":"900905","message":"Incorrect Access Token Type is provided",'
        '"description":"Access failure for API: /shop/v1, version: v1 status: (900905) - '
        'Incorrect Access Token Type is provided"}'
    )


@dataclass
class World:
    space: Workspace
    backend: Backend
    gateway: GatewayProcess

    def token(self, app: str = "App", **kwargs) -> str:
        with self.space.registry() as registry:
            return registry.issue_token(app, **kwargs)

    def get(self, path: str, token: str):
        self.backend.take()
        return self.gateway.request("GET", path, {"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def world(tmp_path_factory, confdir):
    with running_backend() as backend:
        space = Workspace(tmp_path_factory.mktemp("token-type"), confdir)
        space.write_config(CONFIG.format(backend=backend.url))
        create_key_pair(space.root / "keys", "wso2carbon")
        with space.registry() as registry:
            registry.create_application("App")
            registry.subscribe("App", "Shop", "v1", tier="Gold")
            registry.create_application("Stranger")
        gateway = space.start(["--set", "gateway_backend_jwt=true"])
        try:
            yield World(space, backend, gateway)
        finally:
            gateway.stop()


def test_application_token_on_user_resource_is_900905(world):
    """hasTokenRequiredAuthLevel: auth type Application User rejects application tokens."""
    response = world.get("/shop/v1/people", world.token())

    assert response.status == 401
    assert response.text == incorrect_type()
    assert world.backend.take() == []


def test_user_token_on_application_resource_is_900905(world):
    """hasTokenRequiredAuthLevel: auth type Application rejects user tokens."""
    response = world.get("/shop/v1/machines", world.token(user="alice"))

    assert response.status == 401
    assert response.text == incorrect_type()


@pytest.mark.parametrize(
    ("path", "user"),
    [
        ("/shop/v1/machines", None),
        ("/shop/v1/people", "alice"),
        ("/shop/v1/anyone", None),
        ("/shop/v1/anyone", "alice"),
    ],
)
def test_matching_token_type_is_forwarded(world, path, user):
    """Each auth type admits its own token type; Application & Application User admits both."""
    world.get(path, world.token(user=user))

    assert len(world.backend.take()) == 1


def test_token_type_checked_before_subscription(world):
    """The key manager checks the type before the subscription: 900905, not 900908."""
    response = world.get("/shop/v1/people", world.token("Stranger"))

    assert json.loads(response.body)["code"] == "900905"


def test_expired_token_checked_before_type(world):
    """An expired token is 900901 whatever its type."""
    token = world.token(validity=60, now=time.time() - 120)

    response = world.get("/shop/v1/people", token)

    assert json.loads(response.body)["code"] == "900901"


def claims_of(assertion: str) -> dict:
    payload = assertion.split(".")[1]
    return json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))


def test_backend_jwt_names_user_of_user_token(world):
    """The backend JWT's end user is the token's user, with the tenant."""
    world.get("/shop/v1/anyone", world.token(user="alice"))

    [received] = world.backend.take()
    claims = claims_of(received.header("X-JWT-Assertion"))
    assert claims["http://wso2.org/claims/enduser"] == "alice@carbon.super"
    assert claims["sub"] == "alice@carbon.super"


def test_backend_jwt_names_owner_of_application_token(world):
    """An application token's end user is the application owner."""
    world.get("/shop/v1/anyone", world.token())

    [received] = world.backend.take()
    claims = claims_of(received.header("X-JWT-Assertion"))
    assert claims["http://wso2.org/claims/enduser"] == "admin@carbon.super"
