"""CPU time the addon's hooks spend per request on the tutorial path.

Run with `make bench` or `python -m benchmarks.request_path`. The hooks are called
directly on prepared mitmproxy flows, so the figure excludes mitmproxy's own cost
(about 1,000 µs of CPU per proxied request on a 2-core test machine). Each request
goes through dispatch, the token lookup in SQLite, TokenExchange and routing; the
response hook writes the per-request log line to a handler that discards it. The
garbage collector is paused while the hooks run, so that collecting the thousands of
prepared flows does not land in the figure.
"""

from __future__ import annotations

import gc
import logging
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mitmproxy.test import taddons, tflow

from addon.gateway import Gateway
from addon.store import Registry

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 5000
ROUNDS = 5


def prepare(folder: Path) -> tuple[Path, str]:
    config = folder / "gateway.yaml"
    config.write_text((ROOT / "gateway.yaml").read_text())
    (folder / "sequences").mkdir()
    (folder / "sequences" / "TokenExchange.xml").write_text(
        (ROOT / "sequences" / "TokenExchange.xml").read_text()
    )
    with Registry(folder / "gateway.db", create=True) as registry:
        registry.create_application("DefaultApplication")
        registry.subscribe("DefaultApplication", "TestCustomHeader", "1.0.0", tier="Unlimited")
        token = registry.issue_token("DefaultApplication")
    return config, token


def make_flows(token: str, count: int) -> list:
    flows = []
    for _ in range(count):
        flow = tflow.tflow(resp=False)
        flow.request.host = "localhost"
        flow.request.port = 8280
        flow.request.path = "/testcustomheader/1.0.0"
        flow.request.headers["Authorization"] = f"Bearer {token}"
        flow.request.headers["Custom"] = "Bearer 1234"
        flow.request.headers["Accept"] = "*/*"
        flow.request.data.content = b""  # a GET without a body, as curl sends it
        flows.append(flow)
    return flows


def measure(addon: Gateway, token: str) -> tuple[float, float]:
    flows = make_flows(token, REQUESTS)
    response = tflow.tresp()
    gc.collect()
    gc.disable()
    start = time.process_time()
    for flow in flows:
        addon.request(flow)
    middle = time.process_time()
    for flow in flows:
        flow.response = response
        addon.response(flow)
    end = time.process_time()
    gc.enable()
    assert all(f.metadata["gateway"]["outcome"] == "forwarded" for f in flows)
    return (middle - start) / REQUESTS * 1e6, (end - middle) / REQUESTS * 1e6


@contextmanager
def tutorial_gateway() -> Iterator[tuple[Gateway, str]]:
    """Yield the addon configured for the tutorial in a temporary folder, and a token.

    The addon's log goes to a handler that discards it.
    """
    logging.getLogger("addon").handlers = [logging.NullHandler()]
    logging.getLogger("addon").propagate = False
    with tempfile.TemporaryDirectory() as tmp:
        config, token = prepare(Path(tmp))
        addon = Gateway()
        with taddons.context(addon) as tctx:
            tctx.configure(addon, gateway_config=str(config))
            yield addon, token


def main() -> None:
    with tutorial_gateway() as (addon, token):
        measure(addon, token)
        results = [measure(addon, token) for _ in range(ROUNDS)]
    request = [r[0] for r in results]
    response = [r[1] for r in results]
    total = [a + b for a, b in results]
    print(f"{REQUESTS} requests x {ROUNDS} rounds, CPU time per request (median, min):")
    print(f"  request hook   {statistics.median(request):6.1f} µs  {min(request):6.1f} µs")
    print(f"  response hook  {statistics.median(response):6.1f} µs  {min(response):6.1f} µs")
    print(f"  both           {statistics.median(total):6.1f} µs  {min(total):6.1f} µs")


if __name__ == "__main__":
    main()
