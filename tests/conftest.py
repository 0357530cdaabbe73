"""Fixtures for end-to-end tests: a real mitmdump with the addon, a recording backend,
a real SQLite file and real sequence files, all on 127.0.0.1."""

from __future__ import annotations

import http.client
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from addon.store import Registry
from demo.backend import Recorder, make_server

ROOT = Path(__file__).resolve().parent.parent
MITMDUMP = Path(sys.executable).with_name("mitmdump")
LISTENING = re.compile(r"listening at (?:http://)?\[?([0-9a-fA-F.:]+?)\]?:(\d+)")
TOKEN_EXCHANGE = (ROOT / "sequences" / "TokenExchange.xml").read_text()


@dataclass
class Backend:
    """The tutorial backend on a free port, recording every request."""

    url: str
    recorder: Recorder

    @property
    def requests(self):
        with self.recorder.lock:
            return list(self.recorder.requests)

    def take(self):
        """Return the requests received so far and forget them."""
        with self.recorder.lock:
            taken = list(self.recorder.requests)
            self.recorder.requests.clear()
            return taken


@contextmanager
def running_backend():
    """Run the recording tutorial backend on a free port for the duration of the block."""
    recorder = Recorder()
    server = make_server(0, recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Backend(f"http://127.0.0.1:{server.server_address[1]}", recorder)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def backend():
    with running_backend() as started:
        yield started


@pytest.fixture(scope="session")
def confdir(tmp_path_factory):
    """One mitmproxy confdir for the session, so the CA is generated once."""
    return tmp_path_factory.mktemp("mitmproxy-conf")


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    # The reason phrase of the status line, empty for HTTP/2.
    reason: str = ""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class GatewayProcess:
    """A running mitmdump with the addon, and everything it printed."""

    process: subprocess.Popen
    port: int
    output: list[str] = field(default_factory=list)

    @property
    def log(self) -> str:
        return "".join(self.output)

    def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]] | dict[str, str] | None = None,
        body: bytes | None = None,
        tls: bool = False,
    ) -> Response:
        """Send one request to the gateway and return its response."""
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            items = list(headers.items() if isinstance(headers, dict) else (headers or []))
            skip_host = any(name.lower() == "host" for name, _ in items)
            conn.putrequest(method, path, skip_host=skip_host, skip_accept_encoding=True)
            for name, value in items:
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            reply = conn.getresponse()
            return Response(reply.status, reply.getheaders(), reply.read(), reply.reason)
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_mitmdump(
    config: Path, confdir: Path, extra: list[str] | None = None, expect_failure: bool = False
) -> GatewayProcess:
    """Start mitmdump with the addon on a free port; wait until it listens or exits."""
    command = [
        str(MITMDUMP),
        "-s",
        str(ROOT / "addon" / "main.py"),
        "--mode",
        "reverse:http://127.0.0.1:9",
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        "0",
        "--set",
        f"confdir={confdir}",
        "--set",
        "connection_strategy=lazy",
        "--set",
        "flow_detail=0",
        "--set",
        f"gateway_config={config}",
        *(extra or []),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=config.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output: list[str] = []
    port = None
    assert process.stdout is not None
    if expect_failure:
        # Bound the wait: a gateway that starts after all would never close stdout.
        threading.Timer(20, process.kill).start()
    for line in process.stdout:
        output.append(line)
        match = LISTENING.search(line)
        if match and not expect_failure:
            port = int(match.group(2))
            break
    if port is None:
        process.wait(timeout=10)
        gateway = GatewayProcess(process, 0, output)
        if expect_failure:
            return gateway
        raise AssertionError("mitmdump did not start:\n" + "".join(output))
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    return GatewayProcess(process, port, output)


class Workspace:
    """A folder with a gateway.yaml, a sequences folder and a gateway.db."""

    def __init__(self, root: Path, confdir: Path) -> None:
        self.root = root
        self.confdir = confdir
        self.sequences = root / "sequences"
        self.sequences.mkdir(exist_ok=True)
        self.config = root / "gateway.yaml"
        self.db = root / "gateway.db"
        self.gateways: list[GatewayProcess] = []

    def write_config(self, text: str) -> None:
        self.config.write_text(text)

    def write_sequence(self, name: str, text: str) -> Path:
        path = self.sequences / f"{name}.xml"
        path.write_text(text)
        return path

    def registry(self) -> Registry:
        return Registry(self.db, create=True)

    def app_with_token(
        self, app: str, api: str | None, version: str = "1.0.0", tier: str = "Gold", **token_args
    ) -> str:
        """Create `app`, subscribe it to `api` (unless None) and return a new token."""
        with self.registry() as registry:
            registry.create_application(app)
            if api is not None:
                registry.subscribe(app, api, version, tier=tier)
            return registry.issue_token(app, **token_args)

    def start(self, extra: list[str] | None = None) -> GatewayProcess:
        if not self.db.exists():
            self.registry().close()
        gateway = start_mitmdump(self.config, self.confdir, extra)
        self.gateways.append(gateway)
        return gateway

    def start_failing(self, extra: list[str] | None = None) -> GatewayProcess:
        if not self.db.exists():
            self.registry().close()
        return start_mitmdump(self.config, self.confdir, extra, expect_failure=True)


@pytest.fixture
def workspace(tmp_path, confdir):
    space = Workspace(tmp_path, confdir)
    yield space
    for gateway in space.gateways:
        gateway.stop()


def tutorial_config(backend_url: str, extra_api_fields: str = "") -> str:
    return f"""\
apis:
  - name: TestCustomHeader
    context: /testcustomheader
    version: 1.0.0
    endpoint: {backend_url}/
    in_sequence: TokenExchange
{extra_api_fields}"""


@pytest.fixture
def tutorial(workspace, backend):
    """The tutorial setup: TestCustomHeader with TokenExchange, before the gateway starts."""
    workspace.write_config(tutorial_config(backend.url))
    workspace.write_sequence("TokenExchange", TOKEN_EXCHANGE)
    return workspace


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
