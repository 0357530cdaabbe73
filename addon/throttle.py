"""Throttling, in the order of WSO2's ThrottleHandler, over fixed time windows.

Facts from carbon-apimgt `ThrottleHandler` and `APIThrottleConstants`:

- An API-level tier, when set, replaces the resource-level one. Then come the
  subscription tier (per application and API) and the application tier (per
  application and user).
- Only a request that passes every level is counted (WSO2 publishes non-throttled
  events only), so a rejected request does not use up quota.
- A subscription tier that does not stop on quota reach lets calls through.
- Over the limit: 429 with code 900800 (API), 900802 (resource), 900804
  (subscription) or 900803 (application), message `Message throttled out`,
  description `You have exceeded your quota .You can access API after <time> UTC`
  (WSO2's odd ` .`), `Retry-After` as an HTTP date, answered by `_throttle_out_handler_`.

The windows are aligned on the epoch, as the Traffic Manager's time-batch windows are:
a one-minute window runs from one full minute to the next, so the next access time is
the end of the current window. Counters live behind `CounterStore`, so that a shared
store can replace the in-process one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol

from .config import ApiConfig, GatewayConfig
from .context import MessageContext
from .errors import GatewayError
from .resources import Resource
from .tiers import Tier

_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)

REASONS = {
    "API_LIMIT_EXCEEDED": "900800",
    "RESOURCE_LIMIT_EXCEEDED": "900802",
    "APPLICATION_LIMIT_EXCEEDED": "900803",
    "SUBSCRIPTION_LIMIT_EXCEEDED": "900804",
}


class CounterStore(Protocol):
    """Request counts per key and window; the in-process store or a shared one."""

    def count(self, key: str, window_start: int) -> int: ...

    def add(self, keys: list[tuple[str, int, int]]) -> None:
        """Count one request for each (key, window start, window seconds)."""
        ...


class InMemoryCounters:
    """Counters of this process; windows that have ended are dropped as new ones open."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def count(self, key: str, window_start: int) -> int:
        entry = self._counts.get((key, window_start))
        return 0 if entry is None else entry[0]

    def add(self, keys: list[tuple[str, int, int]]) -> None:
        now = int(time.time())
        with self._lock:
            for key, window_start, seconds in keys:
                count, _ = self._counts.get((key, window_start), (0, 0))
                self._counts[(key, window_start)] = (count + 1, window_start + seconds)
            if len(self._counts) > 10000:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}


@dataclass(frozen=True, slots=True)
class Level:
    """One throttling level for one request: its reason, key, tier and window."""

    reason: str
    key: str
    tier: Tier
    window_start: int

    @property
    def window_end(self) -> int:
        return self.window_start + self.tier.window_seconds


def next_access_text(epoch: float) -> str:
    """WSO2's `yyyy-MMM-dd HH:mm:ssZ` in UTC followed by ` UTC`."""
    t = time.gmtime(epoch)
    return (
        f"{t.tm_year:04d}-{_MONTHS[t.tm_mon - 1]}-{t.tm_mday:02d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}+0000 UTC"
    )


def retry_after_text(epoch: float) -> str:
    """An HTTP date in GMT, e.g. `Fri, 05 Sep 2026 16:00:00 GMT`."""
    return formatdate(epoch, usegmt=True)


def _window(tier: Tier, now: float) -> int:
    seconds = tier.window_seconds
    return int(now // seconds) * seconds


def levels_for(
    config: GatewayConfig,
    api: ApiConfig,
    resource: Resource,
    verb: str,
    application_id: str,
    user: str,
    subscription_tier: str | None,
    application_tier: str | None,
    now: float,
    ctx: MessageContext,
) -> list[Level]:
    """Return the limited levels that apply to a request, in WSO2's order."""
    tiers = config.tiers
    api_id = f"{api.full_context}:{api.version}"
    chosen: list[tuple[str, str, str | None, str]] = []
    if api.throttling_tier:
        chosen.append(
            ("API_LIMIT_EXCEEDED", f"api:{api_id}", api.throttling_tier, "api")
        )
    elif resource.throttling_tier:
        chosen.append(
            (
                "RESOURCE_LIMIT_EXCEEDED",
                f"resource:{api_id}:{resource.target}:{verb}",
                resource.throttling_tier,
                "api",
            )
        )
    chosen.append(
        (
            "SUBSCRIPTION_LIMIT_EXCEEDED",
            f"subscription:{application_id}:{api_id}",
            subscription_tier,
            "subscription",
        )
    )
    chosen.append(
        (
            "APPLICATION_LIMIT_EXCEEDED",
            f"application:{application_id}:{user}",
            application_tier,
            "application",
        )
    )
    levels = []
    for reason, key, tier_name, level in chosen:
        tier = tiers.get(level, tier_name)
        if tier is None:
            if tier_name:
                ctx.record(
                    "throttle",
                    f"{level} tier {tier_name!r} is not defined: not limited",
                )
            continue
        if tier.unlimited:
            continue
        levels.append(Level(reason, key, tier, _window(tier, now)))
    return levels


def throttle(
    ctx: MessageContext,
    counters: CounterStore,
    levels: list[Level],
    now: float,
    *,
    count: bool = True,
) -> None:
    """Count the request, or raise the throttle-out error of the first level over its limit.

    With `count` False (a dry run) the limits are checked but nothing is counted.
    """
    for level in levels:
        used = counters.count(level.key, level.window_start)
        tier = level.tier
        assert tier.requests is not None
        if used < tier.requests:
            continue
        if (
            level.reason == "SUBSCRIPTION_LIMIT_EXCEEDED"
            and not tier.stop_on_quota_reach
        ):
            ctx.record(
                "throttle", f"subscription tier {tier.name} over quota, let through"
            )
            continue
        raise throttled_out(ctx, level)
    if not count:
        if levels:
            usage = _usage(counters, levels)
            ctx.record("throttle", f"within limits, not counted (dry run): {usage}")
        return
    if levels:
        counters.add(
            [(lv.key, lv.window_start, lv.tier.window_seconds) for lv in levels]
        )
        ctx.record("throttle", f"counted: {_usage(counters, levels)}")


def _usage(counters: CounterStore, levels: list[Level]) -> str:
    """Return each level's count in its window against its limit, e.g. `Gold 3/5000`."""
    return ", ".join(
        f"{lv.tier.name} {counters.count(lv.key, lv.window_start)}/{lv.tier.requests}"
        for lv in levels
    )


def throttled_out(ctx: MessageContext, level: Level) -> GatewayError:
    """Set the properties ThrottleHandler.handleThrottleOut sets and return its error."""
    code = REASONS[level.reason]
    next_access = level.window_end
    text = next_access_text(next_access)
    description = f"You have exceeded your quota .You can access API after {text}"
    props = ctx.properties
    props["THROTTLED_OUT_REASON"] = level.reason
    props["NEXT_ACCESS_TIME"] = next_access * 1000
    props["NEXT_ACCESS_UTC_TIME"] = text
    props["ERROR_CODE"] = code
    props["ERROR_MESSAGE"] = "Message throttled out"
    props["ERROR_DETAIL"] = description
    props["HTTP_RESPONSE_STATUS_CODE"] = 429
    ctx.headers.set("Retry-After", retry_after_text(next_access))
    ctx.record(
        "throttle",
        f"{level.reason}: tier {level.tier.name} ({level.tier.requests} per "
        f"{level.tier.window_seconds}s) used up until {text}: {code}",
    )
    return GatewayError(
        code,
        "Message throttled out",
        description,
        429,
        handler="_throttle_out_handler_",
    )
