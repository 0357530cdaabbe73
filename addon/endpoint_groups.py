"""Load-balanced and failover endpoints: the member a request goes to, and the next one.

Facts from API Manager's `endpoint_template.xml` and Synapse (wso2-synapse
`LoadbalanceEndpoint`, `FailoverEndpoint`, `RoundRobin`, `AbstractEndpoint`,
`EndpointContext`):

- `endpoint_type: load_balance` renders `<loadbalance>` with the production (or
  sandbox) URLs as members `<api>_APIproductionEndpoint_0`, `_1`, ...; the algorithm is
  `RoundRobin` and failover is on unless `failOver` is `False`.
- `endpoint_type: failover` renders `<failover>` with the production URL as member 0
  and `production_failovers` after it. Failover is dynamic: every request goes to the
  first member that is ready, so traffic returns to the primary once it is ready again.
- Round robin keeps one index per load-balance endpoint, so production and sandbox
  traffic rotate separately. It hands out the member at the index and moves the index
  on, skipping members that are not ready; with none ready it returns nothing.
- The template gives members no `<suspendOnFailure>` or `<markForSuspension>`, so
  Synapse's defaults apply: any error suspends the member, for 30 seconds
  (`DEFAULT_ENDPOINT_SUSPEND_TIME`, progression factor 1). A suspended member is ready
  again when the time has passed, and a successful send makes it active.
- A member that fails makes its parent try again (load balance with failover on, or
  failover): the next ready member by the parent's rule. The error code of the last
  member's failure (101503 for a refused connection) stays on the message, so the
  client gets that fault when no member is left. When no member is ready before any
  was tried, the fault is 303000 with `Loadbalance endpoint : <name> - no ready child
  endpoints` (or `Failover endpoint : ...`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .context import MessageContext
from .errors import GatewayError

LOAD_BALANCE = "load_balance"
FAILOVER = "failover"
ENDPOINT_TYPES = ("http", LOAD_BALANCE, FAILOVER)

# Synapse's SynapseConstants.DEFAULT_ENDPOINT_SUSPEND_TIME, in seconds.
SUSPEND_SECONDS = 30.0

# SynapseConstants.ENDPOINT_LB_NONE_READY and ENDPOINT_FO_NONE_READY.
NONE_READY_CODE = "303000"

# API Manager's `algoClassName` for round robin, the only algorithm supported here.
ROUND_ROBIN_CLASS = "org.apache.synapse.endpoints.algorithms.RoundRobin"

# Synapse's names for the two kinds in its log and fault messages.
_KIND_NAMES = {LOAD_BALANCE: "Loadbalance", FAILOVER: "Failover"}


class MemberStates:
    """The runtime state of one group: the round-robin index and member suspensions.

    A group's state lives as long as its config snapshot: a reload starts afresh, as
    Synapse does when an API is redeployed. The gateway runs on one event loop, so no
    lock is needed.
    """

    __slots__ = ("next_index", "suspended_until")

    def __init__(self, size: int) -> None:
        self.next_index = 0
        self.suspended_until = [0.0] * size

    def is_ready(self, index: int, now: float) -> bool:
        return now >= self.suspended_until[index]


@dataclass(frozen=True, slots=True)
class EndpointGroup:
    """A load-balance or failover endpoint: its Synapse name, members and state."""

    kind: str
    name: str
    # `Endpoint` objects of config.py, typed loosely because config imports this module.
    members: tuple[Any, ...]
    # Load balance only: whether a failed member makes the group try another one.
    failover: bool = True
    # Set by __post_init__ from the number of members.
    state: MemberStates = field(compare=False, repr=False, default=None)  # type: ignore

    def __post_init__(self) -> None:
        if self.state is None:
            object.__setattr__(self, "state", MemberStates(len(self.members)))

    def describe(self, index: int) -> str:
        return f"member {index} ({self.members[index].url})"

    def first_member(self, *, advance: bool = True) -> int | None:
        """Return the index of the member for a new request, or None if none is ready.

        Round robin moves its index on unless `advance` is false (a dry run).
        """
        now = time.monotonic()
        state = self.state
        if self.kind == FAILOVER:
            return self._first_ready(now, ())
        size = len(self.members)
        index = state.next_index
        for _ in range(size):
            candidate = index
            index = (index + 1) % size
            if state.is_ready(candidate, now):
                if advance:
                    state.next_index = index
                return candidate
        if advance:
            state.next_index = index
        return None

    def after_failure(self, failed: int, tried: list[int]) -> int | None:
        """Suspend member `failed` and return the member to try next, or None.

        `tried` lists the members this request already tried, so none is tried twice.
        """
        now = time.monotonic()
        self.state.suspended_until[failed] = now + SUSPEND_SECONDS
        if self.kind == LOAD_BALANCE and not self.failover:
            return None
        if self.kind == FAILOVER:
            return self._first_ready(now, tried)
        size = len(self.members)
        for _ in range(size):
            candidate = self.state.next_index
            self.state.next_index = (candidate + 1) % size
            if candidate not in tried and self.state.is_ready(candidate, now):
                return candidate
        return None

    def mark_active(self, index: int) -> None:
        """Make member `index` ready at once, after it accepted a connection."""
        self.state.suspended_until[index] = 0.0

    def none_ready(self) -> GatewayError:
        """Return the fault of a request that finds no member ready."""
        kind = _KIND_NAMES[self.kind]
        return GatewayError(
            NONE_READY_CODE,
            "Runtime Error",
            f"{kind} endpoint : {self.name} - no ready child endpoints",
            500,
            handler="fault",
        )

    def _first_ready(self, now: float, tried: Any) -> int | None:
        for index in range(len(self.members)):
            if index not in tried and self.state.is_ready(index, now):
                return index
        return None


def group_name(api_name: str, version: str, key_type: str) -> str:
    """Return API Manager 4.x's name of an API's endpoint.

    For example Orders--vv1_APIproductionEndpoint for version v1.
    """
    return f"{api_name}--v{version}_API{key_type}Endpoint"


def choose_member(
    ctx: MessageContext, group: EndpointGroup | None, *, advance: bool = True
) -> int | None:
    """Record and return the member of `group` a new request goes to.

    Returns None for an API without a group. Raises the 303000 fault when every
    member is suspended.
    """
    if group is None:
        return None
    index = group.first_member(advance=advance)
    if index is None:
        ctx.record(
            "route", f"{group.kind} endpoint {group.name}: no member is ready: 303000"
        )
        raise group.none_ready()
    rule = "round robin" if group.kind == LOAD_BALANCE else "first ready member"
    ctx.record("route", f"{group.kind} endpoint: {group.describe(index)} by {rule}")
    ctx.properties["ENDPOINT_ADDRESS"] = group.members[index].url
    return index


# Config ------------------------------------------------------------------------------

def parse_api_groups(
    file: str, api: Any, name: str, version: str
) -> tuple[EndpointGroup | None, EndpointGroup | None] | None:
    """Read the load-balance or failover endpoints of a gateway.yaml API.

    Returns None for an `http` API, whose URLs the caller reads, else the production and
    sandbox groups, either of which may be None. Raises ConfigError naming the field.
    """
    # Imported here because config imports this module.
    from .config import Endpoint, redact_url
    from .fields import FieldReader

    reader = FieldReader(file, api, f"API {name!r}", tuple(api.keys()))
    kind = reader.choice("endpoint_type", ENDPOINT_TYPES, "http")
    if kind == "http":
        for field_name in ("failover", "production_failovers", "sandbox_failovers"):
            if reader.has(field_name):
                raise reader.error(
                    field_name, "needs endpoint_type: load_balance or failover"
                )
        for field_name in ("endpoint", "production_endpoint", "sandbox_endpoint"):
            if isinstance(reader.raw(field_name), list):
                raise reader.error(
                    field_name,
                    "is a list; a list of URLs needs endpoint_type: load_balance "
                    "(or failover, with the others under production_failovers)",
                )
        return None

    def parse_urls(field_name: str, value: Any) -> list[Any]:
        urls = [value] if isinstance(value, str) else value
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise reader.error(field_name, "must be a URL or a list of URLs")
        members = []
        for url in urls:
            try:
                members.append(Endpoint.parse(url.strip()))
            except ValueError as e:
                raise reader.error(field_name, f"{redact_url(url)!r} {e}") from None
        return members

    if kind == FAILOVER and reader.has("failover"):
        raise reader.error(
            "failover", "applies to endpoint_type: load_balance only"
        )
    failover = reader.boolean("failover", True)
    groups: dict[str, EndpointGroup | None] = {}
    for key_type, field_names in (
        ("production", ("endpoint", "production_endpoint")),
        ("sandbox", ("sandbox_endpoint",)),
    ):
        given = [f for f in field_names if reader.has(f)]
        failovers_field = f"{key_type}_failovers"
        if not given:
            if reader.has(failovers_field):
                raise reader.error(
                    failovers_field,
                    f"is set but {field_names[-1]!r} is not; the failovers back up "
                    "that primary URL",
                )
            groups[key_type] = None
            continue
        if len(given) > 1:
            raise reader.error(
                "production_endpoint",
                "and 'endpoint' are both set; they name the same production endpoint",
            )
        field_name = given[0]
        members = parse_urls(field_name, reader.raw(field_name))
        if kind == LOAD_BALANCE and reader.has(failovers_field):
            raise reader.error(
                failovers_field,
                "applies to endpoint_type: failover; list every load-balanced URL "
                f"under {field_name!r}",
            )
        if kind == FAILOVER:
            if len(members) != 1:
                raise reader.error(
                    field_name,
                    "must be one URL, the primary, for endpoint_type: failover; "
                    f"list the others under {failovers_field!r}",
                )
            members += parse_urls(failovers_field, reader.raw(failovers_field) or [])
        if not members:
            raise reader.error(field_name, "lists no URL; give at least one")
        group = EndpointGroup(
            kind, group_name(name, version, key_type), tuple(members), failover
        )
        groups[key_type] = group
    return groups["production"], groups["sandbox"]


def parse_failover_flag(value: Any) -> bool | None:
    """Read apictl's `failOver`, a boolean or the string "True" or "False".

    Returns None for any other value.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None
