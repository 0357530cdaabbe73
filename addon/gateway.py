"""The mitmproxy addon: the one place that knows mitmproxy's hooks.

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

from . import edge, pipeline
from .answer import error_response, internal_error, preflight_response
from .backend_jwt import BackendJwtSigner
from .config import GatewayConfig, default_database, load_config
from .context import MessageContext
from .cors import apply_cors_sequence
from .errors import ConfigError, GatewayError
from .headers import TransportHeaders
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
PROFILES = ("4.x", "3.x")


class Gateway:
    """WSO2 API Manager's gateway, on one machine, as a mitmproxy addon."""

    def __init__(self) -> None:
        self.config: GatewayConfig | None = None
        self.store: TokenStore | None = None
        self.runtime = pipeline.Runtime()

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
        if not updated.intersection(OPTIONS):
            return
        options = mitmproxy_ctx.options
        config_path = Path(options.gateway_config)
        sequences = Path(options.gateway_sequences) if options.gateway_sequences else None
        db_path = Path(options.gateway_db) if options.gateway_db else default_database(config_path)
        try:
            if options.gateway_wso2_version not in PROFILES:
                raise ConfigError(
                    f"option gateway_wso2_version is {options.gateway_wso2_version!r}; "
                    f"accepted: {', '.join(PROFILES)}"
                )
            config = load_config(config_path, sequences)
            signer = BackendJwtSigner(config.backend_jwt) if options.gateway_backend_jwt else None
            store = TokenStore(db_path)
        except (ConfigError, StoreError) as e:
            if self.config is None:
                # At startup, one error line is enough: mitmdump exits after startup
                # when an error was logged, and raising here would add a traceback.
                # Until then the gateway has no config and answers every request 500.
                logger.error("gateway: %s", e)
                return
            raise exceptions.OptionsError(f"gateway: {e}") from None
        if self.store is not None:
            self.store.close()
        self.config = config
        self.store = store
        self.runtime = pipeline.Runtime(
            profile=options.gateway_wso2_version,
            keep_auth_header=options.gateway_outbound_auth_header,
            backend_jwt=signer,
            counters=self.runtime.counters,
        )
        logger.info("gateway: loaded %s", config.describe())
        logger.info(
            "gateway: options gateway_config=%s gateway_sequences=%s gateway_db=%s "
            "gateway_wso2_version=%s gateway_backend_jwt=%s gateway_outbound_auth_header=%s",
            config_path,
            config.sequences_folder,
            db_path,
            self.runtime.profile,
            signer is not None,
            self.runtime.keep_auth_header,
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
            logger.exception("gateway: unexpected error on flow %s; answered 500", flow.id)
            error = internal_error(flow.id)
        else:
            return
        flow.metadata[METADATA_KEY] = {
            "outcome": "rejected-at-edge", "code": error.code, "path": flow.request.path
        }
        # The offending headers are not echoed: they may be huge or hold control bytes.
        flow.response = error_response(
            TransportHeaders(),
            error,
            method=flow.request.method,
            profile=self.runtime.profile,
        )

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.error is not None or not flow.live:
            return
        try:
            self._handle(flow)
        except Exception:
            logger.exception("gateway: unexpected error on flow %s; answered 500", flow.id)
            state = flow.metadata.setdefault(METADATA_KEY, {})
            state["outcome"] = "internal-error"
            flow.response = error_response(
                TransportHeaders.from_fields(flow.request.headers.fields),
                internal_error(flow.id),
            )

    def _handle(self, flow: http.HTTPFlow) -> None:
        request = flow.request
        headers = TransportHeaders.from_fields(request.headers.fields)
        ctx = MessageContext(headers=headers, method=request.method, to=request.path)
        state: dict[str, Any] = {"outcome": "internal-error", "path": request.path}
        flow.metadata[METADATA_KEY] = state
        if self.config is None or self.store is None:
            raise RuntimeError("the gateway has no valid configuration loaded")
        config = self.config
        state["config_generation"] = config.generation
        state["correlation"] = _correlate(ctx, config)
        if flow.client_conn.peername:
            ctx.properties["REMOTE_ADDR"] = flow.client_conn.peername[0]
        outcome = pipeline.Outcome()
        try:
            if len(request.raw_content or b"") > config.limits.max_body_bytes:
                raise edge.body_too_large(config.limits)
            forward = pipeline.process(
                config, self.store, ctx, request.path, outcome, self.runtime
            )
        except pipeline.Preflight:
            _describe(state, ctx, outcome)
            state["outcome"] = "preflight"
            flow.response = preflight_response(headers, ctx.properties)
            return
        except GatewayError as e:
            _describe(state, ctx, outcome)
            state["outcome"] = "rejected" if e.handler == "_auth_failure_handler_" else "fault"
            if e.handler == "main":
                state["outcome"] = "no-api"
            if e.handler == "_throttle_out_handler_":
                state["outcome"] = "throttled"
            state["code"] = e.code
            flow.response = error_response(
                headers, e, properties=ctx.properties, method=ctx.method,
                profile=self.runtime.profile,
            )
            return

        _describe(state, ctx, outcome)
        state["outcome"] = "forwarded"
        state["backend"] = forward.url
        state["cors"] = {k: v for k, v in ctx.properties.items() if "Access-Control" in k or k.startswith("CORS")}
        request.headers = http.Headers(ctx.headers.to_fields())
        request.method = forward.method
        request.scheme = forward.scheme
        request.host = forward.host
        request.port = forward.port
        request.path = forward.path

    def response(self, flow: http.HTTPFlow) -> None:
        state = flow.metadata.get(METADATA_KEY)
        if state is None or flow.response is None:
            return
        if state.get("outcome") == "forwarded":
            # On the way back: the CORS sequence, then the correlation id.
            apply_cors_sequence(state.get("cors", {}), flow.response.headers, flow.request.method)
        correlation = state.get("correlation")
        if correlation and self.config is not None:
            flow.response.headers[self.config.correlation.header] = correlation
        _log_request(flow, state, flow.response.status_code)

    def error(self, flow: http.HTTPFlow) -> None:
        state = flow.metadata.get(METADATA_KEY)
        if state is None:
            return
        state["outcome"] = "backend-failure"
        state["error"] = flow.error.msg if flow.error else ""
        _log_request(flow, state, 502)


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


def _describe(state: dict[str, Any], ctx: MessageContext, outcome: pipeline.Outcome) -> None:
    if outcome.api is not None:
        state["api"] = outcome.api.label
    fingerprint = ctx.properties.get("gateway.token_fingerprint")
    if fingerprint:
        state["token"] = fingerprint
    if outcome.auth is not None:
        record = outcome.auth.record
        state["application"] = record.application_name
        state["key_type"] = record.key_type
        state["tier"] = record.subscription_tier
    state["trace"] = [step.as_dict() for step in ctx.trace]


def _log_request(flow: http.HTTPFlow, state: dict[str, Any], status: int) -> None:
    logger.info(
        "gateway: %s %s api=%s app=%s token=%s outcome=%s%s status=%s",
        flow.request.method,
        state.get("path", flow.request.path),
        state.get("api", "-"),
        state.get("application", "-"),
        state.get("token", "-"),
        state.get("outcome", "-"),
        f" code={state['code']}" if "code" in state else "",
        status,
    )
