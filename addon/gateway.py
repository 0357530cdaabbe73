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
from pathlib import Path
from typing import Any

from mitmproxy import ctx as mitmproxy_ctx
from mitmproxy import exceptions, http

from . import pipeline
from .answer import error_response, internal_error, to_http
from .backend_check import BackendCheck
from .config import GatewayConfig, default_database, load_config
from .context import MessageContext
from .errors import ConfigError, GatewayError
from .headers import TransportHeaders
from .mediation.payload import Payload
from .mediation.runner import Answered
from .mediation.transport import RequestChanges, request_changes
from .mediation_flow import FlowContexts, format_trace, mediate_backend_response
from .store import StoreError, TokenStore

logger = logging.getLogger(__name__)

OPTIONS = ("gateway_config", "gateway_sequences", "gateway_db")
METADATA_KEY = "gateway"


class Gateway:
    """WSO2 API Manager's gateway, on one machine, as a mitmproxy addon."""

    def __init__(self) -> None:
        self.config: GatewayConfig | None = None
        self.store: TokenStore | None = None
        # The message context of each forwarded flow, for its response and failures.
        self.flows = FlowContexts()
        # Sub-addon: answers WSO2's 101503 fault when the backend is unreachable.
        self.addons = [BackendCheck(self)]

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

    def configure(self, updated: set[str]) -> None:
        if not updated.intersection(OPTIONS):
            return
        options = mitmproxy_ctx.options
        config_path = Path(options.gateway_config)
        sequences = Path(options.gateway_sequences) if options.gateway_sequences else None
        db_path = Path(options.gateway_db) if options.gateway_db else default_database(config_path)
        try:
            config = load_config(config_path, sequences)
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
        logger.info("gateway: loaded %s", config.describe())
        logger.info(
            "gateway: options gateway_config=%s gateway_sequences=%s gateway_db=%s",
            config_path,
            config.sequences_folder,
            db_path,
        )

    def done(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

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
                sequences=self.config.sequences if self.config else None,
            )

    def _handle(self, flow: http.HTTPFlow) -> None:
        request = flow.request
        headers = TransportHeaders.from_fields(request.headers.fields)
        ctx = MessageContext(headers=headers, method=request.method, to=request.path)
        ctx.payload = Payload(_request_body(request), request.headers.get("content-type"))
        state: dict[str, Any] = {"outcome": "internal-error", "path": request.path}
        flow.metadata[METADATA_KEY] = state
        if self.config is None or self.store is None:
            raise RuntimeError("the gateway has no valid configuration loaded")
        state["config_generation"] = self.config.generation
        outcome = pipeline.Outcome()
        try:
            forward = pipeline.process(self.config, self.store, ctx, request.path, outcome)
        except GatewayError as e:
            _describe(state, ctx, outcome)
            state["outcome"] = "rejected" if e.handler == "_auth_failure_handler_" else "fault"
            if e.handler == "main":
                state["outcome"] = "no-api"
            state["code"] = e.code
            flow.response = error_response(headers, e, ctx=ctx, sequences=self.config.sequences)
            return
        except Answered as e:
            _describe(state, ctx, outcome)
            state["outcome"] = e.response.outcome
            flow.response = to_http(e.response)
            return

        _describe(state, ctx, outcome)
        state["outcome"] = "forwarded"
        state["backend"] = forward.url
        changes = request_changes(ctx, forward.method)
        request.headers = http.Headers(ctx.headers.to_fields())
        request.method = forward.method
        request.scheme = forward.scheme
        request.host = forward.host
        request.port = forward.port
        request.path = forward.path
        _apply_changes(request, changes)
        if outcome.api is not None:
            self.flows.put(flow.id, ctx, outcome.api)

    def response(self, flow: http.HTTPFlow) -> None:
        state = flow.metadata.get(METADATA_KEY)
        if state is None or flow.response is None:
            return
        stored = self.flows.pop(flow.id)
        if stored is not None and self.config is not None:
            try:
                mediate_backend_response(flow, state, *stored, self.config.sequences)
            except Exception:
                logger.exception("gateway: out-sequence failed on flow %s; answered 500", flow.id)
                state["outcome"] = "internal-error"
                flow.response = error_response(
                    TransportHeaders.from_fields(flow.request.headers.fields),
                    internal_error(flow.id),
                    sequences=self.config.sequences,
                )
            if flow.response is None:
                return
        _log_request(flow, state, flow.response.status_code)

    def error(self, flow: http.HTTPFlow) -> None:
        state = flow.metadata.get(METADATA_KEY)
        if state is None:
            return
        self.flows.pop(flow.id)
        state["outcome"] = "backend-failure"
        state["error"] = flow.error.msg if flow.error else ""
        _log_request(flow, state, 502)


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


def _request_body(request: http.Request) -> bytes:
    if request.headers.get("content-encoding"):
        return request.get_content(strict=False) or b""
    return request.raw_content or b""


def _apply_changes(request: http.Request, changes: RequestChanges) -> None:
    if changes.body is not None and changes.body != (request.raw_content or b""):
        if changes.content_type:
            request.headers["Content-Type"] = changes.content_type
        request.content = changes.body
    elif changes.body == b"" and "content-type" in request.headers and not request.raw_content:
        del request.headers["content-type"]
    if changes.unchunked and "transfer-encoding" in request.headers:
        del request.headers["transfer-encoding"]
        request.headers["Content-Length"] = str(len(request.raw_content or b""))
    if changes.host is not None:
        request.headers["Host"] = changes.host


def _log_request(flow: http.HTTPFlow, state: dict[str, Any], status: int) -> None:
    if logger.isEnabledFor(logging.DEBUG) and state.get("trace"):
        logger.debug("gateway: trace of flow %s\n%s", flow.id, format_trace(state["trace"]))
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
