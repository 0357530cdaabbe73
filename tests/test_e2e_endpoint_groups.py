"""End to end: load-balanced and failover endpoints through a real mitmdump.

Three recording backends on free ports and a port that nothing listens on stand in for
the members. Each test names the Synapse behaviour it pins.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

import pytest
from conftest import running_backend, wait_for

from addon.config import load_config
from addon.errors import ConfigError

FAULT_101503 = (
    '{"code":"101503","type":"Status report","message":"Runtime Error",'
    '"description":"Error connecting to the back end"}'
)


def dead_url() -> str:
    """Return a URL on 127.0.0.1 whose port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def backends():
    with ExitStack() as stack:
        yield [stack.enter_context(running_backend()) for _ in range(3)]


def served_by(backends) -> list[int]:
    """Return which backend got each request, in order, and forget the requests."""
    order = []
    for index, backend in enumerate(backends):
        order += [(r.header("X-Seq"), index) for r in backend.take()]
    return [index for _, index in sorted(order, key=lambda pair: int(pair[0]))]


def call(gateway, token: str, count: int, start: int = 0) -> list[int]:
    statuses = []
    for seq in range(start, start + count):
        response = gateway.request(
            "GET",
            "/orders/v1/items",
            {"Authorization": f"Bearer {token}", "X-Seq": str(seq)},
        )
        statuses.append(response.status)
    return statuses


def start(workspace, api_fields: str, *, debug: bool = False):
    workspace.write_config(
        "apis:\n"
        "  - name: Orders\n"
        "    context: /orders\n"
        "    version: v1\n" + api_fields
    )
    production = workspace.app_with_token("Shop", "Orders", "v1")
    with workspace.registry() as registry:
        sandbox = registry.issue_token("Shop", key_type="SANDBOX")
    extra = ["--set", "termlog_verbosity=debug"] if debug else None
    return workspace.start(extra), production, sandbox


def test_round_robin_order(workspace, backends):
    """Synapse's RoundRobin hands out the members in list order, one per request."""
    a, b, c = (backend.url for backend in backends)
    gateway, token, _ = start(
        workspace,
        "    endpoint_type: load_balance\n"
        f"    production_endpoint: [{a}/, {b}/, {c}/]\n",
    )

    assert call(gateway, token, 7) == [401] * 7  # the backends accept only Bearer 1234

    assert served_by(backends) == [0, 1, 2, 0, 1, 2, 0]


def test_round_robin_per_key_type(workspace, backends):
    """Production and sandbox are separate load-balance endpoints with their own index."""
    a, b, c = (backend.url for backend in backends)
    gateway, production, sandbox = start(
        workspace,
        "    endpoint_type: load_balance\n"
        f"    production_endpoint: [{a}/, {b}/]\n"
        f"    sandbox_endpoint: [{c}/, {a}/sandbox]\n",
    )

    call(gateway, production, 1, start=0)
    call(gateway, sandbox, 1, start=1)
    call(gateway, production, 1, start=2)
    call(gateway, sandbox, 1, start=3)

    requests = sorted(
        (int(r.header("X-Seq")), i, r.path)
        for i, backend in enumerate(backends)
        for r in backend.take()
    )
    assert requests == [
        (0, 0, "/items"),
        (1, 2, "/items"),
        (2, 1, "/items"),
        (3, 0, "/sandbox/items"),
    ]


def test_failover_skips_dead_member(workspace, backends):
    """A member that refuses is suspended and the request goes to the next member."""
    gateway, token, _ = start(
        workspace,
        "    endpoint_type: failover\n"
        f"    production_endpoint: {dead_url()}/\n"
        f"    production_failovers: [{backends[0].url}/, {backends[1].url}/]\n",
        debug=True,
    )

    assert call(gateway, token, 3) == [401, 401, 401]

    assert served_by(backends) == [0, 0, 0]
    assert wait_for(lambda: "member 0 (http://127.0.0.1:" in gateway.log)
    assert "unreachable" in gateway.log
    assert "suspended for 30 s" in gateway.log
    assert "failover endpoint: next is member 1" in gateway.log
    # Suspended for 30 s: the next requests go straight to the backup.
    assert gateway.log.count("suspended for 30 s") == 1


def test_failover_all_members_down(workspace):
    """No member accepts: the last member's 101503, then 303000 while all are suspended."""
    gateway, token, _ = start(
        workspace,
        "    endpoint_type: failover\n"
        f"    production_endpoint: {dead_url()}/\n"
        f"    production_failovers: [{dead_url()}/]\n",
    )

    first = gateway.request("GET", "/orders/v1/items", {"Authorization": f"Bearer {token}"})
    second = gateway.request("GET", "/orders/v1/items", {"Authorization": f"Bearer {token}"})

    assert first.status == 500
    assert first.text == FAULT_101503
    assert second.status == 500
    assert second.text == (
        '{"code":"303000","type":"Status report","message":"Runtime Error",'
        '"description":"Failover endpoint : Orders--vv1_APIproductionEndpoint - '
        'no ready child endpoints"}'
    )


def test_load_balance_fails_over(workspace, backends):
    """Load balancing with failover on retries the next member by round robin."""
    gateway, token, _ = start(
        workspace,
        "    endpoint_type: load_balance\n"
        f"    production_endpoint: [{dead_url()}/, {backends[0].url}/, {backends[1].url}/]\n",
    )

    assert call(gateway, token, 4) == [401] * 4

    # Member 0 fails over to 1, then 2 serves. Member 0 is suspended, so 1 and 2 follow.
    assert served_by(backends) == [0, 1, 0, 1]


def test_load_balance_without_failover(workspace, backends):
    """failOver False: the failed member's fault goes to the client, no retry."""
    gateway, token, _ = start(
        workspace,
        "    endpoint_type: load_balance\n"
        "    failover: false\n"
        f"    production_endpoint: [{dead_url()}/, {backends[0].url}/]\n",
    )

    first = gateway.request("GET", "/orders/v1/items", {"Authorization": f"Bearer {token}"})
    assert first.status == 500
    assert first.text == FAULT_101503
    assert call(gateway, token, 2) == [401, 401]
    assert len(backends[0].take()) == 2


CONFIG_ERRORS = [
    (
        "    endpoint_type: failover\n"
        "    production_endpoint: [http://127.0.0.1:1/a, http://127.0.0.1:1/b]\n",
        6,
        "API 'Orders': field 'production_endpoint' must be one URL, the primary, for "
        "endpoint_type: failover; list the others under 'production_failovers'",
    ),
    (
        "    production_endpoint: [http://127.0.0.1:1/a, http://127.0.0.1:1/b]\n",
        5,
        "API 'Orders': field 'production_endpoint' is a list; a list of URLs needs "
        "endpoint_type: load_balance (or failover, with the others under "
        "production_failovers)",
    ),
    (
        "    endpoint_type: roundrobin\n    production_endpoint: http://127.0.0.1:1/\n",
        5,
        "API 'Orders': field 'endpoint_type' is 'roundrobin'; accepted values: http, "
        "load_balance, failover",
    ),
    (
        "    endpoint_type: load_balance\n"
        "    production_endpoint: [http://127.0.0.1:1/a, ftp://x/]\n",
        6,
        "API 'Orders': field 'production_endpoint' 'ftp://x/' is not an http:// or "
        "https:// URL with a host",
    ),
    (
        "    endpoint_type: failover\n"
        "    failover: false\n"
        "    production_endpoint: http://127.0.0.1:1/\n",
        6,
        "API 'Orders': field 'failover' applies to endpoint_type: load_balance only",
    ),
    (
        "    endpoint_type: failover\n"
        "    sandbox_failovers: [http://127.0.0.1:1/]\n"
        "    production_endpoint: http://127.0.0.1:1/\n",
        6,
        "API 'Orders': field 'sandbox_failovers' is set but 'sandbox_endpoint' is not; "
        "the failovers back up that primary URL",
    ),
]


@pytest.mark.parametrize("fields, line, message", CONFIG_ERRORS)
def test_config_errors_name_field(tmp_path, fields, line, message):
    """Invalid group settings stop the load, naming the file, line, API and field."""
    path = tmp_path / "gateway.yaml"
    (tmp_path / "sequences").mkdir()
    path.write_text(
        "apis:\n  - name: Orders\n    context: /orders\n    version: v1\n" + fields
    )

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert raised.value.line == line
    assert raised.value.file.endswith("gateway.yaml")
    assert str(raised.value).endswith(message), str(raised.value)


def test_config_error_stops_start(workspace):
    """mitmdump does not start on an invalid endpoint group and prints why."""
    workspace.write_config(
        "apis:\n  - name: Orders\n    context: /orders\n    version: v1\n"
        + CONFIG_ERRORS[0][0]
    )

    gateway = workspace.start_failing()

    assert "gateway.yaml:6" in gateway.log
    assert "must be one URL, the primary" in gateway.log
