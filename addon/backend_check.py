"""Send WSO2's fault response when the backend cannot be reached, not mitmproxy's 502.

mitmproxy answers a failed upstream connection with its own HTML 502 and ignores a
response set in the `error` hook (11.0.2 and 12.x alike), and `server_connect_error`
gets no flow. So before a flow is forwarded, this sub-addon of the gateway opens a TCP
connection to the backend itself. When that fails, the flow is answered as WSO2
answers a refused backend: code 101503 "Error connecting to the back end", status
500, through the API's fault sequence and `fault`.

For a load-balance or failover endpoint the check walks the members as Synapse does
(see endpoint_groups): a member that refuses is suspended and the request moves to
the next member, and the fault is sent only when no member is left. The trace
records each member tried.

The check costs one extra TCP connection per forwarded request. A backend that
accepts the check and then fails (TLS errors, a reset mid-request) still gets
mitmproxy's 502, and its member is not suspended.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from mitmproxy import http
from mitmproxy.net.http import url

from . import outcomes, tracing
from .answer import error_response, internal_error
from .endpoint_groups import SUSPEND_SECONDS
from .endpoints import fill_uri_vars
from .mediation_flow import answer_backend_failure
from .pipeline import Forward, route
from .query_masking import mask_query_credentials

if TYPE_CHECKING:
    from .gateway import Gateway

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0


class BackendCheck:
    """Sub-addon: checks that the backend accepts connections before forwarding."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def request(self, flow: http.HTTPFlow) -> None:
        forwarded = forwarded_flow(self.gateway, flow)
        if forwarded is None or self.gateway.config is None:
            return
        state, ctx, api = forwarded
        group = api.group_for(str(ctx.properties.get("AM_KEY_TYPE", "PRODUCTION")))
        member = state.get("endpoint_member")
        tried: list[int] = []
        while True:
            host, port = flow.request.host, flow.request.port
            detail = await _connect(host, port)
            if detail is None:
                if group is not None and member is not None:
                    group.mark_active(member)
                if tried:
                    refresh_trace(self.gateway, flow, state, ctx)
                return
            logger.info("gateway: backend %s:%s unreachable: %s", host, port, detail)
            if group is None or member is None:
                break
            tried.append(member)
            ctx.record(
                "route",
                f"{group.kind} endpoint: {group.describe(member)} unreachable "
                f"({detail}): suspended for {SUSPEND_SECONDS:.0f} s",
            )
            member = group.after_failure(member, tried)
            if member is None:
                ctx.record("route", f"{group.kind} endpoint: no other member is ready")
                break
            ctx.record(
                "route", f"{group.kind} endpoint: next is {group.describe(member)}"
            )
            ctx.properties["ENDPOINT_ADDRESS"] = group.members[member].url
            forward = route(ctx, api, fill_uri_vars(ctx, group.members[member]))
            repoint(flow.request, forward)
            state["backend"] = mask_query_credentials(forward.url)
            state["endpoint_member"] = member

        self.gateway.flows.pop(flow.id)
        answer_backend_failure(
            flow, state, ctx, api, self.gateway.config.sequences, detail
        )
        refresh_trace(self.gateway, flow, state, ctx)


def forwarded_flow(
    gateway: Gateway, flow: http.HTTPFlow
) -> tuple[dict, Any, Any] | None:
    """Return the state, message context and API of a flow the gateway forwards.

    Returns None for a flow that the gateway responded to itself or did not handle.
    """
    state = flow.metadata.get("gateway")
    if (
        state is None
        or state.get("outcome") != outcomes.FORWARDED
        or flow.response is not None
    ):
        return None
    stored = gateway.flows.get(flow.id)
    if stored is None:
        return None
    ctx, api = stored
    return state, ctx, api


def answer_internal_error(
    gateway: Gateway, flow: http.HTTPFlow, state: dict, ctx: Any
) -> None:
    """Respond 500 after a bug in a late step, so that nothing half-done is forwarded."""
    logger.exception(
        "gateway: unexpected error on flow %s, responded with 500", flow.id
    )
    gateway.flows.pop(flow.id)
    state["outcome"] = outcomes.INTERNAL_ERROR
    flow.response = error_response(
        ctx.headers, internal_error(flow.id), profile=gateway.runtime.profile
    )


def refresh_trace(gateway: Gateway, flow: http.HTTPFlow, state: dict, ctx: Any) -> None:
    """Rebuild the flow's trace, header difference and comment after a late change."""
    client_fields, targets = tracing.client_side(ctx, gateway.recent_requests.get(flow.id))
    backend_fields = flow.request.headers.fields
    secrets = tracing.secret_values(client_fields, backend_fields, targets=targets)
    state["trace"] = tracing.trace_steps(ctx, secrets)
    if state.get("outcome") == outcomes.FORWARDED:
        state["headers"] = tracing.header_diff(client_fields, backend_fields)
    tracing.annotate(flow, state)


async def _connect(host: str, port: int) -> str | None:
    """Open and close a TCP connection to host:port.

    Returns the reason of the failure, or None when the connection opened.
    """
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout=CONNECT_TIMEOUT
        )
    except (TimeoutError, OSError) as e:
        return str(e) or type(e).__name__
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return None


def repoint(request: http.Request, forward: Forward) -> None:
    """Point a request that the gateway already rewrote at another member's URL.

    The Host header follows only when it names the old backend, so a Host that a
    sequence set (REQUEST_HOST_HEADER) stays.
    """
    old = url.hostport(request.scheme, request.host, request.port)
    new = url.hostport(forward.scheme, forward.host, forward.port)
    if request.headers.get("Host") == old:
        request.headers["Host"] = new
    data = request.data
    data.scheme = forward.scheme.encode("ascii")
    data.host = forward.host
    data.port = forward.port
    if not request.http_version.startswith("HTTP/1"):
        data.authority = new.encode("ascii")
    request.path = forward.path
