"""End to end: endpoint security `oauth` through a real mitmdump.

A small token endpoint on 127.0.0.1 records each token request and responds with
numbered tokens. The recording backend shows what the gateway sent. Each test names
the behaviour of WSO2's OAuthMediator it pins.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import TOKEN_EXCHANGE, wait_for

from addon import endpoint_oauth
from addon.config import load_config
from addon.errors import ConfigError

CLIENT_SECRET = "s3cret-client"
SCOPES = (
    "      scopes: [orders:read, orders:write]\n"
    "      custom_parameters: {audience: orders}\n"
)


@dataclass
class TokenEndpoint:
    """A token URL that records requests, where `replies` overrides the responses.

    The default response to the n-th request is the token `tok-n`.
    """

    url: str = ""
    requests: list[dict] = field(default_factory=list)
    replies: list[tuple[int, dict]] = field(default_factory=list)
    expires_in: int | None = 3600
    refresh_token: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self) -> tuple[int, dict]:
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
            body: dict = {"access_token": f"tok-{len(self.requests)}", "token_type": "Bearer"}
            if self.expires_in is not None:
                body["expires_in"] = self.expires_in
            if self.refresh_token is not None:
                body["refresh_token"] = self.refresh_token
            return 200, body

    def forms(self) -> list[dict[str, str]]:
        return [dict(urllib.parse.parse_qsl(r["body"])) for r in self.requests]


@pytest.fixture
def token_endpoint():
    endpoint = TokenEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            with endpoint.lock:
                endpoint.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": self.rfile.read(length).decode(),
                    }
                )
            status, body = endpoint.reply()
            data = json.dumps(body).encode()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/oauth2/token"
    yield endpoint
    server.shutdown()
    server.server_close()


def start(workspace, backend, token_endpoint, security: str = ""):
    workspace.write_sequence("TokenExchange", TOKEN_EXCHANGE)
    workspace.write_config(
        "apis:\n"
        "  - name: Orders\n"
        "    context: /orders\n"
        "    version: v1\n"
        f"    endpoint: {backend.url}/\n"
        "    in_sequence: TokenExchange\n"
        "    endpoint_security:\n"
        "      type: oauth\n"
        f"      token_url: {token_endpoint.url}\n"
        "      client_id: gateway-client\n"
        "      client_secret_env: BACKEND_CLIENT_SECRET\n" + security
    )
    token = workspace.app_with_token("Shop", "Orders", "v1")
    gateway = workspace.start()
    return gateway, token


@pytest.fixture(autouse=True)
def client_secret(monkeypatch):
    monkeypatch.setenv("BACKEND_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("BACKEND_USER_PASSWORD", "p&ss=word")


def call(gateway, token: str) -> int:
    response = gateway.request(
        "GET",
        "/orders/v1/items",
        {"Authorization": f"Bearer {token}", "Custom": "Bearer from-sequence"},
    )
    return response.status


def test_token_fetched_once_and_reused(workspace, backend, token_endpoint):
    """The token is cached and reused while it is valid: one token request in all."""
    gateway, token = start(workspace, backend, token_endpoint, SCOPES)

    statuses = [call(gateway, token) for _ in range(3)]

    assert statuses == [401, 401, 401]  # the tutorial backend accepts only Bearer 1234
    assert len(token_endpoint.requests) == 1
    received = [r.header("Authorization") for r in backend.take()]
    assert received == ["Bearer tok-1"] * 3


def test_token_request_shape(workspace, backend, token_endpoint):
    """Basic client authentication, a form body, the grant, scope and custom parameters."""
    gateway, token = start(workspace, backend, token_endpoint, SCOPES)

    call(gateway, token)

    [request] = token_endpoint.requests
    expected = base64.b64encode(f"gateway-client:{CLIENT_SECRET}".encode()).decode()
    assert request["path"] == "/oauth2/token"
    assert request["headers"]["Authorization"] == f"Basic {expected}"
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_endpoint.forms() == [
        {
            "grant_type": "client_credentials",
            "scope": "orders:read orders:write",
            "audience": "orders",
        }
    ]


def test_token_replaces_sequence_authorization(workspace, backend, token_endpoint):
    """The token overwrites the Authorization that the in-sequence set, as for basic."""
    gateway, token = start(workspace, backend, token_endpoint)

    call(gateway, token)

    [request] = backend.take()
    assert request.header_values("Authorization") == ["Bearer tok-1"]
    assert request.header("Custom") is None


def test_token_refetched_after_expiry(workspace, backend, token_endpoint):
    """With one second or less of lifetime left, the next request gets a new token."""
    token_endpoint.expires_in = 2
    gateway, token = start(workspace, backend, token_endpoint)

    call(gateway, token)
    call(gateway, token)
    time.sleep(1.2)
    call(gateway, token)

    assert len(token_endpoint.requests) == 2
    received = [r.header("Authorization") for r in backend.take()]
    assert received == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_token_refreshed_with_refresh_token(workspace, backend, token_endpoint):
    """An expired token with a refresh token is renewed with grant_type=refresh_token."""
    token_endpoint.expires_in = 2
    token_endpoint.refresh_token = "refresh-abc"
    gateway, token = start(workspace, backend, token_endpoint)

    call(gateway, token)
    time.sleep(1.2)
    call(gateway, token)

    forms = token_endpoint.forms()
    assert forms[0] == {"grant_type": "client_credentials"}
    assert forms[1] == {"grant_type": "refresh_token", "refresh_token": "refresh-abc"}


def test_token_without_expiry_not_cached(workspace, backend, token_endpoint):
    """A response without expires_in is used once: WSO2 caches only expiring tokens."""
    token_endpoint.expires_in = None
    gateway, token = start(workspace, backend, token_endpoint)

    call(gateway, token)
    call(gateway, token)

    assert len(token_endpoint.requests) == 2


def test_password_grant(workspace, backend, token_endpoint):
    """grant_type password sends the username and password, form-encoded."""
    gateway, token = start(
        workspace,
        backend,
        token_endpoint,
        "      grant_type: password\n"
        "      username: svc-user\n"
        "      password_env: BACKEND_USER_PASSWORD\n",
    )

    call(gateway, token)

    assert token_endpoint.forms() == [
        {"grant_type": "password", "username": "svc-user", "password": "p&ss=word"}
    ]
    assert "password=p%26ss%3Dword" in token_endpoint.requests[0]["body"]


def test_token_failure_sends_without_token(workspace, backend, token_endpoint):
    """A token endpoint error is logged and the request goes on, as OAuthMediator does."""
    token_endpoint.replies = [(500, {"error": "server_error"})]
    gateway, token = start(workspace, backend, token_endpoint)

    status = call(gateway, token)

    assert status == 401  # the backend's own response
    [request] = backend.take()
    assert request.header("Authorization") == "Bearer from-sequence"
    assert wait_for(lambda: "no token from" in gateway.log)
    assert "the token URL returned status 500" in gateway.log


def test_token_never_logged(workspace, backend, token_endpoint):
    """Neither the token nor the client secret is in the log, but a fingerprint is."""
    token_endpoint.replies = [(200, {"access_token": "very-secret-token", "expires_in": 60})]
    gateway, token = start(workspace, backend, token_endpoint)

    call(gateway, token)

    assert wait_for(lambda: "token hmac:" in gateway.log), gateway.log
    assert "very-secret-token" not in gateway.log
    assert CLIENT_SECRET not in gateway.log


@pytest.mark.parametrize("access_token", ["T\r\nX-Evil: 1", "a\x00b", "", "two words"])
def test_unsafe_token_not_sent(workspace, backend, token_endpoint, access_token):
    """A token that is empty or not visible ASCII counts as none: no header injection."""
    token_endpoint.replies = [(200, {"access_token": access_token, "expires_in": 60})]
    gateway, token = start(workspace, backend, token_endpoint)

    call(gateway, token)

    [request] = backend.take()
    assert request.header("Authorization") == "Bearer from-sequence"
    assert request.header("X-Evil") is None
    assert wait_for(lambda: "other than visible ASCII" in gateway.log), gateway.log


def test_token_redirect_not_followed(workspace, backend, token_endpoint):
    """The client secret goes to the token URL only: a redirect is a failure."""
    token_endpoint.replies = [(302, {})]
    gateway, token = start(workspace, backend, token_endpoint)

    call(gateway, token)

    assert [r["method"] for r in token_endpoint.requests] == ["POST"]
    assert wait_for(lambda: "the token URL returned status 302" in gateway.log)
    [request] = backend.take()
    assert request.header("Authorization") == "Bearer from-sequence"


def test_token_request_ignores_proxy_variables(
    workspace, backend, token_endpoint, monkeypatch
):
    """HTTP_PROXY in the gateway's environment does not reroute the token request."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", backend.url)
    monkeypatch.setenv("http_proxy", backend.url)
    gateway, token = start(workspace, backend, token_endpoint)

    call(gateway, token)

    assert len(token_endpoint.requests) == 1
    [request] = backend.take()
    assert request.header("Authorization") == "Bearer tok-1"


def test_token_endpoint_not_speaking_http(workspace, backend, token_endpoint):
    """A token URL that responds without HTTP is a token failure, not a 500."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            # Read the whole token request first: closing on unread bytes would reset
            # the connection, which the gateway reports as unreachable instead.
            received = b""
            while b"\r\n\r\n" not in received:
                received += connection.recv(65536)
            head, _, body = received.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            while len(body) < length:
                body += connection.recv(65536)
            connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    token_endpoint.url = f"http://127.0.0.1:{listener.getsockname()[1]}/token"
    try:
        gateway, token = start(workspace, backend, token_endpoint)
        status = call(gateway, token)
    finally:
        listener.close()

    assert status == 401  # the backend's own response
    assert wait_for(lambda: "a response that is not HTTP" in gateway.log), gateway.log


def test_waiters_share_a_failed_fetch(monkeypatch):
    """Requests that waited for a fetch that failed take its failure, not a new fetch."""
    calls = []

    def failing(security, refresh):
        calls.append(refresh)
        time.sleep(0.2)
        raise endpoint_oauth.TokenError("the token URL could not be reached: timed out")

    monkeypatch.setattr(endpoint_oauth, "request_token", failing)
    security = endpoint_oauth.OAuthSecurity(
        type="oauth",
        grant_type="client_credentials",
        token_url="http://127.0.0.1:1/token",
        client_id="c",
        client_secret="s",
    )

    async def three_requests():
        return await asyncio.gather(
            *(endpoint_oauth.get_token(security) for _ in range(3)),
            return_exceptions=True,
        )

    results = asyncio.run(three_requests())

    assert len(calls) == 1
    assert all(isinstance(r, endpoint_oauth.TokenError) for r in results)


OAUTH_CONFIG_ERRORS = [
    (
        "      type: oauth\n      token_url: http://127.0.0.1:1/t\n      client_id: c\n"
        "      client_secret: s\n      custom_parameters: {grant_type: x}\n",
        11,
        "API 'Orders' endpoint_security: field 'custom_parameters' sets grant_type, which "
        "the gateway writes itself; use grant_type, username, password and scopes instead",
    ),
    (
        "      type: oauth\n      client_id: c\n      client_secret: s\n",
        7,
        "API 'Orders' endpoint_security: field 'token_url' is missing",
    ),
    (
        "      type: oauth\n      token_url: ftp://x/token\n      client_id: c\n"
        "      client_secret: s\n",
        8,
        "API 'Orders' endpoint_security: field 'token_url' 'ftp://x/token' is not an "
        "http:// or https:// URL with a host",
    ),
    (
        "      type: oauth\n      grant_type: password\n      token_url: http://127.0.0.1:1/t\n"
        "      client_id: c\n      client_secret: s\n",
        7,
        "API 'Orders' endpoint_security: field 'username' is missing",
    ),
    (
        "      type: oauth\n      grant_type: implicit\n",
        8,
        "API 'Orders' endpoint_security: field 'grant_type' is 'implicit'; accepted "
        "values: client_credentials, password",
    ),
    (
        "      type: oauth\n      token_url: http://127.0.0.1:1/t\n      client_id: c\n"
        "      client_secret_env: NOT_SET_ANYWHERE\n",
        10,
        "API 'Orders' endpoint_security: field 'client_secret_env' names environment "
        "variable 'NOT_SET_ANYWHERE', which is not set",
    ),
    (
        "      type: oauth\n      token_url: http://svc:url-pw@127.0.0.1:1/t\n"
        "      client_id: c\n      client_secret: s\n",
        8,
        "API 'Orders' endpoint_security: field 'token_url' contains user:password@ "
        "credentials; remove them and set client_id and client_secret (or "
        "client_secret_env), which the gateway sends as Basic client authentication",
    ),
]


@pytest.mark.parametrize("fields, line, message", OAUTH_CONFIG_ERRORS)
def test_oauth_config_errors(tmp_path, fields, line, message):
    """Invalid oauth settings stop the load, naming the file, line, API and field."""
    (tmp_path / "sequences").mkdir()
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "apis:\n  - name: Orders\n    context: /orders\n    version: v1\n"
        "    endpoint: http://127.0.0.1:1/\n    endpoint_security:\n" + fields
    )

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert raised.value.line == line
    assert str(raised.value).endswith(message), str(raised.value)
    assert "url-pw" not in str(raised.value)
