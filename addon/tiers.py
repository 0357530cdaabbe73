"""Throttling tiers: WSO2's default policies and the custom ones the config adds.

WSO2 creates these tiers on first start (carbon-apimgt `APIUtil`, default policies):

- subscription tiers: Gold 5000, Silver 2000, Bronze 1000, Unauthenticated 500 and
  DefaultSubscriptionless 100000 requests per minute, and Unlimited;
- application tiers: 50PerMin, 20PerMin, 10PerMin and Unlimited (the default
  application of the Developer Portal is Unlimited);
- API and resource tiers (advanced policies): 50KPerMin, 20KPerMin, 10KPerMin and
  Unlimited.

The default subscription tiers stop on quota reach; a custom tier may let calls through
instead (`stop_on_quota_reach: false`), as WSO2's subscription policies can.

Subscription and application policies may add burst control (spike arrest): a request
count per second or per minute, WSO2's `rateLimitCount` and `rateLimitTimeUnit`
(`sec` or `min`; a count of 0 turns it off). No default tier has one, and WSO2's
advanced (API and resource) policies have none at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .fields import FieldReader

LEVELS = ("subscription", "application", "api")
UNLIMITED = "Unlimited"

TIME_UNITS = {"sec": 1, "min": 60, "hour": 3600, "day": 86400}
BURST_TIME_UNITS = {"sec": 1, "min": 60}


@dataclass(frozen=True, slots=True)
class BurstLimit:
    """Burst control of a tier: at most `requests` per window of `window_seconds`."""

    requests: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Tier:
    """A request quota per fixed time window; `requests` None means unlimited."""

    name: str
    requests: int | None
    window_seconds: int = 60
    stop_on_quota_reach: bool = True
    burst: BurstLimit | None = None

    @property
    def unlimited(self) -> bool:
        return self.requests is None


def _per_minute(*pairs: tuple[str, int]) -> dict[str, Tier]:
    tiers = {name: Tier(name, count) for name, count in pairs}
    tiers[UNLIMITED] = Tier(UNLIMITED, None)
    return tiers


DEFAULT_TIERS: dict[str, dict[str, Tier]] = {
    "subscription": _per_minute(
        ("Gold", 5000),
        ("Silver", 2000),
        ("Bronze", 1000),
        ("Unauthenticated", 500),
        ("DefaultSubscriptionless", 100000),
    ),
    "application": _per_minute(("50PerMin", 50), ("20PerMin", 20), ("10PerMin", 10)),
    "api": _per_minute(
        ("50KPerMin", 50000), ("20KPerMin", 20000), ("10KPerMin", 10000)
    ),
}

TIER_FIELDS = ("name", "requests", "unit_time", "time_unit", "stop_on_quota_reach")
BURST_FIELDS = ("rate_limit_count", "rate_limit_time_unit")


@dataclass(frozen=True, slots=True)
class TierTable:
    """Every tier by level and name: the defaults plus the config's own."""

    by_level: dict[str, dict[str, Tier]]

    def get(self, level: str, name: str | None) -> Tier | None:
        if not name:
            return None
        return self.by_level[level].get(name)

    def names(self, level: str) -> list[str]:
        return sorted(self.by_level[level])


def parse_tiers(file: str, raw: Any) -> TierTable:
    """Read the `throttling` section: custom tiers per level on top of WSO2's defaults."""
    by_level = {level: dict(tiers) for level, tiers in DEFAULT_TIERS.items()}
    if raw is None:
        return TierTable(by_level)
    section = FieldReader(
        file, raw, "throttling", tuple(f"{level}_tiers" for level in LEVELS)
    )
    for level in LEVELS:
        field = f"{level}_tiers"
        for index, entry in enumerate(section.mapping_list(field), start=1):
            owner = f"throttling.{field}[{index}]"
            tier = _parse_tier(file, entry, owner, level)
            if tier.name in DEFAULT_TIERS[level]:
                raise ConfigError(
                    f"{owner}: tier {tier.name!r} is a WSO2 default "
                    "tier; give the custom tier another name",
                    file=file,
                    line=getattr(entry, "line", None),
                )
            by_level[level][tier.name] = tier
    return TierTable(by_level)


def _parse_tier(file: str, raw: Any, owner: str, level: str) -> Tier:
    reader = FieldReader(file, raw, owner, TIER_FIELDS + BURST_FIELDS)
    name = reader.string("name", required=True)
    requests = reader.integer("requests", None, minimum=1)
    if requests is None:
        raise reader.error(
            "requests", "is missing; give the number of requests per window"
        )
    unit_time = reader.integer("unit_time", 1, minimum=1)
    time_unit = reader.choice("time_unit", tuple(TIME_UNITS), "min")
    stop = reader.boolean("stop_on_quota_reach", True)
    burst = _parse_burst(reader, level)
    return Tier(name, requests, unit_time * TIME_UNITS[time_unit], stop, burst)


def _parse_burst(reader: FieldReader, level: str) -> BurstLimit | None:
    """Read the burst control fields: a count and a unit, or a count of 0 for none."""
    present = [field for field in BURST_FIELDS if reader.has(field)]
    if not present:
        return None
    if level == "api":
        raise reader.error(
            present[0],
            "is not accepted on an API tier because WSO2's advanced policies have no "
            "burst control; set it on a subscription or application tier",
        )
    count = reader.integer("rate_limit_count", None, minimum=0)
    if count is None:
        raise reader.error(
            "rate_limit_count",
            "is missing; give the number of requests allowed per "
            "rate_limit_time_unit (0 turns burst control off)",
        )
    if count == 0:
        return None
    if not reader.has("rate_limit_time_unit"):
        raise reader.error(
            "rate_limit_time_unit", "is missing; give sec or min for the burst window"
        )
    unit = reader.choice("rate_limit_time_unit", tuple(BURST_TIME_UNITS), "sec")
    return BurstLimit(count, BURST_TIME_UNITS[unit])
