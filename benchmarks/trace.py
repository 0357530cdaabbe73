"""CPU cost of the flow trace per request: `python -m benchmarks.trace`.

Runs the tutorial request (token check, TokenExchange, route) through the Gateway addon
in-process, with and without the trace rendering (header difference, comment and mark),
and prints the median CPU time per request of each. No network: the flows are built
with mitmproxy's test helpers and never sent.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

from mitmproxy.test import taddons, tflow

from addon import tracing
from addon.gateway import Gateway
from addon.store import Registry

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 7
REQUESTS = 2000

CONFIG = """\
apis:
  - name: TestCustomHeader
    context: /testcustomheader
    version: 1.0.0
    endpoint: http://127.0.0.1:9/
    in_sequence: TokenExchange
"""


def _workspace(root: Path) -> str:
    (root / "sequences").mkdir()
    sequence = (ROOT / "sequences" / "TokenExchange.xml").read_text()
    (root / "sequences" / "TokenExchange.xml").write_text(sequence)
    (root / "gateway.yaml").write_text(CONFIG)
    with Registry(root / "gateway.db", create=True) as registry:
        registry.create_application("DefaultApplication")
        registry.subscribe("DefaultApplication", "TestCustomHeader", "1.0.0")
        return registry.issue_token("DefaultApplication")


def _flows(token: str, count: int) -> list:
    flows = []
    for _ in range(count):
        flow = tflow.tflow()
        flow.request.path = "/testcustomheader/1.0.0"
        flow.request.headers["Authorization"] = f"Bearer {token}"
        flow.request.headers["Custom"] = "Bearer 1234"
        flows.append(flow)
    return flows


def _per_request(gateway: Gateway, token: str) -> float:
    """Return the median CPU microseconds of request + response hooks per flow."""
    samples = []
    for _ in range(ROUNDS):
        flows = _flows(token, REQUESTS)
        response = tflow.tresp()
        start = time.process_time()
        for flow in flows:
            gateway.request(flow)
            flow.response = response
            gateway.response(flow)
        samples.append((time.process_time() - start) / REQUESTS * 1e6)
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        token = _workspace(root)
        gateway = Gateway()
        with taddons.context(gateway) as tctx:
            tctx.configure(gateway, gateway_config=str(root / "gateway.yaml"))
            with_trace = _per_request(gateway, token)
            with (
                mock.patch.object(tracing, "annotate", lambda flow, state: None),
                mock.patch.object(tracing, "header_diff", lambda client, backend: []),
            ):
                without = _per_request(gateway, token)
    print(f"request + response hooks, with the trace:    {with_trace:7.1f} µs")
    print(f"request + response hooks, without rendering: {without:7.1f} µs")
    print(
        f"trace rendering (diff, comment, mark):       {with_trace - without:7.1f} µs"
    )


if __name__ == "__main__":
    main()
