"""End to end: throttling levels, the 429 answer and its headers, with tiny custom tiers.

Tiers of two or three requests per minute are hit at once, so no test waits for a
window to pass. Each test uses its own application, so counters never mix.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from dataclasses import dataclass

import pytest
from conftest import Backend, GatewayProcess, Workspace, running_backend

CONFIG = """\
throttling:
  subscription_tiers:
    - name: Two
      requests: 2
    - name: TwoSoft
      requests: 2
      stop_on_quota_reach: false
  application_tiers:
    - name: TwoPerMin
      requests: 2
      unit_time: 1
      time_unit: min
  api_tiers:
    - name: ThreePerMin
      requests: 3
apis:
  - name: Plain
    context: /plain
    version: v1
    endpoint: {backend}/
    resources:
      - target: /limited
        verbs: [GET]
        throttling_tier: ThreePerMin
      - target: /open
        verbs: [GET]
      - target: /anon
        verbs: [GET]
        auth_type: None
  - name: Capped
    context: /capped
    version: v1
    endpoint: {backend}/
    throttling_tier: ThreePerMin
"""

NEXT_ACCESS = re.compile(r"^\d{4}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:00\+0000 UTC$")


@dataclass
class World:
    space: Workspace
    backend: Backend
    gateway: GatewayProcess

    def app(self, name, *, app_tier="Unlimited", tier="Unlimited", api="Plain"):
        # Stay clear of a minute boundary, so that a test's requests share one window.
        if time.time() % 60 > 58.5:
            time.sleep(60 - time.time() % 60 + 0.05)
        with self.space.registry() as registry:
            registry.create_application(name, tier=app_tier)
            registry.subscribe(name, api, "v1", tier=tier)
            return registry.issue_token(name)

    def get(self, path, token=None, headers=None):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.gateway.request("GET", path, headers)


@pytest.fixture(scope="module")
def world(tmp_path_factory, confdir):
    with running_backend() as backend:
        space = Workspace(tmp_path_factory.mktemp("throttling"), confdir)
        space.write_config(CONFIG.format(backend=backend.url))
        gateway = space.start()
        try:
            yield World(space, backend, gateway)
        finally:
            gateway.stop()


def statuses(world, path, token, count, headers=None):
    return [world.get(path, token, headers).status for _ in range(count)]


def test_subscription_tier_429_900804(world):
    """Subscription limit: 429, 900804, `quota .You can access API after`, nextAccessTime."""
    token = world.app("SubApp", tier="Two")
    assert statuses(world, "/plain/v1/open", token, 2) == [401, 401]  # backend answers

    before = time.time()
    response = world.get("/plain/v1/open", token, {"Custom": "Bearer 1234"})

    assert response.status == 429
    body = json.loads(response.body)
    assert list(body) == ["code", "message", "description", "nextAccessTime"]
    assert body["code"] == "900804"
    assert body["message"] == "Message throttled out"
    assert NEXT_ACCESS.match(body["nextAccessTime"])
    assert body["description"] == (
        f"You have exceeded your quota .You can access API after {body['nextAccessTime']}"
    )
    retry_at = email.utils.parsedate_to_datetime(
        response.header("Retry-After")
    ).timestamp()
    assert response.header("Retry-After").endswith(" GMT")
    assert before < retry_at <= before + 61
    assert retry_at % 60 == 0
    assert response.header("Custom") == "Bearer 1234"
    assert response.header("Access-Control-Allow-Origin") == "*"
    assert response.header("WWW-Authenticate") is None


def test_application_tier_900803(world):
    """Application tier (apps create --tier): 900803 once the application's quota is used."""
    token = world.app("AppTierApp", app_tier="TwoPerMin")
    statuses(world, "/plain/v1/open", token, 2)

    response = world.get("/plain/v1/open", token)

    assert response.status == 429
    assert json.loads(response.body)["code"] == "900803"


def test_resource_tier_900802(world):
    """Resource tier: 900802, counted per resource and verb, not per application."""
    first = world.app("ResourceA")
    second = world.app("ResourceB")
    assert statuses(world, "/plain/v1/limited", first, 2) == [401, 401]
    assert world.get("/plain/v1/limited", second).status == 401

    response = world.get("/plain/v1/limited", first)

    assert response.status == 429
    assert json.loads(response.body)["code"] == "900802"
    assert world.get("/plain/v1/open", first).status == 401


def test_api_tier_900800_replaces_resource_tier(world):
    """API tier: 900800 for the whole API."""
    token = world.app("CappedApp", api="Capped")
    assert statuses(world, "/capped/v1/a", token, 3) == [401, 401, 401]

    response = world.get("/capped/v1/b", token)

    assert response.status == 429
    assert json.loads(response.body)["code"] == "900800"


def test_soft_subscription_tier_lets_calls_through(world):
    """A subscription tier that does not stop on quota reach lets calls through."""
    token = world.app("SoftApp", tier="TwoSoft")

    assert statuses(world, "/plain/v1/open", token, 4) == [401, 401, 401, 401]


def test_rejected_requests_are_not_counted(world):
    """Only requests that pass every level are counted, as WSO2 publishes them."""
    token = world.app("CountApp", tier="Two")
    world.get("/plain/v1/open", token)
    with world.space.registry() as registry:
        registry.subscribe("CountApp", "Plain", "v1", tier="Two", state="BLOCKED")
    assert world.get("/plain/v1/open", token).status == 401
    with world.space.registry() as registry:
        registry.subscribe("CountApp", "Plain", "v1", tier="Two", state="UNBLOCKED")

    assert world.get("/plain/v1/open", token).status == 401
    assert world.get("/plain/v1/open", token).status == 429


def test_unauthenticated_resource_forwards_x_forwarded_for(world):
    """Auth type None: no credential needed; X-Forwarded-For passes unchanged."""
    world.backend.take()
    response = world.get("/plain/v1/anon", headers={"X-Forwarded-For": "203.0.113.9"})

    assert response.status == 401  # from the backend
    [received] = world.backend.take()
    assert received.header("X-Forwarded-For") == "203.0.113.9"


def test_throttled_status_line_has_reason(world):
    """The 429 status line carries its phrase, as WSO2's does: `429 Too Many Requests`."""
    token = world.app("ReasonApp", tier="Two")
    statuses(world, "/plain/v1/open", token, 2)

    response = world.get("/plain/v1/open", token)

    assert response.status == 429
    assert response.reason == "Too Many Requests"
