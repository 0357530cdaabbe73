"""Respond to the backend's Digest challenge before forwarding, as WSO2 does.

A sub-addon of the gateway whose async `request` hook runs after BackendCheck found
the backend reachable. For an API with endpoint security `digest` it sends the request
to the backend once, as the `<call>` of WSO2's template does, and reads the challenge of
the response. It then sets `Authorization: Digest ...` on the flow, which mitmproxy
sends, so the backend receives the request twice, as from WSO2. The first request runs
in a thread, so the event loop goes on serving other flows.

When the first request cannot reach the backend, the client gets WSO2's 101503 fault,
as from a failed `<call>`.
"""

from __future__ import annotations

import asyncio
import http.client as http_client
import logging
import ssl
from typing import TYPE_CHECKING, Any

from mitmproxy import ctx as mitmproxy_ctx
from mitmproxy import http
from mitmproxy.net.http import url

from .backend_check import answer_internal_error, forwarded_flow, refresh_trace
from .endpoint_digest import authorization, parse_challenge
from .mediation_flow import answer_backend_failure

if TYPE_CHECKING:
    from .gateway import Gateway

logger = logging.getLogger(__name__)

# Seconds to wait for the backend's response to the first request.
CALL_TIMEOUT = 60.0

# Framing headers of the first request are written for its own body.
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})


class BackendDigest:
    """Sub-addon that sets the Digest Authorization of endpoint security `digest`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def request(self, flow: http.HTTPFlow) -> None:
        forwarded = forwarded_flow(self.gateway, flow)
        if forwarded is None or self.gateway.config is None:
            return
        state, ctx, api = forwarded
        security = api.endpoint_security
        if security is None or security.type != "digest":
            return
        try:
            await self._respond_to_challenge(flow, state, ctx, api, security)
        except Exception:
            # A bug here must not send the request on without its credentials.
            answer_internal_error(self.gateway, flow, state, ctx)
        refresh_trace(self.gateway, flow, state, ctx)

    async def _respond_to_challenge(
        self, flow: http.HTTPFlow, state: dict, ctx: Any, api: Any, security: Any
    ) -> None:
        request = flow.request
        body = request.raw_content or b""
        insecure = bool(getattr(mitmproxy_ctx.options, "ssl_insecure", False))
        try:
            status, challenges = await asyncio.to_thread(
                first_request, request, body, insecure
            )
        except (OSError, http_client.HTTPException) as e:
            detail = str(e) or type(e).__name__
            logger.info(
                "gateway: digest: backend %s:%s unreachable: %s",
                request.host,
                request.port,
                detail,
            )
            assert self.gateway.config is not None
            self.gateway.flows.pop(flow.id)
            answer_backend_failure(
                flow, state, ctx, api, self.gateway.config.sequences, detail
            )
            return

        ctx.record(
            "route", f"endpoint security digest: the first request got status {status}"
        )
        if not challenges:
            # NOTE: The DigestAuthMediator that endpoint_digest follows fails here, and
            # the client gets no response. Later carbon-apimgt versions respond 401
            # "Unauthenticated at backend level". The gateway forwards it as is.
            logger.error(
                "gateway: endpoint security digest of %s: missing WWW-Authenticate "
                "header in the backend's response (status %s), so the request is "
                "forwarded without digest credentials",
                api.label,
                status,
            )
            ctx.record(
                "route", "endpoint security digest: no WWW-Authenticate: sent as is"
            )
            return
        header = next((c for c in challenges if "Digest" in c), challenges[0])
        try:
            challenge = parse_challenge(header)
        except ValueError as e:
            logger.error(
                "gateway: endpoint security digest of %s: %s, so the request is "
                "forwarded without digest credentials",
                api.label,
                e,
            )
            ctx.record("route", f"endpoint security digest: {e}: sent as is")
            return
        if challenge is None:
            value = ""
            ctx.record(
                "route",
                "endpoint security digest: the challenge is not Digest: "
                "Authorization sent empty, as WSO2 does",
            )
        else:
            value = authorization(
                challenge,
                security.username,
                security.password,
                request.method,
                request.path,
                body,
            )
            ctx.record(
                "route",
                f"endpoint security digest: Authorization: Digest **** for realm "
                f"{challenge.realm!r} ({security.username})",
            )
        ctx.headers.set("Authorization", value)
        ctx.headers.remove_excess("Authorization")
        request.headers["Authorization"] = value


def first_request(
    request: http.Request, body: bytes, insecure: bool
) -> tuple[int, list[str]]:
    """Send `request` to its backend once and return the status and the challenges.

    Raises OSError or http_client.HTTPException when the backend cannot be reached.
    """
    if request.scheme == "https":
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        connection: http_client.HTTPConnection = http_client.HTTPSConnection(
            request.host, request.port, timeout=CALL_TIMEOUT, context=context
        )
    else:
        connection = http_client.HTTPConnection(
            request.host, request.port, timeout=CALL_TIMEOUT
        )
    try:
        connection.putrequest(
            request.method, request.path, skip_host=True, skip_accept_encoding=True
        )
        if "Host" not in request.headers:
            # An HTTP/2 client sends :authority and no Host, but HTTP/1.1 requires Host.
            host = request.host_header or url.hostport(
                request.scheme, request.host, request.port
            )
            connection.putheader("Host", host)
        for name, value in request.headers.fields:
            if name.lower() not in _FRAMING:
                connection.putheader(name.decode("latin-1"), value.decode("latin-1"))
        if body or request.method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        reply = connection.getresponse()
        reply.read()
        return reply.status, reply.headers.get_all("WWW-Authenticate") or []
    finally:
        connection.close()
