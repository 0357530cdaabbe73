"""End to end: hostile input judged at the gateway, never left to the backend.

Requests that `http.client` refuses to build are sent over a raw socket. Every rejected
request must leave the backend untouched.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass

import pytest
from conftest import Backend, GatewayProcess, Workspace, running_backend

CONFIG = """\
limits:
  max_body_bytes: 1024
correlation:
  accept_from_client: false
apis:
  - name: Orders
    context: /orders
    version: v1
    endpoint: {backend}/
    security: [oauth2, api_key]
"""


@dataclass
class World:
    space: Workspace
    backend: Backend
    gateway: GatewayProcess
    token: str

    def raw(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        """Send raw bytes; return the status and body of the response."""
        self.backend.take()
        with socket.create_connection(
            ("127.0.0.1", self.gateway.port), timeout=10
        ) as conn:
            conn.sendall(head + body)
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data:
                    head_part, _, rest = data.partition(b"\r\n\r\n")
                    length = _content_length(head_part)
                    if length is not None and len(rest) >= length:
                        break
        status = int(data.split(b" ", 2)[1])
        return status, data.partition(b"\r\n\r\n")[2]

    def get(self, path, headers=None, body=None):
        self.backend.take()
        return self.gateway.request("GET", path, headers or {}, body)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


@pytest.fixture(scope="module")
def world(tmp_path_factory, confdir):
    with running_backend() as backend:
        space = Workspace(tmp_path_factory.mktemp("edge"), confdir)
        space.write_config(CONFIG.format(backend=backend.url))
        token = space.app_with_token("App", "Orders", version="v1")
        gateway = space.start()
        try:
            yield World(space, backend, gateway, token)
        finally:
            gateway.stop()


def request_head(target: str, *lines: str) -> bytes:
    text = f"GET {target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
    return (text + "".join(f"{line}\r\n" for line in lines) + "\r\n").encode("latin-1")


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("/orders/v1/../admin", "'.' or '..' segment"),
        ("/orders/v1/%2e%2E/admin", "'.' or '..' segment"),
        ("/orders/v1/./items", "'.' or '..' segment"),
        ("/orders/v1//items", "empty segment"),
        ("/orders/v1/items%2Fsecret", "encoded '/'"),
        ("/orders/v1/items%5csecret", "encoded '/'"),
        ("/orders/v1/items%00", "encoded NUL"),
        ("/orders/v1/items\\x", "backslash"),
        ("/orders/v1/items;jsessionid=1", "';' path parameter"),
    ],
)
def test_path_rule_rejects_ambiguous_paths(world, target, reason):
    """One normalisation rule: a path not in normal form is 400, never matched or forwarded."""
    status, body = world.raw(
        request_head(target, f"Authorization: Bearer {world.token}")
    )

    assert status == 400
    payload = json.loads(body)
    assert payload["code"] == "400"
    assert payload["type"] == "Status report"
    assert reason in payload["description"]
    assert world.backend.take() == []


def test_normal_path_forwarded_as_matched(world):
    """A path in normal form is forwarded exactly as it was matched."""
    status, _ = world.raw(
        request_head(
            "/orders/v1/items/%41?q=a%2Fb", f"Authorization: Bearer {world.token}"
        )
    )

    assert status == 401  # the tutorial backend's answer
    [received] = world.backend.take()
    assert received.path == "/items/%41?q=a%2Fb"


@pytest.mark.parametrize("value", ["a\x00b", "a\x01b", "a\x7fb"])
def test_control_character_in_header_value_400(world, value):
    """NUL and other control characters in a header value: 400 at the gateway."""
    status, body = world.raw(
        request_head(
            "/orders/v1/", f"Authorization: Bearer {world.token}", f"Custom: {value}"
        )
    )

    assert status == 400
    assert (
        json.loads(body)["description"] == "Header Custom contains a control character"
    )
    assert world.backend.take() == []


def test_obs_fold_header_400(world):
    """An obs-folded header (continuation line) is rejected, as RFC 9112 allows."""
    status, _ = world.raw(
        request_head(
            "/orders/v1/",
            f"Authorization: Bearer {world.token}",
            "Custom: a",
            " folded",
        )
    )

    assert status == 400
    assert world.backend.take() == []


def test_oversize_header_block_431(world):
    """A header block over limits.max_header_bytes: 431."""
    response = world.get(
        "/orders/v1/", {"Authorization": f"Bearer {world.token}", "Big": "x" * 70000}
    )

    assert response.status == 431
    assert response.reason == "Request Header Fields Too Large"
    assert json.loads(response.body)["code"] == "431"
    assert world.backend.take() == []


def test_too_many_header_fields_431(world):
    """More than limits.max_header_count fields: 431."""
    headers = [("Authorization", f"Bearer {world.token}")]
    headers += [(f"X-H{i}", "v") for i in range(120)]

    response = world.get("/orders/v1/", headers)

    assert response.status == 431
    assert world.backend.take() == []


def test_declared_body_over_limit_413(world):
    """Content-Length over limits.max_body_bytes: 413 before the body is read."""
    response = world.get(
        "/orders/v1/", {"Authorization": f"Bearer {world.token}"}, b"x" * 2000
    )

    assert response.status == 413
    assert world.backend.take() == []


def test_chunked_body_over_limit_413(world):
    """A chunked body over the limit: 413 before any sequence parses it."""
    chunk = b"x" * 1500
    body = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    head = (
        f"POST /orders/v1/ HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
        f"Authorization: Bearer {world.token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()

    status, _ = world.raw(head, body)

    assert status == 413
    assert world.backend.take() == []


def test_connection_nominating_authorization_400(world):
    """`Connection: Authorization` would drop the credential downstream: 400."""
    response = world.get(
        "/orders/v1/",
        {
            "Authorization": f"Bearer {world.token}",
            "Connection": "keep-alive, Authorization",
        },
    )

    assert response.status == 400
    assert world.backend.take() == []


def test_hop_by_hop_headers_not_forwarded(world):
    """Headers named in Connection, and Keep-Alive, stay on this hop."""
    world.get(
        "/orders/v1/",
        {"Authorization": f"Bearer {world.token}", "Connection": "X-Hop", "X-Hop": "1"},
    )

    [received] = world.backend.take()
    assert received.header("X-Hop") is None


def test_repeated_authorization_that_disagrees_400(world):
    """Two Authorization headers with different values: 400, nothing forwarded."""
    response = world.get(
        "/orders/v1/",
        [("Authorization", f"Bearer {world.token}"), ("Authorization", "Bearer other")],
    )

    assert response.status == 400
    assert world.backend.take() == []


def test_repeated_api_keys_that_disagree_400(world):
    """apikey twice with different values, or header and query disagreeing: 400."""
    assert world.get("/orders/v1/?apikey=a&apikey=b").status == 400
    assert world.get("/orders/v1/?apikey=a", {"ApiKey": "b"}).status == 400
    assert world.backend.take() == []


def test_correlation_header_from_client_replaced(world):
    """With accept_from_client false, a client's activityid is replaced by the gateway's."""
    response = world.get(
        "/orders/v1/",
        {"Authorization": f"Bearer {world.token}", "activityid": "spoofed"},
    )

    [received] = world.backend.take()
    assert received.header("activityid") not in (None, "spoofed")
    assert response.header("activityid") == received.header("activityid")


def test_absolute_form_target_sent_in_origin_form(world):
    """WSO2 sends the backend the origin form, whatever form the client's target had."""
    status, _ = world.raw(
        request_head(
            "http://evil.example:1234/orders/v1/items?b=1",
            f"Authorization: Bearer {world.token}",
        )
    )

    assert status == 401  # the tutorial backend's answer
    [received] = world.backend.take()
    assert received.path == "/items?b=1"
    assert received.header("Host") == world.backend.url.removeprefix("http://")


def test_default_version_header_not_forwarded(world):
    """WSO2's OAuthAuthenticator removes WSO2_AM_API_DEFAULT_VERSION before forwarding."""
    world.get(
        "/orders/v1/items",
        {"Authorization": f"Bearer {world.token}", "WSO2_AM_API_DEFAULT_VERSION": "1"},
    )

    [received] = world.backend.take()
    assert received.header("WSO2_AM_API_DEFAULT_VERSION") is None
    assert received.header("Authorization") is None
