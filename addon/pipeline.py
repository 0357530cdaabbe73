"""The request path, stage by stage, in the order of WSO2's handler chain.

dispatch (which API) -> edge checks that need the API -> CORS handler (which resource;
404/405; preflight answered) -> authenticate (which application; the token leaves its
header; backend JWT added) -> throttle (blocking conditions, quotas, burst limits,
backend hard limit) -> in-sequence (the API's mediation) -> endpoint (by key type, a
load-balance or failover member, `{uri.var.x}`) -> endpoint security -> route (the
backend URL). Each stage
records what it decided in the message context's trace. A stage that rejects the request
raises GatewayError. This module does not depend on mitmproxy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import dispatch, edge
from .access_rate import AccessRateController
from .answer import no_matching_api
from .auth import AuthFailure, AuthResult, authenticate, client_address
from .backend_jwt import BackendJwtSigner
from .blocking import BlockingKeys, blocked, unmapped, with_tenant
from .config import ApiConfig, Endpoint, GatewayConfig
from .context import MessageContext
from .cors import is_preflight, set_cors_properties
from .endpoints import apply_endpoint_security, fill_uri_vars, select_member
from .errors import GatewayError
from .mediation.runner import mediate_request
from .resources import Resource
from .route import backend_path, backend_url
from .store import TokenStore
from .throttle import (
    CounterStore,
    InMemoryCounters,
    hard_limit_for,
    levels_for,
    throttle,
)

# Characters that would end a header line or the request line early.
_FORBIDDEN_IN_HEADER = re.compile(r"[\r\n\0]")

# The pass-through transport drops these request headers and writes its own; the
# user agent it sends is Synapse's (PassThroughTransportUtils, BaseConfiguration).
TRANSPORT_DROPPED = ("User-Agent", "Date", "Server")
TRANSPORT_USER_AGENT = "Synapse-PT-HttpComponents-NIO"

# The provider every API belongs to here, as WSO2's publisher names the admin user.
SYNAPSE_API_PREFIX = "admin"


@dataclass(slots=True)
class Runtime:
    """The state kept across requests: the options that shape behaviour, counters, signer."""

    profile: str = "4.x"
    keep_auth_header: bool = False
    backend_jwt: BackendJwtSigner | None = None
    counters: CounterStore = field(default_factory=InMemoryCounters)
    access_rates: AccessRateController = field(default_factory=AccessRateController)


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
    """The decisions of the pipeline for one request."""

    api: ApiConfig | None = None
    auth: AuthResult | None = None
    forward: Forward | None = None
    resource: Resource | None = None
    # The member of a load-balance or failover endpoint the request goes to first.
    member: int | None = None


class Preflight(Exception):
    """Raised for a CORS preflight, to which the gateway itself responds with 200."""


def process(
    config: GatewayConfig,
    store: TokenStore,
    ctx: MessageContext,
    path: str,
    outcome: Outcome,
    runtime: Runtime | None = None,
    *,
    dry_run: bool = False,
) -> Forward:
    """Run the request path for `ctx`, filling `outcome` as each stage decides.

    A dry run checks the throttling limits without counting the request.

    Returns the backend request, raises GatewayError carrying WSO2's response, raises
    Preflight when the gateway answers a CORS preflight itself, or raises Answered when
    the API's sequences answered the client themselves.
    """
    runtime = runtime or Runtime()
    ctx.properties["REST_FULL_REQUEST_PATH"] = path
    match = dispatch.select_api(config, path)
    if match is None:
        ctx.record("dispatch", f"no API matches {path}: 404")
        raise no_matching_api()
    api = match.api
    outcome.api = api
    _set_api_properties(ctx, api, path, match.postfix)
    alias = " (default version)" if match.default_version else ""
    ctx.record(
        "dispatch",
        f"API {api.label}{alias} (context {match.context}), postfix {match.postfix!r}",
    )

    edge.check_hop_by_hop(ctx, api)
    edge.check_repeated_credentials(ctx, api, match.postfix)

    resource = _elect_resource(config, ctx, api, match.postfix, runtime)
    outcome.resource = resource

    outcome.auth = authenticate(
        ctx,
        api,
        store,
        resource=resource,
        key_managers=config.key_managers,
        keep_auth_header=runtime.keep_auth_header,
        profile=runtime.profile,
    )
    _set_auth_properties(ctx, outcome.auth)
    if runtime.backend_jwt is not None and not outcome.auth.anonymous:
        header = config.backend_jwt.header
        ctx.headers.set(header, runtime.backend_jwt.sign(outcome.auth, api))
        ctx.record("auth", f"backend JWT added as {header}")

    _throttle(config, ctx, api, resource, outcome.auth, runtime, count=not dry_run)

    if api.in_sequence is not None:
        # Raises Answered when the sequence responds, drops, loops back or faults.
        mediate_request(ctx, api.in_sequence, config.sequences, api.fault_sequence, api.out_sequence)

    key_type = outcome.auth.record.key_type
    # A dry run leaves the round-robin index where it is.
    endpoint, outcome.member = select_member(ctx, api, key_type, advance=not dry_run)
    endpoint = fill_uri_vars(ctx, endpoint)
    apply_endpoint_security(ctx, api)
    forward = route(ctx, api, endpoint)
    outcome.forward = forward
    return forward


def _elect_resource(
    config: GatewayConfig,
    ctx: MessageContext,
    api: ApiConfig,
    postfix: str,
    runtime: Runtime,
) -> Resource:
    """The CORS handler's part: elect the resource, set CORS values, answer preflights.

    With CORS disabled the handler is not engaged, and in the 3.x profile the
    authentication handler's resource lookup answers a mismatch (900906) instead.
    """
    cors_handler = config.cors.enable
    elected = dispatch.elect_resource(ctx, api, postfix)
    if elected is None:
        answers_mismatch = cors_handler and runtime.profile != "3.x"
        error = dispatch.resource_mismatch(
            ctx, api, postfix, cors_handler=answers_mismatch
        )
        if isinstance(error, AuthFailure):
            error.describe_to(ctx)
        raise error
    resource = elected.resource
    ctx.properties["API_ELECTED_RESOURCE"] = resource.target
    ctx.properties["api.ut.resource"] = resource.target
    for name, value in elected.variables.items():
        ctx.properties[f"uri.var.{name}"] = value
    ctx.record("dispatch", f"resource {dispatch.describe_resource(resource)}")
    if cors_handler:
        set_cors_properties(ctx, api, resource, enabled=True)
        if is_preflight(ctx, resource):
            ctx.record(
                "cors", f"preflight for {resource.target} answered by the gateway: 200"
            )
            raise Preflight()
    return resource


def _throttle(
    config: GatewayConfig,
    ctx: MessageContext,
    api: ApiConfig,
    resource: Resource,
    auth: AuthResult,
    runtime: Runtime,
    *,
    count: bool = True,
) -> None:
    record = auth.record
    _check_blocking(config, ctx, auth)
    now = ctx.started
    levels = levels_for(
        config,
        api,
        resource,
        ctx.method,
        auth.throttle_id,
        auth.end_user,
        record.subscription_tier,
        record.application_tier,
        now,
        ctx,
    )
    throttle(
        ctx,
        runtime.counters,
        levels,
        now,
        count=count,
        rates=runtime.access_rates,
        hard_limit=hard_limit_for(api, record.key_type),
    )


def _check_blocking(
    config: GatewayConfig, ctx: MessageContext, auth: AuthResult
) -> None:
    """Raise the 403 of the first blocking condition the request matches."""
    if not config.blocking.active:
        return
    record = auth.record
    application = None
    if not auth.anonymous:
        application = f"{record.application_owner}:{record.application_name}"
    keys = BlockingKeys(
        api_context=str(ctx.properties.get("REST_API_CONTEXT", "")),
        application=application,
        user=with_tenant(auth.end_user or record.application_owner),
        client_ip=unmapped(client_address(ctx)),
    )
    condition = config.blocking.match(keys)
    if condition is not None:
        raise blocked(ctx, condition, keys)


def _set_api_properties(
    ctx: MessageContext, api: ApiConfig, path: str, postfix: str
) -> None:
    # WSO2 4.x deploys an API under the provider-prefixed Synapse name, e.g.
    # admin--TestCustomHeader:v1.0.0; api.ut.api_version is that name without the prefix.
    ctx.properties["SYNAPSE_REST_API"] = f"{SYNAPSE_API_PREFIX}--{api.label}"
    ctx.properties["api.ut.api_version"] = api.label
    ctx.properties["api.ut.api"] = api.name
    ctx.properties["api.ut.version"] = api.version
    ctx.properties["api.ut.context"] = api.full_context
    ctx.properties["SYNAPSE_REST_API_VERSION"] = api.version
    ctx.properties["REST_API_CONTEXT"] = api.full_context
    ctx.properties["REST_FULL_REQUEST_PATH"] = path
    ctx.properties["REST_SUB_REQUEST_PATH"] = dispatch.sub_path(postfix).partition("?")[
        0
    ]
    ctx.properties["REST_METHOD"] = ctx.method
    ctx.axis2["REST_URL_POSTFIX"] = postfix


def _set_auth_properties(ctx: MessageContext, auth: AuthResult) -> None:
    record = auth.record
    ctx.properties["AM_KEY_TYPE"] = record.key_type
    ctx.properties["api.ut.application.name"] = record.application_name
    ctx.properties["api.ut.application.id"] = str(record.application_id)
    # WSO2 sets the authentication context's user name: the end user of the token.
    ctx.properties["api.ut.userId"] = auth.end_user or record.application_owner
    if auth.consumer_key:
        ctx.properties["api.ut.consumerKey"] = auth.consumer_key


def route(
    ctx: MessageContext, api: ApiConfig, endpoint: Endpoint | None = None
) -> Forward:
    """Build the backend request from the endpoint and what mediation left."""
    postfix = ctx.axis2.get("REST_URL_POSTFIX")
    method = ctx.axis2.get("HTTP_METHOD") or "POST"
    if not isinstance(postfix, str):
        postfix = None
    if postfix is not None and any(c in postfix for c in ("\r", "\n", "\0", " ", "#")):
        ctx.record(
            "route", "REST_URL_POSTFIX holds a space, '#', CR, LF or NUL: not sent"
        )
        raise GatewayError(
            "0",
            "Runtime Error",
            "REST_URL_POSTFIX contains characters that cannot be sent",
            500,
            handler="fault",
        )
    check_headers(ctx)
    endpoint = endpoint or api.endpoint
    assert endpoint is not None
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
        if isinstance(value, str) and _FORBIDDEN_IN_HEADER.search(value):
            ctx.record("route", f"header {name} holds CR, LF or NUL: not sent")
            raise GatewayError(
                "0",
                "Runtime Error",
                f"Header {name} contains a line break or NUL character and cannot be sent",
                500,
                handler="fault",
            )
