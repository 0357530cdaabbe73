"""The response side of mediation for the mitmproxy addon: out-sequences, backend faults.

The request side runs inside the pipeline; what happens after the request left needs
the flow's message context again, so the gateway keeps it per flow until the flow's
response or error arrives (FlowContexts). Properties of the default and operation
scopes thus live from the request to its response, as in Synapse.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from mitmproxy import http

from . import outcomes
from .answer import backend_unreachable, error_response, reason_phrase, to_http
from .config import ApiConfig
from .context import MessageContext
from .mediation.library import SequenceLibrary
from .mediation.runner import (
    body_changed,
    content_type_of,
    mediate_response,
    run_fault_sequences,
    serialized_body,
    set_fault_properties,
    start_response,
    status_of,
)

# Flows whose response never comes (client gone, proxy stopped) must not pile up.
MAX_OPEN_FLOWS = 10_000


class FlowContexts:
    """The message context and API of each forwarded flow, until its response."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[MessageContext, ApiConfig]] = OrderedDict()

    def put(self, flow_id: str, ctx: MessageContext, api: ApiConfig) -> None:
        self._items[flow_id] = (ctx, api)
        while len(self._items) > MAX_OPEN_FLOWS:
            self._items.popitem(last=False)

    def get(self, flow_id: str) -> tuple[MessageContext, ApiConfig] | None:
        return self._items.get(flow_id)

    def pop(self, flow_id: str) -> tuple[MessageContext, ApiConfig] | None:
        return self._items.pop(flow_id, None)

    def __len__(self) -> int:
        return len(self._items)


def format_trace(trace: list[dict[str, Any]]) -> str:
    """Return trace steps as lines: `file:line  stage  summary`."""
    lines = []
    for step in trace:
        where = f"{step['file']}:{step['line']}" if step.get("file") else "-"
        lines.append(f"  {where:<32} {step['stage']:<10} {step['summary']}")
    return "\n".join(lines)


def mediate_backend_response(
    flow: http.HTTPFlow,
    state: dict[str, Any],
    ctx: MessageContext,
    api: ApiConfig,
    library: SequenceLibrary,
) -> None:
    """Run the API's out-sequence on the backend's response and apply what it changed."""
    response = flow.response
    if api.out_sequence is None or response is None:
        return
    body = (
        response.get_content(strict=False)
        if response.headers.get("content-encoding")
        else response.raw_content
    )
    start_response(
        ctx, response.status_code, list(response.headers.fields), body or b""
    )
    replacement = mediate_response(ctx, api.out_sequence, library, api.fault_sequence)
    state["trace"] = [step.as_dict() for step in ctx.trace]
    if replacement is not None:
        if replacement.status == 0:
            # A drop in the response flow sends nothing: the client connection closes.
            state["outcome"] = outcomes.DROPPED
            flow.kill()
            return
        state["outcome"] = replacement.outcome
        flow.response = to_http(replacement)
        return
    status = status_of(ctx, response.status_code)
    if status != response.status_code:
        # The backend's phrase belongs to its own status: a status a sequence set
        # (HTTP_SC) gets the standard phrase.
        response.status_code = status
        response.reason = reason_phrase(status)
    response.headers = http.Headers(ctx.headers.to_fields())
    if body_changed(ctx):
        content_type = content_type_of(ctx)
        if content_type:
            response.headers["Content-Type"] = content_type
        response.content = serialized_body(ctx)


def answer_backend_failure(
    flow: http.HTTPFlow,
    state: dict[str, Any],
    ctx: MessageContext,
    api: ApiConfig,
    library: SequenceLibrary,
    detail: str,
) -> None:
    """Answer WSO2's 101503 fault through the API's fault sequence and `fault`."""
    error = backend_unreachable(detail)
    ctx.action = None
    set_fault_properties(ctx, error.code, error.description, detail)
    ctx.record("route", f"backend unreachable: {detail}")
    try:
        answer = run_fault_sequences(
            ctx, library, api.fault_sequence, outcomes.BACKEND_FAILURE
        )
        flow.response = to_http(answer)
    except Exception:
        flow.response = error_response(ctx.headers, error)
    state["outcome"] = outcomes.BACKEND_FAILURE
    state["code"] = error.code
    state["trace"] = [step.as_dict() for step in ctx.trace]
