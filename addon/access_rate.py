"""Burst control and the backend hard limit: Synapse's access-rate windows.

WSO2's ThrottleHandler (carbon-apimgt) checks subscription burst control and the
backend hard limit (an API's "Backend Throughput", `maxTps`) with Synapse's
role-based access-rate controller, not with the Traffic Manager's counters. Facts from
Synapse's `CallerContext` (wso2-synapse, `commons/throttle/core`):

- A caller's window opens at its first access and lasts the unit time; it is not
  aligned on the clock. The first access after the window has ended opens a new one.
- An allowed access is counted at once, even when a later check rejects the request.
- Once the count reaches the maximum, accesses are rejected until the window ends.

The hard limit counts per API and key type (`<context>:<version>:<key type>`) in
windows of one second (ThrottleHandler's `productionUnitTime` and `sandboxUnitTime`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .fields import FieldReader

# Ended windows are dropped when the table contains more than this many windows.
_PRUNE_ABOVE = 10000

MAX_TPS_FIELDS = ("production", "sandbox")


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one access check: allowed or not, the count, the window end."""

    allowed: bool
    used: int
    window_end: float


class AccessRateController:
    """Access counts per caller key in windows that open at the first access."""

    def __init__(self) -> None:
        # key -> [window end, count]
        self._windows: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def can_access(
        self, key: str, limit: int, seconds: int, now: float, *, count: bool = True
    ) -> Decision:
        """Decide whether `key` may make one more access, and count it when allowed.

        With `count` False nothing changes, and the decision is the one a real access
        would get.
        """
        with self._lock:
            window = self._windows.get(key)
            if window is None or now >= window[0]:
                if count:
                    self._windows[key] = [now + seconds, 1]
                    self._prune(now)
                return Decision(True, 1, now + seconds)
            used = int(window[1])
            if used >= limit:
                return Decision(False, used, window[0])
            if count:
                window[1] = used + 1
            return Decision(True, used + 1, window[0])

    def _prune(self, now: float) -> None:
        if len(self._windows) > _PRUNE_ABOVE:
            self._windows = {k: w for k, w in self._windows.items() if w[0] > now}


@dataclass(frozen=True, slots=True)
class MaxTps:
    """An API's backend hard limit in requests per second, or None, per key type."""

    production: int | None = None
    sandbox: int | None = None

    def for_key_type(self, key_type: str) -> int | None:
        return self.sandbox if key_type == "SANDBOX" else self.production


def parse_max_tps(
    file: str, owner: str, raw: Any, field: str = "max_tps", line: int | None = None
) -> MaxTps | None:
    """Read an API's `max_tps` (WSO2's `maxTps`): `production` and `sandbox`.

    `field` is the mapping's name in the file and `line` its line, for the errors.
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{owner}: field {field!r} must be a mapping with production and/or sandbox "
            f"requests per second, not {raw!r}",
            file=file,
            line=line,
        )
    reader = FieldReader(file, raw, f"{owner} {field}", MAX_TPS_FIELDS)
    production = reader.integer("production", None, minimum=1)
    sandbox = reader.integer("sandbox", None, minimum=1)
    if production is None and sandbox is None:
        raise reader.error(
            "production",
            f"is missing; give production and/or sandbox requests per second, or "
            f"leave {field} out for no hard limit",
        )
    return MaxTps(production, sandbox)
