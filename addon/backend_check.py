"""Send WSO2's fault response when the backend cannot be reached, not mitmproxy's 502.

mitmproxy answers a failed upstream connection with its own HTML 502 and ignores a
response set in the `error` hook (11.0.2 and 12.x alike), and `server_connect_error`
gets no flow. So before a flow is forwarded, this sub-addon of the gateway opens a TCP
connection to the backend itself. When that fails, the flow is answered as WSO2
answers a refused backend: code 101503 "Error connecting to the back end", status
500, through the API's fault sequence and `fault`.

The check costs one extra TCP connection per forwarded request. A backend that
accepts the check and then fails (TLS errors, a reset mid-request) still gets
mitmproxy's 502.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from mitmproxy import http

from . import outcomes, tracing
from .mediation_flow import answer_backend_failure

if TYPE_CHECKING:
    from .gateway import Gateway

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0


class BackendCheck:
    """Sub-addon: checks that the backend accepts connections before forwarding."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def request(self, flow: http.HTTPFlow) -> None:
        state = flow.metadata.get("gateway")
        if (
            state is None
            or state.get("outcome") != outcomes.FORWARDED
            or flow.response is not None
        ):
            return
        stored = self.gateway.flows.get(flow.id)
        if stored is None or self.gateway.config is None:
            return
        host, port = flow.request.host, flow.request.port
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout=CONNECT_TIMEOUT
            )
        except (TimeoutError, OSError) as e:
            detail = str(e) or type(e).__name__
            logger.info("gateway: backend %s:%s unreachable: %s", host, port, detail)
            self.gateway.flows.pop(flow.id)
            ctx, api = stored
            answer_backend_failure(
                flow, state, ctx, api, self.gateway.config.sequences, detail
            )
            client = self.gateway.recent_requests.get(flow.id)
            secrets = tracing.secret_values(
                client.fields if client else (),
                flow.request.headers.fields,
                targets=(client.path,) if client else (),
            )
            state["trace"] = tracing.trace_steps(ctx, secrets)
            tracing.annotate(flow, state)
            return
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
