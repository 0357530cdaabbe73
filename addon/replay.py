"""Dry replay: run a flow's client request through the config in force, sending nothing.

The gateway rewrites a flow's request in place (the token leaves, mediation changes the
headers, the URL becomes the backend's), so what mitmweb shows afterwards is the
backend's request. To replay what the client sent, the gateway remembers the request
line and headers of its most recent flows, in memory only. They contain the client's
token, so they never go into the flow, its metadata or a file. For an older flow, or one
loaded from a file, the dry run starts from the request stored in the flow, and its
output notes that.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mitmproxy import http

from . import tracing
from .query_masking import mask_query_credentials

if TYPE_CHECKING:
    from .gateway import Gateway

# How many flows' client requests are kept for dry replay.
MAX_REMEMBERED = 2000


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """The request line and headers of a request as the client sent it."""

    method: str
    path: str
    fields: tuple[tuple[bytes, bytes], ...]


class RecentRequests:
    """The client requests of the most recent flows by flow id; the oldest go first."""

    def __init__(self, size: int = MAX_REMEMBERED) -> None:
        self.size = size
        self._requests: OrderedDict[str, ClientRequest] = OrderedDict()

    def remember(self, flow_id: str, request: http.Request) -> None:
        self._requests[flow_id] = ClientRequest(
            request.method, request.path, tuple(request.headers.fields)
        )
        if len(self._requests) > self.size:
            self._requests.popitem(last=False)

    def get(self, flow_id: str) -> ClientRequest | None:
        return self._requests.get(flow_id)


@dataclass(slots=True)
class DryRun:
    """The result of running one flow's client request through the current config."""

    state: dict[str, Any]
    request: http.Request
    answer: http.Response | None
    from_client: bool


def dry_run(gateway: Gateway, flow: http.HTTPFlow) -> DryRun:
    """Run `flow`'s client request through the current config, sending nothing."""
    request = flow.request.copy()
    original = gateway.recent_requests.get(flow.id)
    if original is not None:
        request.method = original.method
        request.path = original.path
        request.headers = http.Headers(original.fields)
    state: dict[str, Any] = {
        "method": request.method,
        "path": mask_query_credentials(request.path),
        "dry_run": True,
    }
    answer = gateway.run(request, state, dry_run=True)
    return DryRun(state, request, answer, original is not None)


def _header_lines(fields: tuple[tuple[bytes, bytes], ...]) -> list[str]:
    lines = []
    for raw_name, raw_value in fields:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        lines.append(f"  {name}: {tracing.masked(name, value)}")
    return lines


def render_dry_run(flow: http.HTTPFlow, run: DryRun) -> str:
    """Return the text the dry-run command shows for one flow."""
    request_line = f"{run.state['method']} {run.state['path']}"
    lines = [f"flow {flow.id}: {request_line} (dry run, nothing sent)"]
    if not run.from_client:
        lines.append(
            "  (the client's request is no longer in memory, so this replays the "
            "request stored in the flow, which is what the backend received)"
        )
    lines.append(tracing.render(run.state))
    if run.answer is None:
        request = run.request
        url = mask_query_credentials(request.url)
        lines.append(f"would send: {request.method} {url}")
        lines.extend(_header_lines(tuple(request.headers.fields)))
    else:
        body = run.answer.get_text(strict=False) or ""
        lines.append(
            f"would answer {run.answer.status_code} without calling the backend:"
        )
        lines.append(f"  {body}")
    return "\n".join(lines)
