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
from pathlib import Path
from typing import Any

from mitmproxy import ctx as mitmproxy_ctx
from mitmproxy import exceptions, http
from mitmproxy.net.http import url

from . import outcomes, pipeline, tracing
from .answer import error_response, internal_error
from .config import GatewayConfig, default_database, load_config
from .context import MessageContext
from .errors import ConfigError, GatewayError
from .headers import TransportHeaders
from .reload import Snapshot, snapshot_sources
from .replay import RecentRequests
from .store import StoreError, TokenStore

logger = logging.getLogger(__name__)

OPTIONS = ("gateway_config", "gateway_sequences", "gateway_db")
METADATA_KEY = "gateway"


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
        if not any(option in updated for option in OPTIONS):
            return
        options = mitmproxy_ctx.options
        config_path = Path(options.gateway_config)
        sequences = Path(options.gateway_sequences) if options.gateway_sequences else None
        db_path = Path(options.gateway_db) if options.gateway_db else default_database(config_path)
        sources = snapshot_sources(config_path, sequences)

        try:
            config = load_config(config_path, sequences)
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
        self.config_path, self.sequences_option = config_path, sequences
        self.sources = sources
        logger.info("gateway: loaded %s", config.describe())
        logger.info(
            "gateway: options gateway_config=%s gateway_sequences=%s gateway_db=%s",
            config_path,
            config.sequences_folder,
            db_path,
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
        self.config = config
        self.sources = sources
        return config

    def done(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

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
            )
            tracing.annotate(flow, state)

    def _handle(self, flow: http.HTTPFlow) -> None:
        request = flow.request
        self.recent_requests.remember(flow.id, request)
        state: dict[str, Any] = {
            "outcome": outcomes.INTERNAL_ERROR,
            "method": request.method,
            "path": request.path,
        }
        flow.metadata[METADATA_KEY] = state
        answer = self.run(request, state)
        if answer is not None:
            flow.response = answer
        tracing.annotate(flow, state)

    def run(self, request: http.Request, state: dict[str, Any]) -> http.Response | None:
        """Run the request path on `request` and record what happened in `state`.

        Returns the local error response when the gateway rejects the request. Otherwise
        it points `request` at the backend, as mediation left it, and returns None. The
        dry-run command calls this on a copy of a flow's client request.
        """
        client_fields = request.headers.fields
        headers = TransportHeaders.from_fields(client_fields)
        ctx = MessageContext(headers=headers, method=request.method, to=request.path)
        # One config for the whole request, even if a reload swaps it meanwhile.
        config, store = self.config, self.store
        if config is None or store is None:
            raise RuntimeError("the gateway has no valid configuration loaded")
        state["config_generation"] = config.generation
        outcome = pipeline.Outcome()
        try:
            forward = pipeline.process(config, store, ctx, request.path, outcome)
        except GatewayError as e:
            tracing.describe(state, ctx, outcome, tracing.secret_values(client_fields))
            state["outcome"] = outcomes.outcome_of_handler(e.handler)
            state["code"] = e.code
            state["message"] = e.message
            state["status"] = e.status
            return error_response(headers, e)
        except Exception:
            # Keep the steps up to the failure for the trace. The request hook responds 500.
            tracing.describe(state, ctx, outcome, tracing.secret_values(client_fields))
            raise

        point_at_backend(request, ctx.headers, forward)
        backend_fields = request.headers.fields
        secrets = tracing.secret_values(client_fields, backend_fields)
        tracing.describe(state, ctx, outcome, secrets)
        state["outcome"] = outcomes.FORWARDED
        state["backend"] = forward.url
        state["backend_method"] = forward.method
        state["headers"] = tracing.header_diff(client_fields, backend_fields)
        return None

    def response(self, flow: http.HTTPFlow) -> None:
        state = flow.metadata.get(METADATA_KEY)
        if state is None or flow.response is None:
            return
        state["status"] = flow.response.status_code
        tracing.annotate(flow, state)
        _log_request(flow, state, flow.response.status_code)

    def error(self, flow: http.HTTPFlow) -> None:
        state = flow.metadata.get(METADATA_KEY)
        if state is None:
            return
        state["outcome"] = outcomes.BACKEND_FAILURE
        state["error"] = flow.error.msg if flow.error else ""
        tracing.annotate(flow, state)
        _log_request(flow, state, 502)


def point_at_backend(
    request: http.Request, headers: TransportHeaders, forward: pipeline.Forward
) -> None:
    """Rewrite `request` into the backend request in one pass.

    Synapse replaces Host with the backend's host and port. The scheme, host and port
    are written to `request.data` directly: the public setters would each rewrite the
    Host header again, which costs more than the whole token lookup.
    """
    hostport = url.hostport(forward.scheme, forward.host, forward.port)
    if "Host" in headers:
        headers.set("Host", hostport)
    request.headers = http.Headers(headers.to_fields())
    request.method = forward.method
    data = request.data
    data.scheme = forward.scheme.encode("ascii")
    data.host = forward.host
    data.port = forward.port
    if data.authority:
        data.authority = hostport.encode("ascii")
    request.path = forward.path


def _log_request(flow: http.HTTPFlow, state: dict[str, Any], status: int) -> None:
    logger.info(
        "gateway: %s %s api=%s app=%s token=%s outcome=%s%s status=%s config=%s",
        flow.request.method,
        state.get("path", flow.request.path),
        state.get("api", "-"),
        state.get("application", "-"),
        state.get("token", "-"),
        state.get("outcome", "-"),
        f" code={state['code']}" if "code" in state else "",
        status,
        state.get("config_generation", "-"),
    )
