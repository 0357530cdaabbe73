"""The mitmproxy addon: the only module that implements mitmproxy's hooks.

It loads the configuration and the application store when its options change, turns
each flow into a message context, runs the pipeline, and then either points the flow
at the backend or answers it locally.

mitmproxy logs an exception raised inside a hook and then forwards the flow as it was,
client token and all. So `request` catches every exception and answers 500 itself:
after an error nothing is forwarded.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from mitmproxy import ctx as mitmproxy_ctx
from mitmproxy import exceptions, http
from mitmproxy.net.http import url

from . import edge, outcomes, pipeline, tracing
from .answer import error_response, internal_error, preflight_response, to_http
from .backend_check import BackendCheck
from .backend_digest import BackendDigest
from .backend_jwt import BackendJwtSigner
from .backend_token import BackendToken
from .config import GatewayConfig, default_database, load_config
from .context import MessageContext
from .cors import apply_cors_sequence
from .errors import ConfigError, GatewayError
from .headers import TransportHeaders
from .mediation.payload import Payload
from .mediation.runner import Answered
from .mediation.transport import RequestChanges, request_changes
from .mediation_flow import FlowContexts, format_trace, mediate_backend_response
from .query_masking import mask_query_credentials
from .reload import Snapshot, snapshot_sources
from .replay import RecentRequests
from .store import StoreError, TokenStore

logger = logging.getLogger(__name__)

OPTIONS = (
    "gateway_config",
    "gateway_sequences",
    "gateway_db",
    "gateway_wso2_version",
    "gateway_backend_jwt",
    "gateway_outbound_auth_header",
)
METADATA_KEY = "gateway"

_TRANSPORT_DROPPED_KEYS = frozenset(name.lower() for name in pipeline.TRANSPORT_DROPPED)
PROFILES = ("4.x", "3.x")


class Gateway:
    """WSO2 API Manager's gateway, on one machine, as a mitmproxy addon."""

    def __init__(self) -> None:
        self.config: GatewayConfig | None = None
        self.store: TokenStore | None = None
        # The files the config is loaded from, as the options name them. The sequences
        # folder is None when it is the default one beside the config file.
        self.config_path: Path | None = None
        self.sequences_option: Path | None = None
        # The state of those files just before the config in force was read from them.
        self.sources: Snapshot = {}
        self.recent_requests = RecentRequests()
        self.runtime = pipeline.Runtime()
        # The message context of each forwarded flow, for its response and failures.
        self.flows = FlowContexts()
        # Sub-addons, run in this order after `request`. BackendToken sets the backend's
        # OAuth token (endpoint security oauth). BackendCheck walks load-balanced and
        # failover members and sends WSO2's 101503 fault when none is reachable.
        # BackendDigest responds to the backend's digest challenge.
        self.addons = [BackendToken(self), BackendCheck(self), BackendDigest(self)]

    def load(self, loader: Any) -> None:
        loader.add_option(
            "gateway_config",
            str,
            "gateway.yaml",
            "The gateway's YAML file of APIs, relative to the working directory.",
        )
        loader.add_option(
            "gateway_sequences",
            str,
            "",
            "Folder of Synapse sequence files. Default: 'sequences' beside the config file.",
        )
        loader.add_option(
            "gateway_db",
            str,
            "",
            "SQLite file of applications, subscriptions and token hashes. "
            "Default: 'gateway.db' beside the config file.",
        )
        loader.add_option(
            "gateway_wso2_version",
            str,
            "4.x",
            "Error profile: '4.x' (flat JSON, 404/405 for resource mismatch) or '3.x' "
            "(XML ams:fault bodies, JSON only when Accept asks, 900906 for mismatch).",
        )
        loader.add_option(
            "gateway_backend_jwt",
            bool,
            False,
            "Add the backend JWT (X-JWT-Assertion, WSO2's [apim.jwt] enable), signed "
            "with the key of the config's backend_jwt section.",
        )
        loader.add_option(
            "gateway_outbound_auth_header",
            bool,
            False,
            "Keep the token in the Authorization header towards the backend "
            "(WSO2's [apim.oauth_config] enable_outbound_auth_header).",
        )

    def configure(self, updated: set[str]) -> None:
        if not any(option in updated for option in OPTIONS):
            return
        options = mitmproxy_ctx.options
        config_path = Path(options.gateway_config)
        sequences = Path(options.gateway_sequences) if options.gateway_sequences else None
        db_path = Path(options.gateway_db) if options.gateway_db else default_database(config_path)
        sources = snapshot_sources(config_path, sequences)

        try:
            if options.gateway_wso2_version not in PROFILES:
                raise ConfigError(
                    f"option gateway_wso2_version is {options.gateway_wso2_version!r}; "
                    f"accepted: {', '.join(PROFILES)}"
                )
            config = load_config(config_path, sequences)
            runtime = self._runtime(config)
            store = TokenStore(db_path)
        except (ConfigError, StoreError) as e:
            if self.config is None:
                # At startup, one error line is enough: mitmdump exits after startup
                # when an error was logged, and raising here would add a traceback.
                # Until then the gateway has no config and responds 500 to every request.
                logger.error("gateway: %s", e)
                self.config_path, self.sequences_option = config_path, sequences
                return
            raise exceptions.OptionsError(f"gateway: {e}") from None
        if self.store is not None:
            self.store.close()
        self.config = config
        self.store = store
        self.runtime = runtime
        self.config_path, self.sequences_option = config_path, sequences
        self.sources = sources
        logger.info("gateway: loaded %s", config.describe())
        logger.info(
            "gateway: options gateway_config=%s gateway_sequences=%s gateway_db=%s "
            "gateway_wso2_version=%s gateway_backend_jwt=%s gateway_outbound_auth_header=%s",
            config_path,
            config.sequences_folder,
            db_path,
            runtime.profile,
            runtime.backend_jwt is not None,
            runtime.keep_auth_header,
        )

    def _runtime(self, config: GatewayConfig) -> pipeline.Runtime:
        """Build the per-config request-path settings; throttle counters carry over."""
        options = mitmproxy_ctx.options
        signer = BackendJwtSigner(config.backend_jwt) if options.gateway_backend_jwt else None
        return pipeline.Runtime(
            profile=options.gateway_wso2_version,
            keep_auth_header=options.gateway_outbound_auth_header,
            backend_jwt=signer,
            counters=self.runtime.counters,
            access_rates=self.runtime.access_rates,
        )

    def reload(self) -> GatewayConfig:
        """Build the config again from its files and put it in force in one assignment.

        Raises ConfigError, leaving the config in force as it was, when the files are
        invalid. A request already in the pipeline keeps the snapshot it started with.
        """
        if self.config_path is None:
            raise ConfigError(
                "no config file is set", hint="set the gateway_config option"
            )
        sources = snapshot_sources(self.config_path, self.sequences_option)
        config = load_config(self.config_path, self.sequences_option)
        runtime = self._runtime(config)
        self.config, self.runtime = config, runtime
        self.sources = sources
        return config

    def running(self) -> None:
        # mitmproxy's reverse mode replaces the client's Host with the reverse target
        # before any hook runs. On WSO2 a sequence sees the client's Host ($trp:Host),
        # which is replaced only on the way to the backend (point_at_backend does that).
        options = mitmproxy_ctx.options
        if not options.keep_host_header:
            options.update(keep_host_header=True)
            logger.info(
                "gateway: set keep_host_header=true, so that sequences see the client's "
                "Host header, as on WSO2"
            )

    def done(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Judge the request line and headers before mitmproxy reads the body."""
        if flow.response is not None or flow.error is not None or not flow.live:
            return
        config = self.config
        if config is None:
            return
        try:
            edge.check_path(flow.request.path)
            edge.check_headers(flow.request.headers.fields, config.limits)
            edge.check_declared_body(flow.request.headers.get("Content-Length"), config.limits)
        except GatewayError as e:
            error = e
        except Exception:
            logger.exception("gateway: unexpected error on flow %s; responded 500", flow.id)
            error = internal_error(flow.id)
        else:
            return
        state = {
            "outcome": outcomes.REJECTED_AT_EDGE,
            "code": error.code,
            "message": error.message,
            "status": error.status,
            "method": flow.request.method,
            "path": mask_query_credentials(flow.request.path),
        }
        flow.metadata[METADATA_KEY] = state
        # The offending headers are not echoed: they may be huge or hold control bytes.
        flow.response = error_response(
            TransportHeaders(),
            error,
            method=flow.request.method,
            profile=self.runtime.profile,
        )
        tracing.annotate(flow, state)

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.error is not None or not flow.live:
            return
        state = flow.metadata.get(METADATA_KEY)
        if flow.is_replay == "request" and state is not None and "backend" in state:
            # mitmproxy replays the request stored in the flow, which the gateway has
            # already turned into the backend's request: it goes to the backend as is.
            state.setdefault("trace", []).append(
                {"stage": "replay", "summary": "replayed as stored, without the gateway"}
            )
            return
        try:
            self._handle(flow)
        except Exception:
            logger.exception("gateway: unexpected error on flow %s; responded 500", flow.id)
            state = flow.metadata.setdefault(METADATA_KEY, {})
            state["outcome"] = outcomes.INTERNAL_ERROR
            flow.response = error_response(
                TransportHeaders.from_fields(flow.request.headers.fields),
                internal_error(flow.id),
                sequences=self.config.sequences if self.config else None,
                profile=self.runtime.profile,
            )
            tracing.annotate(flow, state)

    def _handle(self, flow: http.HTTPFlow) -> None:
        request = flow.request
        self.recent_requests.remember(flow.id, request)
        state: dict[str, Any] = {
            "outcome": outcomes.INTERNAL_ERROR,
            "method": request.method,
            "path": mask_query_credentials(request.path),
        }
        flow.metadata[METADATA_KEY] = state
        peer = flow.client_conn.peername
        answer = self.run(
            request, state, client_address=peer[0] if peer else None, flow_id=flow.id
        )
        if answer is not None:
            flow.response = answer
        tracing.annotate(flow, state)

    def run(
        self,
        request: http.Request,
        state: dict[str, Any],
        client_address: str | None = None,
        flow_id: str | None = None,
        *,
        dry_run: bool = False,
    ) -> http.Response | None:
        """Run the request path on `request` and record what happened in `state`.

        Returns the local error response when the gateway rejects the request. Otherwise
        it points `request` at the backend, as mediation left it, and returns None. The
        dry-run command calls this on a copy of a flow's client request with `dry_run`
        set, so that the request is not counted against any throttling limit.
        """
        client_fields = request.headers.fields
        path = request.path
        # The path as the client sent it: its query may hold credentials to blank out.
        client_targets = (path,)
        headers = TransportHeaders.from_fields(client_fields)
        ctx = MessageContext(headers=headers, method=request.method, to=path)
        content_type = headers.joined("content-type")
        ctx.payload = Payload(_request_body(request, headers), content_type)
        # One config for the whole request, even if a reload swaps it meanwhile.
        config, store, runtime = self.config, self.store, self.runtime
        if config is None or store is None:
            raise RuntimeError("the gateway has no valid configuration loaded")
        state["config_generation"] = config.generation
        state["correlation"] = _correlate(ctx, config)
        if client_address:
            ctx.properties["REMOTE_ADDR"] = client_address
        outcome = pipeline.Outcome()
        try:
            if len(request.raw_content or b"") > config.limits.max_body_bytes:
                raise edge.body_too_large(config.limits)
            forward = pipeline.process(
                config, store, ctx, path, outcome, runtime, dry_run=dry_run
            )
        except pipeline.Preflight:
            tracing.describe(state, ctx, outcome, tracing.secret_values(client_fields, targets=client_targets))
            state["outcome"] = outcomes.PREFLIGHT
            state["status"] = 200
            return preflight_response(headers, ctx.properties)
        except GatewayError as e:
            tracing.describe(state, ctx, outcome, tracing.secret_values(client_fields, targets=client_targets))
            state["outcome"] = outcomes.outcome_of_handler(e.handler)
            state["code"] = e.code
            state["message"] = e.message
            state["status"] = e.status
            return error_response(
                headers,
                e,
                ctx=ctx,
                sequences=config.sequences,
                profile=runtime.profile,
                fault_sequence=outcome.api.fault_sequence if outcome.api else None,
            )
        except Answered as e:
            tracing.describe(state, ctx, outcome, tracing.secret_values(client_fields, targets=client_targets))
            state["outcome"] = e.response.outcome
            state["status"] = e.response.status
            return to_http(e.response)
        except Exception:
            # Keep the steps up to the failure for the trace. The request hook responds 500.
            tracing.describe(state, ctx, outcome, tracing.secret_values(client_fields, targets=client_targets))
            raise

        changes = request_changes(ctx, forward.method)
        point_at_backend(request, ctx.headers, forward)
        _apply_changes(request, changes)
        if flow_id is not None and outcome.api is not None:
            self.flows.put(flow_id, ctx, outcome.api)
        backend_fields = request.headers.fields
        secrets = tracing.secret_values(
            client_fields, backend_fields, targets=client_targets
        )
        tracing.describe(state, ctx, outcome, secrets)
        tracing.remember_steps(
            ctx, state["trace"], (client_fields, backend_fields), client_targets
        )
        state["outcome"] = outcomes.FORWARDED
        state["backend"] = mask_query_credentials(forward.url)
        state["backend_method"] = forward.method
        if outcome.member is not None:
            state["endpoint_member"] = outcome.member
        state["headers"] = tracing.header_diff(client_fields, backend_fields)
        state["cors"] = {
            k: v
            for k, v in ctx.properties.items()
            if "Access-Control" in k or k.startswith("CORS")
        }
        return None

    def response(self, flow: http.HTTPFlow) -> None:
        state = flow.metadata.get(METADATA_KEY)
        if state is None or flow.response is None:
            return
        stored = self.flows.pop(flow.id)
        if stored is not None and self.config is not None:
            self._mediate_response(flow, state, stored)
            if flow.response is None:
                return
        if state.get("outcome") == outcomes.FORWARDED:
            # On the way back: the CORS sequence, then the correlation id.
            apply_cors_sequence(state.get("cors", {}), flow.response.headers, flow.request.method)
        correlation = state.get("correlation")
        if correlation and self.config is not None:
            flow.response.headers[self.config.correlation.header] = correlation
        state["status"] = flow.response.status_code
        tracing.annotate(flow, state)
        _log_request(flow, state, flow.response.status_code)

    def _mediate_response(
        self, flow: http.HTTPFlow, state: dict[str, Any], stored: tuple[Any, Any]
    ) -> None:
        """Run the API's out-sequence on the backend's response; respond 500 if it fails."""
        assert self.config is not None
        ctx, _ = stored
        try:
            mediate_backend_response(flow, state, *stored, self.config.sequences)
        except Exception:
            logger.exception("gateway: out-sequence failed on flow %s; responded 500", flow.id)
            state["outcome"] = outcomes.INTERNAL_ERROR
            flow.response = error_response(
                TransportHeaders.from_fields(flow.request.headers.fields),
                internal_error(flow.id),
                sequences=self.config.sequences,
            )
        client_fields, targets = tracing.client_side(
            ctx, self.recent_requests.get(flow.id)
        )
        state["trace"] = tracing.redacted_steps(
            ctx, (client_fields, flow.request.headers.fields), targets
        )

    def error(self, flow: http.HTTPFlow) -> None:
        state = flow.metadata.get(METADATA_KEY)
        if state is None:
            return
        self.flows.pop(flow.id)
        state["outcome"] = outcomes.BACKEND_FAILURE
        state["error"] = flow.error.msg if flow.error else ""
        tracing.annotate(flow, state)
        _log_request(flow, state, 502)


def point_at_backend(
    request: http.Request, headers: TransportHeaders, forward: pipeline.Forward
) -> None:
    """Rewrite `request` into the backend request in one pass.

    Synapse replaces Host with the backend's host and port, and its transport drops
    User-Agent, Date and Server and sends its own User-Agent. The scheme, host and port
    are written to `request.data` directly: the public setters would each rewrite the
    Host header again, which costs more than the whole token lookup.

    mitmproxy sends an HTTP/1 request with an authority in absolute form
    (`GET http://host:port/path`), and a client may have sent one so. WSO2 sends the
    backend the origin form (`GET /path`), so for HTTP/1 the authority is cleared. An
    HTTP/2 or HTTP/3 request carries it as `:authority`: there it names the backend.
    """
    hostport = url.hostport(forward.scheme, forward.host, forward.port)
    # The transport's own changes go on a new field list: the message context keeps
    # the client's headers, which a fault sequence still echoes after this point, as
    # on WSO2.
    fields = headers.to_fields_replacing(
        _TRANSPORT_DROPPED_KEYS,
        {"host": hostport},
        ("User-Agent", pipeline.TRANSPORT_USER_AGENT),
    )
    # The fields are bytes pairs already, so they replace the request's own without
    # the checks and copies of a new http.Headers. The client's field tuple, which
    # the trace and the dry run keep, is not changed: a new tuple replaces it.
    request.headers.fields = tuple(fields)
    request.method = forward.method
    data = request.data
    data.scheme = forward.scheme.encode("ascii")
    data.host = forward.host
    data.port = forward.port
    if request.http_version.startswith("HTTP/1"):
        data.authority = b""
    else:
        data.authority = hostport.encode("ascii")
    request.path = forward.path


def _correlate(ctx: MessageContext, config: GatewayConfig) -> str:
    """Strip gateway-owned client headers and set the correlation id (Synapse's activityid).

    The client's own id is kept when the config accepts it; otherwise a UUID is made.
    """
    settings = config.correlation
    edge.strip_owned_headers(
        ctx, config.backend_jwt.header, settings.header, settings.accept_from_client
    )
    value = ctx.headers.get(settings.header)
    if not isinstance(value, str) or not value:
        value = str(uuid.uuid4())
        ctx.headers.set(settings.header, value)
    return value


def _request_body(request: http.Request, headers: TransportHeaders) -> bytes:
    """Return the request body, decoded when the client's `headers` name an encoding."""
    if headers.joined("content-encoding"):
        return request.get_content(strict=False) or b""
    return request.raw_content or b""


def _apply_changes(request: http.Request, changes: RequestChanges) -> None:
    """Apply what mediation changed beyond the headers: the body, framing and Host."""
    raw_content = request.raw_content
    if changes.body is not None and changes.body != (raw_content or b""):
        if changes.content_type:
            request.headers["Content-Type"] = changes.content_type
        request.content = changes.body
    elif (
        changes.body == b""
        and not raw_content
        and _has_header(request, b"content-type")
    ):
        del request.headers["content-type"]
    if changes.unchunked and "transfer-encoding" in request.headers:
        del request.headers["transfer-encoding"]
        request.headers["Content-Length"] = str(len(request.raw_content or b""))
    if changes.host is not None:
        request.headers["Host"] = changes.host


def _has_header(request: http.Request, lower_name: bytes) -> bool:
    # mitmproxy also compares names as lower-cased bytes, but its `in` builds a list.
    for name, _ in request.headers.fields:
        if name.lower() == lower_name:
            return True
    return False


def _log_request(flow: http.HTTPFlow, state: dict[str, Any], status: int) -> None:
    if logger.isEnabledFor(logging.DEBUG) and state.get("trace"):
        logger.debug("gateway: trace of flow %s\n%s", flow.id, format_trace(state["trace"]))
    logger.info(
        "gateway: %s %s api=%s app=%s token=%s outcome=%s%s status=%s config=%s",
        flow.request.method,
        state.get("path") or mask_query_credentials(flow.request.path),
        state.get("api", "-"),
        state.get("application", "-"),
        state.get("token", "-"),
        state.get("outcome", "-"),
        f" code={state['code']}" if "code" in state else "",
        status,
        state.get("config_generation", "-"),
    )
