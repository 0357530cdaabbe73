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
- Burst control follows each level's quota: subscription, subscription burst,
  application, application burst. Over a burst limit: 429 with 900807 (subscription,
  `You have exceeded your quota`) or 900809 (application, `You have exceeded your
  application burst limit quota`), without a next access time or `Retry-After`.
- A subscription over its quota or burst limit that does not stop on quota reach lets
  the call through at once: no later level is checked and nothing is counted.
- The backend hard limit comes last: 503 with 900801, `API Limit Reached`, `API not
  accepting requests`, without `Retry-After`.

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

from .access_rate import AccessRateController, Decision
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

# The burst check that follows each quota: (reason, code, description).
BURST_REASONS = {
    "SUBSCRIPTION_LIMIT_EXCEEDED": (
        "SUBSCRIPTION_BURST_LIMIT_EXCEED",
        "900807",
        "You have exceeded your quota",
    ),
    # NOTE: only the code 900809 is confirmed (APIThrottleConstants). The description,
    # the check right after the application quota and the missing next access time
    # are unverified against ThrottleHandler.
    "APPLICATION_LIMIT_EXCEEDED": (
        "APPLICATION_BURST_LIMIT_EXCEED",
        "900809",
        "You have exceeded your application burst limit quota",
    ),
}
HARD_LIMIT_CODE = "900801"


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


@dataclass(frozen=True, slots=True)
class HardLimit:
    """The backend hard limit of one request: its key and requests per second."""

    key: str
    requests: int


def hard_limit_for(api: ApiConfig, key_type: str) -> HardLimit | None:
    """Return the API's hard limit for `key_type`, counted per API and key type."""
    if api.max_tps is None:
        return None
    requests = api.max_tps.for_key_type(key_type)
    if requests is None:
        return None
    return HardLimit(f"hard:{api.full_context}:{api.version}:{key_type}", requests)


def throttle(
    ctx: MessageContext,
    counters: CounterStore,
    levels: list[Level],
    now: float,
    *,
    count: bool = True,
    rates: AccessRateController | None = None,
    hard_limit: HardLimit | None = None,
) -> None:
    """Count the request, or raise the throttle-out error of the first limit it is over.

    `rates` contains the burst and hard limit windows, which count an allowed access
    at once, as Synapse does. Without `rates` a fresh controller is used, so those
    windows see this call only and never reject it. With `count` False (a dry run)
    the limits are checked but nothing is counted.
    """
    rates = rates if rates is not None else AccessRateController()
    bursts: list[tuple[Level, Decision]] = []
    for level in levels:
        tier = level.tier
        assert tier.requests is not None
        if counters.count(level.key, level.window_start) >= tier.requests:
            if _lets_through(ctx, level, "quota"):
                return
            raise throttled_out(ctx, level)
        if tier.burst is None:
            continue
        decision = rates.can_access(
            _burst_key(level),
            tier.burst.requests,
            tier.burst.window_seconds,
            now,
            count=count,
        )
        if not decision.allowed:
            if _lets_through(ctx, level, "burst limit"):
                return
            raise burst_out(ctx, level, decision)
        bursts.append((level, decision))
    limited = None
    if hard_limit is not None:
        limited = rates.can_access(
            hard_limit.key, hard_limit.requests, 1, now, count=count
        )
        if not limited.allowed:
            raise hard_limit_out(ctx, hard_limit, limited)
    if count:
        counters.add(
            [(lv.key, lv.window_start, lv.tier.window_seconds) for lv in levels]
        )
    usage = _usage(counters, levels, bursts, hard_limit, limited)
    if usage:
        verdict = "counted" if count else "within limits, not counted (dry run)"
        ctx.record("throttle", f"{verdict}: {usage}")


def _burst_key(level: Level) -> str:
    # The limit is part of the key: a changed burst limit starts a new window, as
    # ThrottleHandler builds a new throttle context when the limit or unit changes.
    burst = level.tier.burst
    assert burst is not None
    return f"burst:{level.key}:{burst.requests}/{burst.window_seconds}"


def _lets_through(ctx: MessageContext, level: Level, limit_name: str) -> bool:
    """Mark and record a call let through by a soft subscription tier over its limit.

    Return False, and change nothing, for any other level or tier.
    """
    tier = level.tier
    if level.reason != "SUBSCRIPTION_LIMIT_EXCEEDED" or tier.stop_on_quota_reach:
        return False
    ctx.properties["isThrottleOutIgnored"] = True
    ctx.record(
        "throttle",
        f"subscription tier {tier.name} over its {limit_name}, let through without "
        "checking or counting further (stop_on_quota_reach false)",
    )
    return True


def _usage(
    counters: CounterStore,
    levels: list[Level],
    bursts: list[tuple[Level, Decision]],
    hard_limit: HardLimit | None,
    limited: Decision | None,
) -> str:
    """Return each count and its limit, e.g. `Gold 3/5000, Gold burst 2/10 per 1s`."""
    parts = [
        f"{lv.tier.name} {counters.count(lv.key, lv.window_start)}/{lv.tier.requests}"
        for lv in levels
    ]
    for level, decision in bursts:
        burst = level.tier.burst
        assert burst is not None
        parts.append(
            f"{level.tier.name} burst {decision.used}/{burst.requests} per "
            f"{burst.window_seconds}s"
        )
    if hard_limit is not None and limited is not None:
        parts.append(f"hard limit {limited.used}/{hard_limit.requests} per 1s")
    return ", ".join(parts)


def _throttle_error(
    ctx: MessageContext,
    reason: str,
    code: str,
    message: str,
    description: str,
    status: int,
) -> GatewayError:
    """Set the properties of ThrottleHandler.handleThrottleOut and return the error."""
    props = ctx.properties
    props["THROTTLED_OUT_REASON"] = reason
    props["ERROR_CODE"] = code
    props["ERROR_MESSAGE"] = message
    props["ERROR_DETAIL"] = description
    props["HTTP_RESPONSE_STATUS_CODE"] = status
    return GatewayError(
        code, message, description, status, handler="_throttle_out_handler_"
    )


def burst_out(ctx: MessageContext, level: Level, decision: Decision) -> GatewayError:
    """Return the 429 of a subscription or application burst limit."""
    reason, code, description = BURST_REASONS[level.reason]
    burst = level.tier.burst
    assert burst is not None
    ctx.record(
        "throttle",
        f"{reason}: tier {level.tier.name} burst limit ({burst.requests} per "
        f"{burst.window_seconds}s) used up until "
        f"{next_access_text(decision.window_end)}: {code}",
    )
    return _throttle_error(
        ctx, reason, code, "Message throttled out", description, 429
    )


def hard_limit_out(
    ctx: MessageContext, hard_limit: HardLimit, decision: Decision
) -> GatewayError:
    """Return the 503 of the API's backend hard limit (max TPS)."""
    ctx.record(
        "throttle",
        f"HARD_LIMIT_EXCEEDED: backend hard limit {hard_limit.requests} per second "
        f"({hard_limit.key.removeprefix('hard:')}) used up until "
        f"{next_access_text(decision.window_end)}: {HARD_LIMIT_CODE}",
    )
    return _throttle_error(
        ctx,
        "HARD_LIMIT_EXCEEDED",
        HARD_LIMIT_CODE,
        "API Limit Reached",
        "API not accepting requests",
        503,
    )


def throttled_out(ctx: MessageContext, level: Level) -> GatewayError:
    """Set the properties ThrottleHandler.handleThrottleOut sets and return its error."""
    code = REASONS[level.reason]
    next_access = level.window_end
    text = next_access_text(next_access)
    description = f"You have exceeded your quota .You can access API after {text}"
    ctx.properties["NEXT_ACCESS_TIME"] = next_access * 1000
    ctx.properties["NEXT_ACCESS_UTC_TIME"] = text
    ctx.headers.set("Retry-After", retry_after_text(next_access))
    ctx.record(
        "throttle",
        f"{level.reason}: tier {level.tier.name} ({level.tier.requests} per "
        f"{level.tier.window_seconds}s) used up until {text}: {code}",
    )
    return _throttle_error(
        ctx, level.reason, code, "Message throttled out", description, 429
    )
