"""Throttling levels and texts, without a proxy: WSO2's order, windows and formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from addon.config import load_config
from addon.context import MessageContext
from addon.errors import GatewayError
from addon.headers import TransportHeaders
from addon.throttle import (
    InMemoryCounters,
    levels_for,
    next_access_text,
    retry_after_text,
    throttle,
)

CONFIG = """\
throttling:
  subscription_tiers:
    - {name: Two, requests: 2}
  api_tiers:
    - {name: Hourly, requests: 5, unit_time: 1, time_unit: hour}
apis:
  - name: A
    context: /a
    version: v1
    endpoint: http://127.0.0.1:1/
    resources:
      - {target: /r, verbs: [GET], throttling_tier: Hourly}
"""


def _setup(tmp_path: Path):
    (tmp_path / "sequences").mkdir()
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    config = load_config(tmp_path / "gateway.yaml")
    ctx = MessageContext(headers=TransportHeaders(), method="GET", to="/a/v1/r")
    return config, config.apis[0], ctx


def test_next_access_time_in_wso2_format():
    """`yyyy-MMM-dd HH:mm:ssZ` plus ` UTC`; Retry-After an HTTP date."""
    assert next_access_text(1757088000) == "2025-Sep-05 16:00:00+0000 UTC"
    assert retry_after_text(1757088000) == "Fri, 05 Sep 2025 16:00:00 GMT"


def test_levels_in_wso2_order_with_aligned_windows(tmp_path):
    """Resource, subscription, application; windows aligned on the epoch."""
    config, api, ctx = _setup(tmp_path)
    levels = levels_for(
        config,
        api,
        api.resources[0],
        "GET",
        "7",
        "admin",
        "Two",
        "10PerMin",
        3725.0,
        ctx,
    )

    assert [lv.reason for lv in levels] == [
        "RESOURCE_LIMIT_EXCEEDED",
        "SUBSCRIPTION_LIMIT_EXCEEDED",
        "APPLICATION_LIMIT_EXCEEDED",
    ]
    assert [lv.window_start for lv in levels] == [3600, 3720, 3720]


def test_unknown_and_unlimited_tiers_are_skipped(tmp_path):
    """Unlimited adds no level; an unknown tier name is recorded and not limited."""
    config, api, ctx = _setup(tmp_path)
    resource = api.resources[0]
    levels = levels_for(
        config, api, resource, "GET", "7", "u", "Platinum", "Unlimited", 0.0, ctx
    )

    assert [lv.reason for lv in levels] == ["RESOURCE_LIMIT_EXCEEDED"]
    assert any("'Platinum' is not defined" in step.summary for step in ctx.trace)


def test_counter_store_counts_per_window():
    """A new window starts from zero."""
    counters = InMemoryCounters()
    counters.add([("k", 60, 60), ("k", 60, 60), ("k", 120, 60)])

    assert counters.count("k", 60) == 2
    assert counters.count("k", 120) == 1
    assert counters.count("k", 180) == 0


def test_throttled_out_sets_wso2_properties(tmp_path):
    """ThrottleHandler's properties: reason, next access time, error code and status."""
    config, api, ctx = _setup(tmp_path)
    levels = levels_for(
        config, api, api.resources[0], "GET", "7", "u", "Two", None, 100.0, ctx
    )
    counters = InMemoryCounters()
    throttle(ctx, counters, levels, 100.0)
    throttle(ctx, counters, levels, 100.0)
    with pytest.raises(GatewayError) as raised:
        throttle(ctx, counters, levels, 100.0)

    assert raised.value.code == "900804"
    assert ctx.properties["THROTTLED_OUT_REASON"] == "SUBSCRIPTION_LIMIT_EXCEEDED"
    assert ctx.properties["NEXT_ACCESS_TIME"] == 120000
    assert ctx.properties["HTTP_RESPONSE_STATUS_CODE"] == 429
    assert ctx.headers.get("Retry-After") == "Thu, 01 Jan 1970 00:02:00 GMT"
