"""Blocking conditions (WSO2's deny policies): requests rejected before any counter.

Facts from carbon-apimgt (`ThrottleHandler`, `ThrottleDataHolder.isRequestBlocked`,
`ApiMgtDAO.addBlockConditions`, `APIUtil.ipToBigInteger`):

- `API` names an API's context with its version, e.g. `/orders/v1`, and an API must
  serve that context.
- `APPLICATION` names `<subscriber>:<application name>`, e.g. `admin:Scraper`. WSO2
  never applies a value without the colon.
- `USER` names a user with the tenant domain, so `mallory` means `mallory@carbon.super`.
- `IP` names one address, compared with the client's as text, and `IPRANGE` a
  starting and an ending address.
- Any one condition that matches blocks the request; a disabled one is not applied.
- `invert` on `IP` or `IPRANGE` blocks every address that the condition does not match.
- A range excludes both of its ends: it matches an address greater than the starting
  address and less than the ending one.
- An address that does not parse counts as the number 0 in a range comparison.
- The client address is the first `X-Forwarded-For` entry, else the peer's address.
- A blocked request gets 403 with code 900805, `Message blocked` and `You have been
  blocked from accessing the resource`, without `Retry-After`, from
  `_throttle_out_handler_`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from .context import MessageContext
from .errors import ConfigError, GatewayError
from .fields import FieldReader, line_of

KINDS = ("API", "APPLICATION", "USER", "IP", "IPRANGE")
CONDITION_FIELDS = (
    "type",
    "value",
    "fixed_ip",
    "starting_ip",
    "ending_ip",
    "invert",
    "enabled",
)
# The fields each kind takes besides `type` and `enabled`.
_KIND_FIELDS = {
    "API": ("value",),
    "APPLICATION": ("value",),
    "USER": ("value",),
    "IP": ("fixed_ip", "invert"),
    "IPRANGE": ("starting_ip", "ending_ip", "invert"),
}
TENANT_DOMAIN = "carbon.super"

BLOCKED_CODE = "900805"
BLOCKED_MESSAGE = "Message blocked"
BLOCKED_DESCRIPTION = "You have been blocked from accessing the resource"


@dataclass(frozen=True, slots=True)
class BlockingCondition:
    """One condition: its kind, the value it matches and where the config defines it."""

    kind: str
    value: str
    line: int | None = None
    enabled: bool = True
    invert: bool = False
    starting_ip: int = 0
    ending_ip: int = 0

    def describe(self) -> str:
        inverted = " (inverted)" if self.invert else ""
        return f"{self.kind} {self.value}{inverted}"

    def matches_address(self, client_ip: str) -> bool:
        """Apply an IP or IPRANGE condition to the client's address, with `invert`."""
        if self.kind == "IP":
            inside = client_ip == self.value
        else:
            number = address_number(client_ip)
            inside = self.starting_ip < number < self.ending_ip
        return inside != self.invert


@dataclass(frozen=True, slots=True)
class BlockingKeys:
    """The values a request is matched on: API context, application, user, client."""

    api_context: str
    application: str | None
    user: str
    client_ip: str


@dataclass(frozen=True, slots=True)
class BlockingConditions:
    """The enabled conditions by kind, for lookups per request."""

    conditions: tuple[BlockingCondition, ...] = ()
    _exact: dict[tuple[str, str], BlockingCondition] = field(
        init=False, repr=False, compare=False
    )
    _addresses: tuple[BlockingCondition, ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        exact: dict[tuple[str, str], BlockingCondition] = {}
        addresses = []
        for condition in self.conditions:
            if not condition.enabled:
                continue
            if condition.kind == "IPRANGE" or condition.invert:
                addresses.append(condition)
            else:
                # API, APPLICATION, USER and plain IP conditions match by equal text.
                exact.setdefault((condition.kind, condition.value), condition)
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_addresses", tuple(addresses))

    @property
    def active(self) -> bool:
        return bool(self._exact or self._addresses)

    def match(self, keys: BlockingKeys) -> BlockingCondition | None:
        """Return the first enabled condition that blocks a request with `keys`."""
        lookups = (
            ("API", keys.api_context),
            ("APPLICATION", keys.application),
            ("USER", keys.user),
            ("IP", keys.client_ip),
        )
        for kind, value in lookups:
            if value is None:
                continue
            condition = self._exact.get((kind, value))
            if condition is not None:
                return condition
        for condition in self._addresses:
            if condition.matches_address(keys.client_ip):
                return condition
        return None


def address_number(text: str) -> int:
    """Return an IPv4 or IPv6 address as an integer, or 0 when it does not parse."""
    try:
        return int(ipaddress.ip_address(text.strip()))
    except ValueError:
        return 0


def unmapped(address: str) -> str:
    """Return an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address.

    A dual-stack listener reports IPv4 clients in this form, while the JVM under WSO2
    reports them as plain IPv4 addresses.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return address


def with_tenant(user: str) -> str:
    """Append the tenant domain to a user name that lacks it, as WSO2 does."""
    return user if TENANT_DOMAIN in user else f"{user}@{TENANT_DOMAIN}"


def blocked(
    ctx: MessageContext, condition: BlockingCondition, keys: BlockingKeys
) -> GatewayError:
    """Set ThrottleHandler's properties for a blocked request and return its error."""
    reason = (
        f"Request blocked as it violates defined blocking conditions, for API: "
        f"{keys.api_context} ,application:{keys.application or ''} ,user:{keys.user}"
    )
    props = ctx.properties
    props["BLOCKED_REASON"] = reason
    props["THROTTLED_OUT_REASON"] = "REQUEST_BLOCKED"
    props["ERROR_CODE"] = BLOCKED_CODE
    props["ERROR_MESSAGE"] = BLOCKED_MESSAGE
    props["ERROR_DETAIL"] = BLOCKED_DESCRIPTION
    props["HTTP_RESPONSE_STATUS_CODE"] = 403
    where = f" (line {condition.line})" if condition.line else ""
    ctx.record(
        "throttle",
        f"blocked by blocking condition {condition.describe()}{where}, client address "
        f"{keys.client_ip or '-'}: {BLOCKED_CODE}",
    )
    return GatewayError(
        BLOCKED_CODE,
        BLOCKED_MESSAGE,
        BLOCKED_DESCRIPTION,
        403,
        handler="_throttle_out_handler_",
    )


def parse_blocking_conditions(file: str, raw: Any) -> BlockingConditions:
    """Read the top-level `blocking_conditions` list; errors name the entry."""
    if raw is None:
        return BlockingConditions()
    if not isinstance(raw, list):
        raise ConfigError(
            "'blocking_conditions' must be a list of conditions, not a "
            f"{'mapping' if isinstance(raw, dict) else type(raw).__name__}",
            file=file,
            line=line_of(raw),
        )
    conditions: list[BlockingCondition] = []
    seen: dict[tuple[str, str, bool], BlockingCondition] = {}
    for index, entry in enumerate(raw, start=1):
        condition = _parse_condition(file, entry, f"blocking_conditions[{index}]")
        identity = (condition.kind, condition.value, condition.invert)
        if identity in seen:
            first = seen[identity]
            raise ConfigError(
                f"blocking_conditions[{index}]: the condition {condition.describe()} "
                f"is already defined (line {first.line}); WSO2 keeps one condition "
                "per type and value, so remove one of them",
                file=file,
                line=condition.line,
            )
        seen[identity] = condition
        conditions.append(condition)
    return BlockingConditions(tuple(conditions))


def _parse_condition(file: str, raw: Any, owner: str) -> BlockingCondition:
    reader = FieldReader(file, raw, owner, CONDITION_FIELDS)
    kind = reader.string("type", required=True)
    if kind not in KINDS:
        raise reader.error("type", f"is {kind!r}; accepted values: {', '.join(KINDS)}")
    accepted = _KIND_FIELDS[kind]
    for name in CONDITION_FIELDS:
        if name not in ("type", "enabled") + accepted and reader.has(name):
            raise reader.error(
                name,
                f"does not apply to a condition of type {kind}; it takes "
                f"{', '.join(accepted)} (and enabled)",
            )

    line = line_of(raw)
    enabled = reader.boolean("enabled", True)
    if kind in ("IP", "IPRANGE"):
        return _parse_address_condition(reader, kind, line, enabled)

    value = reader.string("value", required=True).strip()
    if kind == "API" and not value.startswith("/"):
        raise reader.error(
            "value",
            f"{value!r} is not an API context; give it with the version, "
            "e.g. /orders/v1",
        )
    if kind == "APPLICATION":
        owner_name, _, application = value.partition(":")
        if not owner_name.strip() or not application.strip():
            raise reader.error(
                "value",
                f"{value!r} must be <subscriber>:<application name> as WSO2 writes "
                "it, e.g. admin:MyApp (the subscriber is the application's owner)",
            )
    if kind == "USER":
        value = with_tenant(value)
    return BlockingCondition(kind, value, line, enabled)


def _parse_address_condition(
    reader: FieldReader, kind: str, line: int | None, enabled: bool
) -> BlockingCondition:
    invert = reader.boolean("invert", False)
    if kind == "IP":
        fixed = _address(reader, "fixed_ip")
        return BlockingCondition(kind, str(fixed), line, enabled, invert)
    start = _address(reader, "starting_ip")
    end = _address(reader, "ending_ip")
    if start.version != end.version:
        raise reader.error(
            "ending_ip",
            f"is IPv{end.version} but starting_ip is IPv{start.version}; give both "
            "addresses in the same IP version",
        )
    if int(start) >= int(end):
        raise reader.error(
            "ending_ip",
            f"{end} must be higher than starting_ip {start}; the range excludes "
            "both ends, as WSO2's does",
        )
    return BlockingCondition(
        kind, f"{start}-{end}", line, enabled, invert, int(start), int(end)
    )


def _address(
    reader: FieldReader, name: str
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    text = reader.string(name, required=True)
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise reader.error(
            name, f"{text!r} is not an IPv4 or IPv6 address; give one "
            "such as 192.0.2.1 or 2001:db8::1"
        ) from None


def check_api_contexts(
    file: str, conditions: BlockingConditions, served: dict[str, str]
) -> list[ConfigError]:
    """Return an error for each API condition whose context no API serves.

    `served` maps each versioned context to its API's name. WSO2's admin portal
    rejects such a condition ("Invalid API Context").
    """
    errors = []
    for index, condition in enumerate(conditions.conditions, start=1):
        if condition.kind != "API" or condition.value in served:
            continue
        known = ", ".join(sorted(served)) or "none"
        errors.append(
            ConfigError(
                f"blocking_conditions[{index}]: field 'value' names API context "
                f"{condition.value!r}, which no API serves; give an API's context "
                f"with its version (served: {known})",
                file=file,
                line=condition.line,
            )
        )
    return errors
