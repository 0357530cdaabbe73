"""CPU time of each request-hook stage alone: `python -m benchmarks.request_stages`.

It runs the tutorial call once through the addon's `request` hook, as
`benchmarks.request_path` does, and then times each stage in a loop on that request's
data: the pipeline and its main stages, the correlation id, the rewrite into the
backend request and each part of the trace. A stage that needs a fresh message context
is timed with one, and the cost of building it is subtracted. Each figure is the best
of 5 rounds of 20,000 calls, with the garbage collector paused.

The stages add up to less than the request hook's figure in `benchmarks.request_path`.
That benchmark runs 5,000 different flows, and the state kept per flow, the glue
between the stages and the bookkeeping per flow are not in any stage here.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from addon import auth, pipeline, tracing
from addon.context import MessageContext
from addon.credentials import token_hash
from addon.gateway import Gateway, _apply_changes, _correlate, point_at_backend
from addon.headers import TransportHeaders
from addon.mediation.runner import mediate_request
from addon.mediation.transport import request_changes

from .request_path import make_flows, tutorial_gateway

CALLS = 20000
ROUNDS = 5
PATH = "/testcustomheader/1.0.0"


def best_time(run: Callable[[], object]) -> float:
    """Return the best CPU microseconds per call of `run` over the rounds."""
    best = float("inf")
    for _ in range(ROUNDS):
        gc.disable()
        start = time.process_time()
        for _ in range(CALLS):
            run()
        elapsed = time.process_time() - start
        gc.enable()
        best = min(best, elapsed / CALLS * 1e6)
    return best


def measure_stages(gateway: Gateway, token: str) -> dict[str, float]:
    """Time each stage on the data of one tutorial request through `gateway`."""
    config, store, runtime = gateway.config, gateway.store, gateway.runtime
    assert config is not None and store is not None
    flow = make_flows(token, 1)[0]
    client_fields = flow.request.headers.fields
    gateway.request(flow)
    state = flow.metadata["gateway"]
    backend_fields = flow.request.headers.fields
    stored = gateway.flows.get(flow.id)
    assert stored is not None, "the tutorial request was not forwarded"
    ctx, api = stored
    resource = api.resources[0]
    first_context = new_context(client_fields)
    caller = auth.authenticate(first_context, api, store, resource=resource)
    forward = pipeline.Forward(
        "http", "127.0.0.1", 9090, "/", "GET", "http://127.0.0.1:9090/"
    )
    secrets = tracing.secret_values(client_fields, backend_fields, targets=(PATH,))

    def fresh() -> MessageContext:
        return new_context(client_fields)

    def rewrite() -> None:
        flow.request.headers.fields = client_fields
        point_at_backend(flow.request, ctx.headers, forward)
        _apply_changes(flow.request, request_changes(ctx, "GET"))

    context_cost = best_time(fresh)
    # (name, stage, whether the stage builds a fresh message context first)
    stages: list[tuple[str, Callable[[], object], bool]] = [
        (
            "pipeline.process (all of it)",
            lambda: pipeline.process(
                config, store, fresh(), PATH, pipeline.Outcome(), runtime
            ),
            True,
        ),
        (
            "  authentication",
            lambda: auth.authenticate(fresh(), api, store, resource=resource),
            True,
        ),
        (
            "    token lookup (SQLite or kept) and SHA-256",
            lambda: store.lookup(token_hash(token), api.name, api.version),
            False,
        ),
        (
            "  resource election and CORS",
            lambda: pipeline._elect_resource(config, fresh(), api, "", runtime),
            True,
        ),
        (
            "  throttling",
            lambda: pipeline._throttle(config, fresh(), api, resource, caller, runtime),
            True,
        ),
        (
            "  TokenExchange",
            lambda: mediate_request(
                fresh(), api.in_sequence, config.sequences, None, None
            ),
            True,
        ),
        ("correlation id", lambda: _correlate(fresh(), config), True),
        ("rewrite into the backend request", rewrite, False),
        (
            "trace: secret values",
            lambda: tracing.secret_values(
                client_fields, backend_fields, targets=(PATH,)
            ),
            False,
        ),
        ("trace: redacted steps", lambda: tracing.trace_steps(ctx, secrets), False),
        (
            "trace: header difference",
            lambda: tracing.header_diff(client_fields, backend_fields),
            False,
        ),
        ("trace: comment and mark", lambda: tracing.annotate(flow, state), False),
    ]
    results = {"message context and header map": context_cost}
    for name, run, builds_context in stages:
        cost = best_time(run)
        results[name] = cost - context_cost if builds_context else cost
    return results


def new_context(fields: tuple[tuple[bytes, bytes], ...]) -> MessageContext:
    headers = TransportHeaders.from_fields(fields)
    return MessageContext(headers=headers, method="GET", to=PATH)


def main() -> None:
    with tutorial_gateway() as (gateway, token):
        results = measure_stages(gateway, token)
    print(f"CPU time per call, best of {ROUNDS} x {CALLS:,}:")
    for name, value in results.items():
        print(f"  {name:46s} {value:6.1f} µs")


if __name__ == "__main__":
    main()
