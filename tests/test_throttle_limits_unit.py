"""Burst control, hard limits and blocking conditions without a proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config_schema import BASE as API
from test_config_schema import load

from addon.access_rate import AccessRateController
from addon.blocking import (
    BlockingCondition,
    BlockingConditions,
    BlockingKeys,
    address_number,
    unmapped,
)
from addon.context import MessageContext
from addon.config import load_config
from addon.errors import ConfigError, GatewayError
from addon.headers import TransportHeaders
from addon.throttle import HardLimit, InMemoryCounters, levels_for, throttle


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (
            "throttling:\n  subscription_tiers:\n"
            "    - {name: B, requests: 5, rate_limit_count: 2}\n",
            3,
            "throttling.subscription_tiers[1]: field 'rate_limit_time_unit' is missing",
        ),
        (
            "throttling:\n  application_tiers:\n"
            "    - {name: B, requests: 5, rate_limit_time_unit: sec}\n",
            3,
            "field 'rate_limit_count' is missing",
        ),
        (
            "throttling:\n  subscription_tiers:\n    - name: B\n      requests: 5\n"
            "      rate_limit_count: 2\n      rate_limit_time_unit: hour\n",
            6,
            "field 'rate_limit_time_unit' is 'hour'; accepted values: sec, min",
        ),
        (
            "throttling:\n  api_tiers:\n    - name: B\n      requests: 5\n"
            "      rate_limit_count: 2\n",
            5,
            "throttling.api_tiers[1]: field 'rate_limit_count' is not accepted on an "
            "API tier",
        ),
        (
            "blocking_conditions:\n  - type: IP\n    fixed_ip: 300.1.1.1\n",
            3,
            "blocking_conditions[1]: field 'fixed_ip' '300.1.1.1' is not an IPv4 or "
            "IPv6 address",
        ),
        (
            "blocking_conditions:\n  - type: ip\n",
            2,
            "blocking_conditions[1]: field 'type' is 'ip'; accepted values: API, "
            "APPLICATION, USER, IP, IPRANGE",
        ),
        (
            "blocking_conditions:\n  - type: APPLICATION\n    value: Scraper\n",
            3,
            "field 'value' 'Scraper' must be <subscriber>:<application name>",
        ),
        (
            "blocking_conditions:\n  - type: USER\n    value: bob\n    invert: true\n",
            4,
            "field 'invert' does not apply to a condition of type USER",
        ),
        (
            "blocking_conditions:\n  - type: IPRANGE\n    starting_ip: 10.0.0.9\n"
            "    ending_ip: 10.0.0.1\n",
            4,
            "field 'ending_ip' 10.0.0.1 must be higher than starting_ip 10.0.0.9",
        ),
        (
            "blocking_conditions:\n  - type: IPRANGE\n    starting_ip: 10.0.0.1\n"
            "    ending_ip: '::1'\n",
            4,
            "field 'ending_ip' is IPv6 but starting_ip is IPv4",
        ),
        (
            "blocking_conditions:\n  - {type: IP, fixed_ip: 10.0.0.1}\n"
            "  - {type: IP, fixed_ip: 10.0.0.1}\n",
            3,
            "blocking_conditions[2]: the condition IP 10.0.0.1 is already defined "
            "(line 2)",
        ),
        (
            "blocking_conditions:\n  - type: API\n    value: /orders\n",
            2,
            "field 'value' names API context '/orders', which no API serves; give an "
            "API's context with its version (served: /orders/v1)",
        ),
        (
            "blocking_conditions: {type: IP}\n",
            1,
            "'blocking_conditions' must be a list",
        ),
    ],
)
def test_bad_limit_field_names_location(tmp_path, text, line, expected):
    """Bad burst or blocking fields stop the load at their file, line and field."""
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text + API)

    message = str(raised.value)
    assert f"gateway.yaml:{line}:" in message
    assert expected in message


@pytest.mark.parametrize(
    ("max_tps", "expected"),
    [
        (
            "{production: 0}",
            "API 'Orders' max_tps: field 'production' must be at least 1",
        ),
        ("{}", "max_tps: field 'production' is missing"),
        (
            "{prod: 5}",
            "max_tps: field 'prod' is unknown; accepted fields: production, sandbox",
        ),
        ("5", "API 'Orders': field 'max_tps' must be a mapping"),
    ],
)
def test_bad_max_tps_named(tmp_path, max_tps, expected):
    """A bad `max_tps` names the API and the field."""
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, API + f"    max_tps: {max_tps}\n")

    assert "gateway.yaml:" in str(raised.value)
    assert expected in str(raised.value)


def test_burst_fields_parsed(tmp_path):
    """`rate_limit_count` per `sec` or `min`; a count of 0 turns burst control off."""
    config = load(
        tmp_path,
        "throttling:\n  subscription_tiers:\n"
        "    - {name: S, requests: 9, rate_limit_count: 3, rate_limit_time_unit: min}\n"
        "    - {name: NoBurst, requests: 9, rate_limit_count: 0}\n"
        "  application_tiers:\n"
        "    - {name: A, requests: 9, rate_limit_count: 2, rate_limit_time_unit: sec}\n"
        + API,
    )
    subscription = config.tiers.get("subscription", "S")
    application = config.tiers.get("application", "A")

    assert subscription.burst.requests == 3
    assert subscription.burst.window_seconds == 60
    assert application.burst.window_seconds == 1
    assert config.tiers.get("subscription", "NoBurst").burst is None
    assert config.tiers.get("subscription", "Gold").burst is None


def test_access_windows_open_at_first_access():
    """Synapse's windows start at the first access and count allowed accesses only."""
    rates = AccessRateController()

    assert rates.can_access("k", 2, 1, 10.5).allowed
    assert rates.can_access("k", 2, 1, 11.2).allowed
    rejected = rates.can_access("k", 2, 1, 11.4)
    assert not rejected.allowed
    assert rejected.window_end == 11.5
    assert rates.can_access("k", 2, 1, 11.5).used == 1


def test_access_check_without_counting():
    """A dry-run check reports what a real access would get and changes nothing."""
    rates = AccessRateController()
    rates.can_access("k", 1, 60, 0.0)

    assert not rates.can_access("k", 1, 60, 1.0, count=False).allowed
    assert rates.can_access("other", 1, 60, 1.0, count=False).allowed
    assert rates.can_access("other", 1, 60, 2.0).allowed


def _levels(tmp_path: Path, subscription: str, application: str):
    config = load(
        tmp_path,
        "throttling:\n  subscription_tiers:\n"
        "    - {name: SB, requests: 5, rate_limit_count: 1, rate_limit_time_unit: min}\n"
        "    - {name: Soft, requests: 5, rate_limit_count: 1, rate_limit_time_unit: min,"
        " stop_on_quota_reach: false}\n"
        "  application_tiers:\n"
        "    - {name: AB, requests: 5, rate_limit_count: 1, rate_limit_time_unit: min}\n"
        + API,
    )
    api = config.apis[0]
    ctx = MessageContext(headers=TransportHeaders(), method="GET", to="/orders/v1")
    levels = levels_for(
        config,
        api,
        api.resources[0],
        "GET",
        "7",
        "u",
        subscription,
        application,
        100.0,
        ctx,
    )
    return levels, ctx


def test_burst_out_sets_wso2_properties(tmp_path):
    """ThrottleHandler's properties for a subscription burst; no next access time."""
    levels, ctx = _levels(tmp_path, "SB", "Unlimited")
    counters, rates = InMemoryCounters(), AccessRateController()
    throttle(ctx, counters, levels, 100.0, rates=rates)
    with pytest.raises(GatewayError) as raised:
        throttle(ctx, counters, levels, 101.0, rates=rates)

    assert raised.value.code == "900807"
    assert raised.value.status == 429
    assert ctx.properties["THROTTLED_OUT_REASON"] == "SUBSCRIPTION_BURST_LIMIT_EXCEED"
    assert "NEXT_ACCESS_UTC_TIME" not in ctx.properties
    assert ctx.headers.get("Retry-After") is None
    assert "SB burst limit (1 per 60s) used up" in ctx.trace[-1].summary


def test_application_burst_after_subscription(tmp_path):
    """Application burst comes after the subscription checks: 900809."""
    levels, ctx = _levels(tmp_path, "Unlimited", "AB")
    counters, rates = InMemoryCounters(), AccessRateController()
    throttle(ctx, counters, levels, 100.0, rates=rates)
    with pytest.raises(GatewayError) as raised:
        throttle(ctx, counters, levels, 100.5, rates=rates)

    assert raised.value.code == "900809"
    assert ctx.properties["THROTTLED_OUT_REASON"] == "APPLICATION_BURST_LIMIT_EXCEED"


def test_soft_subscription_skips_later_levels(tmp_path):
    """Over a soft subscription's burst the call passes and nothing is counted."""
    levels, ctx = _levels(tmp_path, "Soft", "AB")
    counters, rates = InMemoryCounters(), AccessRateController()
    throttle(ctx, counters, levels, 100.0, rates=rates)
    for now in (100.1, 100.2):
        throttle(ctx, counters, levels, now, rates=rates)

    assert ctx.properties["isThrottleOutIgnored"] is True
    assert [counters.count(lv.key, lv.window_start) for lv in levels] == [1, 1]
    assert "let through without checking or counting further" in ctx.trace[-1].summary


def test_hard_limit_checked_last_per_second(tmp_path):
    """The hard limit is checked after every level; a rejected call is not counted."""
    levels, ctx = _levels(tmp_path, "Unlimited", "Unlimited")
    counters, rates = InMemoryCounters(), AccessRateController()
    limit = HardLimit("hard:/orders/v1:v1:PRODUCTION", 1)
    throttle(ctx, counters, levels, 100.0, rates=rates, hard_limit=limit)
    with pytest.raises(GatewayError) as raised:
        throttle(ctx, counters, levels, 100.9, rates=rates, hard_limit=limit)
    throttle(ctx, counters, levels, 101.0, rates=rates, hard_limit=limit)

    assert raised.value.code == "900801"
    assert raised.value.status == 503
    assert raised.value.message == "API Limit Reached"
    assert ctx.properties["THROTTLED_OUT_REASON"] == "HARD_LIMIT_EXCEEDED"
    assert "hard limit 1/1 per 1s" in ctx.trace[-1].summary


def _keys(client_ip: str = "10.0.0.1", **overrides) -> BlockingKeys:
    values = {
        "api_context": "/orders/v1",
        "application": "admin:App",
        "user": "admin@carbon.super",
        "client_ip": client_ip,
    }
    values.update(overrides)
    return BlockingKeys(**values)


def test_blocking_match_by_kind():
    """API, application and user conditions match exactly; disabled ones never."""
    table = BlockingConditions(
        (
            BlockingCondition("API", "/orders/v1"),
            BlockingCondition("APPLICATION", "admin:Bad"),
            BlockingCondition("USER", "eve@carbon.super"),
            BlockingCondition("USER", "admin@carbon.super", enabled=False),
        )
    )

    assert table.match(_keys()).kind == "API"
    assert table.match(_keys(api_context="/x/v1")) is None
    assert table.match(_keys(api_context="/x/v1", application="admin:Bad")).kind == (
        "APPLICATION"
    )
    assert table.match(_keys(api_context="/x/v1", user="eve@carbon.super")).kind == (
        "USER"
    )


def test_blocking_match_anonymous_caller():
    """A caller without an application skips APPLICATION conditions only."""
    table = BlockingConditions(
        (
            BlockingCondition("APPLICATION", "admin:Bad"),
            BlockingCondition("USER", "eve@carbon.super"),
        )
    )

    assert table.match(_keys(application=None)) is None
    assert table.match(_keys(application=None, user="eve@carbon.super")).kind == (
        "USER"
    )


@pytest.mark.parametrize(
    ("client_ip", "invert", "blocked"),
    [
        ("10.0.0.5", False, True),
        ("10.0.0.0", False, False),  # the ends are outside WSO2's range
        ("10.0.0.9", False, False),
        ("10.0.0.5", True, False),
        ("192.0.2.1", True, True),
        ("not-an-address", False, False),  # counts as 0
        ("not-an-address", True, True),
    ],
)
def test_ip_range_bounds_and_invert(client_ip, invert, blocked):
    """WSO2's range excludes both ends; `invert` blocks everything outside."""
    condition = BlockingCondition(
        "IPRANGE",
        "10.0.0.0-10.0.0.9",
        invert=invert,
        starting_ip=address_number("10.0.0.0"),
        ending_ip=address_number("10.0.0.9"),
    )
    table = BlockingConditions((condition,))

    assert (table.match(_keys(client_ip, api_context="/x/v1")) is not None) is blocked


def test_fixed_ip_inverted():
    """An inverted IP condition blocks every other address."""
    table = BlockingConditions((BlockingCondition("IP", "10.0.0.1", invert=True),))

    assert table.match(_keys("10.0.0.1", api_context="/x/v1")) is None
    assert table.match(_keys("10.0.0.2", api_context="/x/v1")) is not None


def test_ipv4_mapped_peer_is_unmapped():
    """A dual-stack listener's `::ffff:a.b.c.d` is matched as the IPv4 address."""
    assert unmapped("::ffff:127.0.0.1") == "127.0.0.1"
    assert unmapped("::1") == "::1"
    assert unmapped("garbage") == "garbage"


def test_blocked_flow_comment_names_condition(tmp_path):
    """The flow's trace names the blocking condition, its line and the client."""
    from mitmproxy.test import taddons, tflow

    from addon.gateway import Gateway
    from addon.store import Registry

    load(
        tmp_path, "blocking_conditions:\n  - {type: IP, fixed_ip: 203.0.113.7}\n" + API
    )
    with Registry(tmp_path / "gateway.db", create=True) as registry:
        registry.create_application("App")
        registry.subscribe("App", "Orders", "v1")
        token = registry.issue_token("App")
    addon = Gateway()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, gateway_config=str(tmp_path / "gateway.yaml"))
        flow = tflow.tflow()
        flow.request.path = "/orders/v1/items"
        flow.request.headers["Authorization"] = f"Bearer {token}"
        flow.request.headers["X-Forwarded-For"] = "203.0.113.7"
        addon.request(flow)

    assert flow.response.status_code == 403
    assert flow.metadata["gateway"]["code"] == "900805"
    assert (
        "blocked by blocking condition IP 203.0.113.7 (line 2), client address "
        "203.0.113.7: 900805" in flow.comment
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "apis:\n  - name: A\n    context: /a\n    version: v1\n"
            "    endpoint: http://127.0.0.1:1/\n    max_tps: 5\n",
            6,
            "API 'A': field 'max_tps' must be a mapping with production and/or sandbox "
            "requests per second, not 5",
        ),
        (
            "apis: []\nblocking_conditions: {type: IP}\n",
            2,
            "'blocking_conditions' must be a list of conditions, not a mapping",
        ),
        (
            "apis:\n  - name: A\n    context: /a\n    version: v1\n"
            "    endpoint: http://127.0.0.1:1/\n    security: [basic_auth, basic_auth]\n",
            6,
            "API 'A': field 'security' names a scheme twice: ['basic_auth', 'basic_auth']",
        ),
    ],
)
def test_shape_errors_name_line(tmp_path, text, line, message):
    """A field of the wrong shape names its line and the accepted shape."""
    (tmp_path / "sequences").mkdir()
    (tmp_path / "gateway.yaml").write_text(text)

    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "gateway.yaml")

    assert raised.value.line == line
    assert str(raised.value).endswith(message), str(raised.value)
