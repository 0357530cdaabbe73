"""The request path, stage by stage, in WSO2's order.

dispatch (which API) -> authenticate (which application; the token leaves the
Authorization header) -> in-sequence (the API's mediation) -> route (the backend URL).
Each stage records what it decided in the message context's trace. A stage that
rejects the request raises GatewayError; this module knows nothing of mitmproxy.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import dispatch
from .answer import no_matching_api
from .auth import AuthResult, authenticate
from .config import ApiConfig, Endpoint, GatewayConfig
from .context import MessageContext
from .errors import GatewayError
from .mediation.runner import mediate_request
from .mediation.transport import expand_uri_template
from .route import backend_path, backend_url
from .store import TokenStore

# Characters that would end a header line or the request line early.
_FORBIDDEN_IN_HEADER = ("\r", "\n", "\0")


@dataclass(slots=True)
class Forward:
    """The request to send to the backend."""

    scheme: str
    host: str
    port: int
    path: str
    method: str
    url: str


@dataclass(slots=True)
class Outcome:
    """What the pipeline decided for one request."""

    api: ApiConfig | None = None
    auth: AuthResult | None = None
    forward: Forward | None = None


def process(
    config: GatewayConfig, store: TokenStore, ctx: MessageContext, path: str, outcome: Outcome
) -> Forward:
    """Run the request path for `ctx`, filling `outcome` as each stage decides.

    Returns the backend request, or raises GatewayError with WSO2's answer, or
    Answered when the API's sequences answered the client themselves.
    """
    match = dispatch.select_api(config, path)
    if match is None:
        ctx.record("dispatch", f"no API matches {path}: 404")
        raise no_matching_api()
    api = match.api
    outcome.api = api
    _set_api_properties(ctx, api, path, match.postfix)
    ctx.record("dispatch", f"API {api.label} (context {api.full_context}), postfix {match.postfix!r}")

    outcome.auth = authenticate(ctx, api, store)
    _set_auth_properties(ctx, outcome.auth)

    if api.in_sequence is not None:
        # Raises Answered when the sequence responds, drops, loops back or faults.
        mediate_request(ctx, api.in_sequence, config.sequences, api.fault_sequence, api.out_sequence)

    forward = route(ctx, api)
    outcome.forward = forward
    return forward


def _set_api_properties(ctx: MessageContext, api: ApiConfig, path: str, postfix: str) -> None:
    ctx.properties["SYNAPSE_REST_API"] = api.label
    ctx.properties["SYNAPSE_REST_API_VERSION"] = api.version
    ctx.properties["REST_API_CONTEXT"] = api.full_context
    ctx.properties["REST_FULL_REQUEST_PATH"] = path
    ctx.properties["REST_SUB_REQUEST_PATH"] = postfix.partition("?")[0]
    ctx.axis2["REST_URL_POSTFIX"] = postfix


def _set_auth_properties(ctx: MessageContext, auth: AuthResult) -> None:
    record = auth.record
    ctx.properties["AM_KEY_TYPE"] = record.key_type
    ctx.properties["api.ut.application.name"] = record.application_name
    ctx.properties["api.ut.application.id"] = str(record.application_id)
    ctx.properties["api.ut.userId"] = record.application_owner


def route(ctx: MessageContext, api: ApiConfig) -> Forward:
    """Build the backend request from the endpoint and what mediation left."""
    postfix = ctx.axis2.get("REST_URL_POSTFIX")
    method = ctx.axis2.get("HTTP_METHOD") or "POST"
    if not isinstance(postfix, str):
        postfix = None
    check_headers(ctx)
    endpoint = api.endpoint
    if "{" in endpoint.url:
        endpoint = Endpoint.parse(expand_uri_template(endpoint.url, ctx))
    url = backend_url(endpoint, postfix)
    ctx.record("route", f"{method} {url}")
    return Forward(
        scheme=endpoint.scheme,
        host=endpoint.host,
        port=endpoint.port,
        path=backend_path(endpoint, postfix),
        method=str(method),
        url=url,
    )


def check_headers(ctx: MessageContext) -> None:
    """Refuse to send a header value that would break the request apart.

    A value a sequence copied from the client or computed may hold CR, LF or NUL; on
    the wire that would inject headers or a second request.
    """
    for name, value in ctx.headers:
        if isinstance(value, str) and any(c in value for c in _FORBIDDEN_IN_HEADER):
            ctx.record("route", f"header {name} holds CR, LF or NUL: not sent")
            raise GatewayError(
                "0",
                "Runtime Error",
                f"Header {name} contains a line break or NUL character and cannot be sent",
                500,
                handler="fault",
            )
