"""Set the backend's OAuth token on a forwarded flow, as WSO2's OAuthMediator does.

A sub-addon of the gateway whose async `request` hook runs after the gateway's own
hook has turned the flow into the backend request, and before BackendCheck connects.
For an API with endpoint security `oauth` it gets the token (cached, or fetched in a
thread by endpoint_oauth) and sets `Authorization: Bearer <token>`, replacing what the
client or a sequence set. When the token endpoint fails, the error is logged and the
request goes on without a new `Authorization`, as in WSO2.

The token is never logged or traced: the trace and the log show a keyed fingerprint.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mitmproxy import http

from . import tracing
from .backend_check import answer_internal_error, forwarded_flow, refresh_trace
from .endpoint_oauth import OAuthSecurity, TokenError, get_token

if TYPE_CHECKING:
    from .gateway import Gateway

logger = logging.getLogger(__name__)


class BackendToken:
    """Sub-addon that sets the token of endpoint security `oauth` before forwarding."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def request(self, flow: http.HTTPFlow) -> None:
        forwarded = forwarded_flow(self.gateway, flow)
        if forwarded is None:
            return
        state, ctx, api = forwarded
        security = api.endpoint_security
        if not isinstance(security, OAuthSecurity):
            return
        try:
            await self._set_token(flow, ctx, api.label, security)
        except Exception:
            # A bug here must not send the request on with a stale Authorization.
            answer_internal_error(self.gateway, flow, state, ctx)
        refresh_trace(self.gateway, flow, state, ctx)

    async def _set_token(
        self, flow: http.HTTPFlow, ctx: Any, label: str, security: OAuthSecurity
    ) -> None:
        try:
            token, cached = await get_token(security)
        except TokenError as e:
            logger.error(
                "gateway: endpoint security oauth of %s: no token from %s (%s), so "
                "the request is forwarded without one, as WSO2 does",
                label,
                security.token_url,
                e,
            )
            ctx.record(
                "route",
                f"endpoint security oauth: no token ({e}), so the request is sent "
                "without a new Authorization, as WSO2 does",
            )
            return
        value = "Bearer " + token
        ctx.headers.set("Authorization", value)
        ctx.headers.remove_excess("Authorization")
        flow.request.headers["Authorization"] = value
        source = "cached" if cached else f"fetched from {security.token_url}"
        fingerprint = tracing.value_fingerprint(token)
        ctx.record(
            "route",
            f"endpoint security oauth: Authorization: Bearer **** ({fingerprint}), "
            f"token {source}",
        )
        if not cached:
            logger.info(
                "gateway: endpoint security oauth of %s: token %s fetched from %s",
                label,
                fingerprint,
                security.token_url,
            )
