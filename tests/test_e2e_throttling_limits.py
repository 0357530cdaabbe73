"""End to end: burst control, the backend hard limit and blocking conditions.

Burst windows open at a caller's first access (Synapse's access-rate controller), so
per-minute bursts are hit at once and only the per-second cases wait, for about a
second. Each test uses its own application, and each API with `max_tps` serves one
test, so counters never mix.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from conftest import Backend, GatewayProcess, Workspace, running_backend, wait_for

CONFIG = """\
throttling:
  subscription_tiers:
    - {name: BurstTwo, requests: 100, rate_limit_count: 2, rate_limit_time_unit: min}
    - {name: QuotaTwo, requests: 2, rate_limit_count: 2, rate_limit_time_unit: min}
    - {name: BurstOneSoft, requests: 100, rate_limit_count: 1,
       rate_limit_time_unit: min, stop_on_quota_reach: false}
    - {name: BurstOnePerSec, requests: 100, rate_limit_count: 1,
       rate_limit_time_unit: sec}
    - {name: BurstOneReload, requests: 100, rate_limit_count: 1,
       rate_limit_time_unit: min}
  application_tiers:
    - {name: AppBurstTwo, requests: 100, rate_limit_count: 2, rate_limit_time_unit: min}
    - {name: AppQuotaOne, requests: 1}
blocking_conditions:
  - {type: API, value: /closed/v1}
  - {type: APPLICATION, value: "admin:Blocked"}
  - {type: USER, value: mallory}
  - {type: IP, fixed_ip: 203.0.113.7}
  - {type: IPRANGE, starting_ip: 198.51.100.10, ending_ip: 198.51.100.20}
  - {type: IP, fixed_ip: 203.0.113.8, enabled: false}
apis:
  - name: Plain
    context: /plain
    version: v1
    endpoint: {backend}/
  - name: Closed
    context: /closed
    version: v1
    endpoint: {backend}/
  - name: Capped
    context: /capped
    version: v1
    endpoint: {backend}/
    sandbox_endpoint: {backend}/sandbox
    max_tps: {production: 2, sandbox: 1}
"""

BURST_BODY = {
    "code": "900807",
    "message": "Message throttled out",
    "description": "You have exceeded your quota",
}
APP_BURST_BODY = {
    "code": "900809",
    "message": "Message throttled out",
    "description": "You have exceeded your application burst limit quota",
}
HARD_LIMIT_BODY = {
    "code": "900801",
    "message": "API Limit Reached",
    "description": "API not accepting requests",
}
BLOCKED_BODY = {
    "code": "900805",
    "message": "Message blocked",
    "description": "You have been blocked from accessing the resource",
}


@dataclass
class World:
    space: Workspace
    backend: Backend
    gateway: GatewayProcess

    def app(
        self, name, *, app_tier="Unlimited", tier="Unlimited", api="Plain", **token
    ):
        with self.space.registry() as registry:
            registry.create_application(name, tier=app_tier)
            registry.subscribe(name, api, "v1", tier=tier)
            return registry.issue_token(name, **token)

    def get(self, path, token=None, headers=None):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.gateway.request("GET", path, headers)

    def statuses(self, path, token, count, headers=None):
        return [self.get(path, token, headers).status for _ in range(count)]


@contextmanager
def running_world(folder, confdir, config, extra=None):
    """Start a gateway on `config` and a recording backend; stop both afterwards."""
    with running_backend() as backend:
        space = Workspace(folder, confdir)
        space.write_config(config.replace("{backend}", backend.url))
        gateway = space.start(extra)
        try:
            yield World(space, backend, gateway)
        finally:
            gateway.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory, confdir):
    with running_world(tmp_path_factory.mktemp("limits"), confdir, CONFIG) as world:
        yield world


def test_subscription_burst_429_900807(world):
    """Subscription burst control: 429 900807 without nextAccessTime or Retry-After."""
    token = world.app("BurstApp", tier="BurstTwo")
    assert world.statuses("/plain/v1/a", token, 2) == [401, 401]  # from the backend
    world.backend.take()

    response = world.get("/plain/v1/a", token, {"Custom": "Bearer 1234"})

    assert response.status == 429
    assert json.loads(response.body) == BURST_BODY
    assert response.header("Retry-After") is None
    assert response.header("Custom") == "Bearer 1234"
    assert response.header("Access-Control-Allow-Origin") == "*"
    assert world.backend.take() == []


def test_application_burst_429_900809(world):
    """Application burst control: 429 900809 with WSO2's own description."""
    token = world.app("AppBurstApp", app_tier="AppBurstTwo")
    assert world.statuses("/plain/v1/a", token, 2) == [401, 401]
    world.backend.take()

    response = world.get("/plain/v1/a", token)

    assert response.status == 429
    assert json.loads(response.body) == APP_BURST_BODY
    assert response.header("Retry-After") is None
    assert world.backend.take() == []


def test_subscription_quota_checked_before_its_burst(world):
    """With the quota and the burst both used up, the quota decides: 900804."""
    token = world.app("QuotaFirstApp", tier="QuotaTwo")
    world.statuses("/plain/v1/a", token, 2)

    response = world.get("/plain/v1/a", token)

    assert response.status == 429
    body = json.loads(response.body)
    assert body["code"] == "900804"
    assert "nextAccessTime" in body


def test_subscription_burst_checked_before_application(world):
    """Subscription burst comes before the application quota and burst: 900807."""
    token = world.app("SubBeforeAppApp", tier="BurstTwo", app_tier="AppBurstTwo")
    world.statuses("/plain/v1/a", token, 2)

    response = world.get("/plain/v1/a", token)

    assert json.loads(response.body)["code"] == "900807"


def test_soft_subscription_burst_lets_calls_through(world):
    """A tier that does not stop on quota reach lets calls over its burst through."""
    token = world.app("SoftBurstApp", tier="BurstOneSoft", app_tier="AppQuotaOne")

    # The application quota of 1 is never reached: the let-through skips later levels.
    assert world.statuses("/plain/v1/a", token, 4) == [401, 401, 401, 401]


def test_burst_per_second_window_reopens(world):
    """`rate_limit_time_unit: sec`: a new window opens after the first second."""
    token = world.app("PerSecondApp", tier="BurstOnePerSec")
    started = time.monotonic()
    first = world.get("/plain/v1/a", token).status
    second = world.get("/plain/v1/a", token).status
    assert time.monotonic() - started < 1.0, "the host is too slow for this test"
    time.sleep(1.05)

    third = world.get("/plain/v1/a", token).status

    assert [first, second, third] == [401, 429, 401]


def test_hard_limit_503_900801_per_key_type(world):
    """Backend max TPS: 503 900801, no Retry-After, counted per key type."""
    production = world.app("HardApp", api="Capped")
    sandbox = world.app("HardSandboxApp", api="Capped", key_type="SANDBOX")
    world.backend.take()
    started = time.monotonic()
    allowed = [
        world.get("/capped/v1/a", production).status,
        world.get("/capped/v1/a", production).status,
        world.get("/capped/v1/a", sandbox).status,
    ]
    over = world.get("/capped/v1/a", production)
    sandbox_over = world.get("/capped/v1/a", sandbox)
    assert time.monotonic() - started < 1.0, "the host is too slow for this test"

    assert allowed == [401, 401, 401]
    assert over.status == 503
    assert over.reason == "Service Unavailable"
    assert json.loads(over.body) == HARD_LIMIT_BODY
    assert over.header("Retry-After") is None
    assert sandbox_over.status == 503
    assert len(world.backend.take()) == 3


def test_blocked_api_context_403_900805(world):
    """API context condition: 403 900805; the backend receives nothing."""
    token = world.app("ClosedApp", api="Closed")
    world.backend.take()

    response = world.get("/closed/v1/a", token, {"Custom": "Bearer 1234"})

    assert response.status == 403
    assert response.reason == "Forbidden"
    assert json.loads(response.body) == BLOCKED_BODY
    assert response.header("Retry-After") is None
    assert response.header("Custom") == "Bearer 1234"
    assert world.backend.take() == []


def test_blocked_application_403(world):
    """Application condition `admin:Blocked` (subscriber:application) blocks it."""
    token = world.app("Blocked")
    world.backend.take()

    response = world.get("/plain/v1/a", token)

    assert response.status == 403
    assert json.loads(response.body) == BLOCKED_BODY
    assert world.backend.take() == []


def test_blocked_user_403(world):
    """User condition `mallory` blocks the calls of user mallory@carbon.super."""
    token = world.app("MalloryApp")
    with sqlite3.connect(world.space.db) as connection:
        connection.execute(
            "UPDATE applications SET owner = 'mallory' WHERE name = 'MalloryApp'"
        )

    response = world.get("/plain/v1/a", token)

    assert response.status == 403
    assert json.loads(response.body)["code"] == "900805"


@pytest.mark.parametrize(
    ("forwarded", "status"),
    [
        ("203.0.113.7", 403),  # the fixed IP
        ("203.0.113.7, 10.0.0.1", 403),  # the first entry is the client
        ("10.0.0.1, 203.0.113.7", 401),  # a proxy's address is not the client's
        ("198.51.100.15", 403),  # inside the range
        ("198.51.100.10", 401),  # WSO2's range excludes its starting address
        ("198.51.100.20", 401),  # and its ending address
        ("203.0.113.8", 401),  # a disabled condition
    ],
)
def test_blocked_client_address(world, forwarded, status):
    """IP and IP range conditions match the first X-Forwarded-For entry."""
    token = world.app("AddressApp")

    response = world.get("/plain/v1/a", token, {"X-Forwarded-For": forwarded})

    assert response.status == status


def test_blocked_request_touches_no_counter(world):
    """A blocked request is rejected before any counter, so it uses no burst quota."""
    token = world.app("BlockedFirstApp", tier="BurstTwo")
    blocked = {"X-Forwarded-For": "203.0.113.7"}
    assert world.statuses("/plain/v1/a", token, 3, blocked) == [403, 403, 403]

    assert world.statuses("/plain/v1/a", token, 3) == [401, 401, 429]


def test_authentication_runs_before_blocking(world):
    """Authentication runs first, as on WSO2: a bad token from a blocked IP gets 401."""
    response = world.get(
        "/plain/v1/a", "not-a-token", {"X-Forwarded-For": "203.0.113.7"}
    )

    assert response.status == 401
    assert json.loads(response.body)["code"] == "900901"


def test_burst_window_survives_reload(world):
    """A reload that keeps a tier keeps its burst window, as for the quota counters."""
    token = world.app("ReloadApp", tier="BurstOneReload")
    assert world.get("/plain/v1/a", token).status == 401

    config = world.space.config.read_text()
    world.space.write_config(
        config + "  - {name: Extra, context: /extra, version: v1,"
        f" endpoint: '{world.backend.url}/'}}\n"
    )
    try:
        assert wait_for(lambda: "reloaded after a change" in world.gateway.log, 10)
        response = world.get("/plain/v1/a", token)
    finally:
        world.space.write_config(config)
        wait_for(lambda: world.gateway.log.count("reloaded after a change") >= 2, 10)

    assert response.status == 429
    assert json.loads(response.body)["code"] == "900807"


LEGACY_CONFIG = """\
throttling:
  subscription_tiers:
    - {name: BurstOne, requests: 100, rate_limit_count: 1, rate_limit_time_unit: min}
blocking_conditions:
  - {type: IP, fixed_ip: 203.0.113.7}
apis:
  - name: Legacy
    context: /legacy
    version: v1
    endpoint: {backend}/
    max_tps: {production: 1}
  - name: Other
    context: /other
    version: v1
    endpoint: {backend}/
"""


@pytest.fixture(scope="module")
def legacy(tmp_path_factory, confdir):
    folder = tmp_path_factory.mktemp("limits3x")
    extra = ["--set", "gateway_wso2_version=3.x"]
    with running_world(folder, confdir, LEGACY_CONFIG, extra) as world:
        yield world


def test_3x_blocked_amt_fault(legacy):
    """3.x: a blocked request gets 403 and an amt:fault with the numeric code."""
    token = legacy.app("Blocked3x", api="Other")

    response = legacy.get("/other/v1/a", token, {"X-Forwarded-For": "203.0.113.7"})

    assert response.status == 403
    assert response.text == (
        '<amt:fault xmlns:amt="http://wso2.org/apimanager/throttling">'
        "<amt:code>900805</amt:code><amt:message>Message blocked</amt:message>"
        "<amt:description>You have been blocked from accessing the resource"
        "</amt:description></amt:fault>"
    )


def test_3x_burst_fault_without_next_access(legacy):
    """3.x: subscription burst 900807 has no nextAccessTime element."""
    token = legacy.app("Burst3x", api="Other", tier="BurstOne")
    legacy.get("/other/v1/a", token)

    response = legacy.get("/other/v1/a", token)

    assert response.status == 429
    assert response.text == (
        '<amt:fault xmlns:amt="http://wso2.org/apimanager/throttling">'
        "<amt:code>900807</amt:code><amt:message>Message throttled out</amt:message>"
        "<amt:description>You have exceeded your quota</amt:description></amt:fault>"
    )


def test_3x_hard_limit_json_fault(legacy):
    """3.x: the hard limit's 503 in JSON for `Accept: application/json`."""
    token = legacy.app("Hard3x", api="Legacy")
    accept = {"Accept": "application/json"}
    started = time.monotonic()
    legacy.get("/legacy/v1/a", token, accept)
    response = legacy.get("/legacy/v1/a", token, accept)
    assert time.monotonic() - started < 1.0, "the host is too slow for this test"

    assert response.status == 503
    assert json.loads(response.body) == {
        "fault": {
            "code": 900801,
            "message": "API Limit Reached",
            "description": "API not accepting requests",
        }
    }


def test_inverted_ip_range_blocks_outside(workspace, backend):
    """An inverted IP range blocks every client outside it; the peer address counts."""
    workspace.write_config(
        "blocking_conditions:\n"
        "  - {type: IPRANGE, starting_ip: 127.0.0.0, ending_ip: 127.0.0.255, "
        "invert: true}\n"
        f"apis:\n  - {{name: A, context: /a, version: v1, endpoint: '{backend.url}/'}}\n"
    )
    token = workspace.app_with_token("App", "A", version="v1")
    gateway = workspace.start()
    authorization = {"Authorization": f"Bearer {token}"}

    from_peer = gateway.request("GET", "/a/v1/x", authorization)
    forwarded = gateway.request(
        "GET", "/a/v1/x", {**authorization, "X-Forwarded-For": "192.0.2.1"}
    )

    assert from_peer.status == 401  # from the backend: 127.0.0.1 is inside
    assert forwarded.status == 403
    assert json.loads(forwarded.body) == BLOCKED_BODY
    assert len(backend.requests) == 1
