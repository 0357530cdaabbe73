"""The gateway's commands for mitmproxy's and mitmweb's command bars.

    gateway.reload              load the config and sequences again now
    gateway.apis                the APIs, their resources and sequences in force
    gateway.trace FLOWS         the full trace of each flow
    gateway.replay.dry FLOWS    run each flow's client request again, sending nothing

FLOWS is a flow selection: `@focus` (mitmproxy console), `@all`, `@marked`, a flow
filter such as `~c 401`, or `@` followed by flow ids. Every command returns text, which
the console shows in a pop-up and mitmweb under its command bar.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mitmproxy import command, exceptions, flow, http

from .errors import ConfigError
from .gateway import METADATA_KEY, Gateway
from .mediation.library import display_path
from .query_masking import mask_query_credentials
from .reload import reload_gateway
from .replay import dry_run, render_dry_run
from .tracing import render

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .config import GatewayConfig


def describe_apis(config: GatewayConfig) -> str:
    """Return a table of the APIs, resources and sequences of `config`."""
    lines = [f"config generation {config.generation} from {display_path(config.path)}"]
    for api in config.apis:
        lines.append(f"API {api.label}  ({api.source})")
        lines.append(f"  context    {api.full_context}")
        for label, endpoint, group in (
            ("production", api.endpoint, api.production_group),
            ("sandbox   ", api.sandbox_endpoint, api.sandbox_group),
        ):
            if group is not None:
                urls = ", ".join(member.url for member in group.members)
                lines.append(f"  {label} {group.kind}: {urls}")
            elif endpoint is not None:
                lines.append(f"  {label} {endpoint.url}")
        lines.append(f"  security   {', '.join(api.security)}")
        if api.resources:
            for resource in api.resources:
                scopes = f"  scopes {', '.join(resource.scopes)}" if resource.scopes else ""
                lines.append(
                    f"  resource   {' '.join(resource.verbs)} {resource.target}  "
                    f"({resource.auth_type}){scopes}"
                )
        else:
            lines.append("  resources  any path below the context, any verb")
        for flow, sequence in (
            ("in", api.in_sequence),
            ("out", api.out_sequence),
            ("fault", api.fault_sequence),
        ):
            if sequence is not None:
                lines.append(
                    f"  {flow:<10} {sequence.name}  ({sequence.file}:{sequence.line})"
                )
    if not config.apis:
        lines.append("no APIs")
    lines.append(f"sequences in {display_path(config.sequences_folder)}:")
    for name, sequence in sorted(config.sequences.by_name.items()):
        count = len(sequence.mediators)
        lines.append(f"  {name}  {sequence.file}:{sequence.line}  {count} mediator(s)")
    if not len(config.sequences):
        lines.append("  none")
    return "\n".join(lines)


def _http_flows(flows: Sequence[flow.Flow]) -> list[http.HTTPFlow]:
    selected = [f for f in flows if isinstance(f, http.HTTPFlow)]
    if not selected:
        raise exceptions.CommandError(
            "no HTTP flow selected; select flows with @focus, @all, @marked or a filter"
        )
    return selected


class GatewayCommands:
    """The `gateway.*` commands, acting on one Gateway addon."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @command.command("gateway.reload")
    def reload(self) -> str:
        """Load the config and every sequence file again and put them in force."""
        try:
            config = reload_gateway(self.gateway, "the gateway.reload command")
        except ConfigError as e:
            raise exceptions.CommandError(
                f"reload rejected, old config kept:\n{e}"
            ) from None
        return f"config generation {config.generation}: {config.describe()}"

    @command.command("gateway.apis")
    def apis(self) -> str:
        """List the APIs in force: context, endpoint, resources and sequences."""
        config = self.gateway.config
        if config is None:
            raise exceptions.CommandError("the gateway has no valid config loaded")
        return describe_apis(config)

    @command.command("gateway.trace")
    def trace(self, flows: Sequence[flow.Flow]) -> str:
        """Show the full trace of each flow: the text, then the metadata as JSON."""
        parts = []
        for f in _http_flows(flows):
            state = f.metadata.get(METADATA_KEY)
            url = mask_query_credentials(f.request.pretty_url)
            heading = f"flow {f.id}: {f.request.method} {url}"
            if state is None:
                parts.append(f"{heading}\n  not handled by the gateway")
                continue
            data = json.dumps(state, indent=2, sort_keys=True)
            parts.append(f"{heading}\n{render(state)}\nmetadata:\n{data}")
        return "\n\n".join(parts)

    @command.command("gateway.replay.dry")
    def replay_dry(self, flows: Sequence[flow.Flow]) -> str:
        """Run each flow's client request through the current config, sending nothing."""
        if self.gateway.config is None:
            raise exceptions.CommandError("the gateway has no valid config loaded")
        parts = []
        for f in _http_flows(flows):
            try:
                run = dry_run(self.gateway, f)
            except Exception as e:
                logger.exception("gateway: dry run of flow %s failed", f.id)
                raise exceptions.CommandError(
                    f"dry run of flow {f.id} failed: {e}"
                ) from e
            parts.append(render_dry_run(f, run))
        return "\n\n".join(parts)
