"""End to end under mitmweb, started by the `make web` launcher, read through its API.

mitmweb shows a flow's comment and mark but not its metadata, so these tests read
`/flows` as the browser does. mitmweb 11.1.2 and later require the access token printed
in its URL; 11.0.2 has none. Both are handled: the token, when the URL has one, goes in
an `Authorization: Bearer` header.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import ROOT, TOKEN_EXCHANGE, tutorial_config

from addon.credentials import fingerprint

GATEWAY_LINE = re.compile(r"==> gateway: http://127\.0\.0\.1:(\d+)/")
WEB_LINE = re.compile(r"==> mitmweb: (\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Web:
    """mitmweb's HTTP API, with the access token when this mitmweb version has one."""

    url: str
    token: str | None
    xsrf: str = field(default_factory=lambda: secrets.token_hex(16))

    def _open(self, path: str, body: bytes | None = None):
        base = urlsplit(self.url)
        request = urllib.request.Request(
            f"{base.scheme}://{base.netloc}{path}", data=body
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            # Tornado's XSRF check: the same value in a cookie and a header. The cookie
            # is `_xsrf` in mitmweb 11 and `_mitmproxy_xsrf` in 12.
            request.add_header(
                "Cookie", f"_xsrf={self.xsrf}; _mitmproxy_xsrf={self.xsrf}"
            )
            request.add_header("X-XSRFToken", self.xsrf)
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def flows(self) -> list[dict]:
        return self._open("/flows")

    def command(self, name: str, *arguments: str):
        reply = self._open(
            f"/commands/{name}", json.dumps({"arguments": arguments}).encode()
        )
        if "error" in reply:
            raise AssertionError(f"{name}: {reply['error']}")
        return reply["value"]


@dataclass
class Launch:
    process: subprocess.Popen
    gateway_port: int
    web: Web
    output: list[str]
    token: str

    def request(self, path: str, headers: dict[str, str]) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{self.gateway_port}{path}")
        for name, value in headers.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code


@pytest.fixture
def launched(tmp_path, confdir):
    """`python -m demo.web` on free ports, with a copy of the tutorial config."""
    backend_port = free_port()
    (tmp_path / "sequences").mkdir()
    (tmp_path / "sequences" / "TokenExchange.xml").write_text(TOKEN_EXCHANGE)
    backend = f"http://127.0.0.1:{backend_port}"
    # A second API whose API-level tier allows one call a minute, for the throttled flow.
    (tmp_path / "gateway.yaml").write_text(
        "throttling:\n  api_tiers:\n    - {name: OnePerMin, requests: 1}\n"
        + tutorial_config(backend)
        + "  - name: Limited\n    context: /limited\n    version: 1.0.0\n"
        + f"    endpoint: {backend}/\n    throttling_tier: OnePerMin\n"
    )
    state = tmp_path / ".run"

    command = [
        sys.executable,
        "-m",
        "demo.web",
        "--config",
        str(tmp_path / "gateway.yaml"),
        "--state",
        str(state),
        "--confdir",
        str(confdir),
        "--port",
        "0",
        "--tls-port",
        "0",
        "--backend-port",
        str(backend_port),
        "--web-port",
        str(free_port()),
        "--no-browser",
    ]

    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output: list[str] = []
    # Bound the wait: a launcher that hangs before printing would never close stdout.
    timer = threading.Timer(30, process.kill)
    timer.start()
    gateway_port = web_url = None
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if match := GATEWAY_LINE.search(line):
            gateway_port = int(match.group(1))
        if match := WEB_LINE.search(line):
            web_url = match.group(1)
        if gateway_port and web_url:
            break
    timer.cancel()
    assert gateway_port and web_url, "".join(output)

    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    token = parse_qs(urlsplit(web_url).query).get("token", [None])[0]
    app_token = (state / "token").read_text().strip()
    yield Launch(process, gateway_port, Web(web_url, token), output, app_token)

    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_flows(web: Web, count: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while True:
        flows = [f for f in web.flows() if f.get("response")]
        if len(flows) >= count or time.monotonic() > deadline:
            return flows
        time.sleep(0.05)


def test_mitmweb_shows_trace_of_forwarded_and_rejected(launched):
    """The comment and mark of the tutorial call and of an unknown token (900901)."""
    tutorial = {"Custom": "Bearer 1234"}
    assert (
        launched.request(
            "/testcustomheader/1.0.0",
            {**tutorial, "Authorization": f"Bearer {launched.token}"},
        )
        == 200
    )
    assert (
        launched.request(
            "/testcustomheader/1.0.0",
            {**tutorial, "Authorization": "Bearer wrong-token"},
        )
        == 401
    )

    forwarded, rejected = wait_for_flows(launched.web, 2)

    assert forwarded["marked"] == "✅"
    assert forwarded["comment"].startswith(
        "forwarded: backend status 200\nAPI TestCustomHeader:v1.0.0 · config generation "
    )
    assert f"token {fingerprint(launched.token)}" in forwarded["comment"]
    assert "  - Custom: Bearer ****" in forwarded["comment"]
    assert "  ~ Authorization: Bearer ****" in forwarded["comment"]
    # Header values get a keyed fingerprint: the plain SHA-256 of `1234` would give
    # the backend's token away to anyone who tries the short values.
    assert "  - Custom: Bearer **** (hmac:" in forwarded["comment"]
    assert fingerprint("1234") not in forwarded["comment"]
    assert rejected["marked"] == "⛔"
    assert rejected["comment"].startswith(
        "rejected: 900901 Invalid Credentials, status 401\n"
    )
    assert (
        f"auth: unknown token {fingerprint('wrong-token')}: 900901"
        in rejected["comment"]
    )
    for flow in (forwarded, rejected):
        assert launched.token not in flow["comment"]
        assert "wrong-token" not in flow["comment"]


def test_mitmweb_command_bar_commands(launched):
    """The four gateway commands, called through mitmweb's command API."""
    launched.request(
        "/testcustomheader/1.0.0",
        {"Custom": "Bearer 1234", "Authorization": f"Bearer {launched.token}"},
    )
    [flow] = wait_for_flows(launched.web, 1)

    apis = launched.web.command("gateway.apis")
    trace = launched.web.command("gateway.trace", f"@{flow['id']}")
    dry = launched.web.command("gateway.replay.dry", "@all")
    reloaded = launched.web.command("gateway.reload")

    assert "API TestCustomHeader:v1.0.0" in apis
    assert trace.startswith(f"flow {flow['id']}: GET http://127.0.0.1:")
    assert '"outcome": "forwarded"' in trace
    assert "(dry run, nothing sent)" in dry
    assert "  Authorization: Bearer ****" in dry
    assert launched.token not in dry
    assert reloaded.startswith("config generation ")


def test_mitmweb_shows_throttled_flow(launched):
    """A call over the API's tier is marked with the hourglass and names 900800."""
    authorization = {"Authorization": f"Bearer {launched.token}"}
    launched.request("/limited/1.0.0", authorization)
    assert launched.request("/limited/1.0.0", authorization) == 429

    flows = wait_for_flows(launched.web, 2)
    throttled = flows[-1]

    assert throttled["marked"] == "⌛"
    assert throttled["comment"].startswith("throttled: 900800 Message throttled out")


def test_launcher_prints_gateway_and_web_url(launched):
    """`make web` prints where the gateway and mitmweb listen, and no token."""
    text = "".join(launched.output)

    assert "==> mitmweb: http://127.0.0.1:" in text
    assert 'curl -i -H "Authorization: Bearer $(cat ' in text
    assert launched.token not in text


def test_mitmweb_dry_replay_not_counted(launched):
    """A dry run uses no quota: WSO2 counts only requests that were sent on."""
    headers = {"Custom": "Bearer 1234", "Authorization": f"Bearer {launched.token}"}
    launched.request("/testcustomheader/1.0.0", headers)
    [first] = wait_for_flows(launched.web, 1)

    dry_runs = [
        launched.web.command("gateway.replay.dry", f"@{first['id']}") for _ in range(3)
    ]
    launched.request("/testcustomheader/1.0.0", headers)
    second = wait_for_flows(launched.web, 2)[-1]

    assert "counted: Gold 1/5000" in first["comment"]
    assert "counted: Gold 2/5000" in second["comment"]
    for text in dry_runs:
        assert "within limits, not counted (dry run): Gold 1/5000" in text
