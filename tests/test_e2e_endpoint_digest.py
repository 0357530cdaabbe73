"""Endpoint security `digest`: the challenge parser, the response, and a real mitmdump
against a backend on 127.0.0.1 that checks RFC 2617 digests itself.

Each test names the behaviour of WSO2's DigestAuthMediator it pins.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import TOKEN_EXCHANGE
from mitmproxy import http

from addon.backend_digest import first_request
from addon.endpoint_digest import Challenge, authorization, parse_challenge

REALM = "backend@test"
NONCE = "n0nce-1"
CHALLENGE = f'Digest realm="{REALM}", qop="auth", nonce="{NONCE}", opaque="0paque", algorithm=MD5'


# Unit: the challenge and the response --------------------------------------------------


def test_rfc2617_example_response():
    """The response of RFC 2617's example (section 3.5), with its client nonce."""
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )

    value = authorization(
        challenge, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", b"", "0a4f113b"
    )

    assert value == (
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
        'qop=auth, nc=00000001, cnonce="0a4f113b", '
        'response="6629fae49393a05397450978507c4ef1", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )


def test_challenge_choices_as_wso2():
    """Several qop values count as auth, and an unknown algorithm counts as MD5."""
    challenge = parse_challenge(
        'Digest realm="r", nonce="n", qop="auth,auth-int", algorithm="SHA-256"'
    )

    assert challenge == Challenge("r", "n", "auth", None, "MD5")


def test_challenge_not_digest():
    assert parse_challenge('Basic realm="r"') is None


def test_challenge_without_nonce():
    with pytest.raises(ValueError):
        parse_challenge('Digest realm="r", qop="auth"')


def test_md5_sess_and_auth_int():
    """MD5-sess folds the nonces into HA1, and auth-int hashes the body into HA2."""
    challenge = Challenge("r", "n", "auth-int", None, "MD5-sess")

    value = authorization(challenge, "u", "p", "POST", "/x", b"{}", "c")

    md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
    ha1 = md5(f"{md5('u:r:p')}:n:c")
    ha2 = md5(f"POST:/x:{hashlib.md5(b'{}').hexdigest()}")
    expected = md5(f"{ha1}:n:00000001:c:auth-int:{ha2}")
    assert f'response="{expected}"' in value
    assert "algorithm=MD5-sess" in value


# End to end --------------------------------------------------------------------------


@dataclass
class DigestBackend:
    """A backend that demands Digest credentials and checks them as RFC 2617 defines."""

    url: str = ""
    password: str = "backend-pw"
    challenge: str = CHALLENGE
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def valid(self, method: str, header: str | None) -> bool:
        if not header or not header.startswith("Digest "):
            return False
        values = dict(re.findall(r'(\w+)="?([^",]*)"?', header[len("Digest ") :]))
        md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
        ha1 = md5(f"{values['username']}:{REALM}:{self.password}")
        ha2 = md5(f"{method}:{values['uri']}")
        expected = md5(
            f"{ha1}:{values['nonce']}:{values['nc']}:{values['cnonce']}:auth:{ha2}"
        )
        return values.get("response") == expected and values.get("opaque") == "0paque"


@pytest.fixture
def digest_backend():
    backend = DigestBackend()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            authorization = self.headers.get("Authorization")
            with backend.lock:
                backend.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "host": self.headers.get("Host"),
                        "authorization": authorization,
                        "body": body,
                    }
                )
            if backend.valid(self.command, authorization):
                status, reply = 200, b"digest ok"
            else:
                status, reply = 401, b"credentials needed"
            self.send_response(status)
            if status == 401:
                self.send_header("WWW-Authenticate", backend.challenge)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    backend.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield backend
    server.shutdown()
    server.server_close()


def test_first_request_host_from_authority(digest_backend):
    """An HTTP/2 request has no Host: the HTTP/1.1 `<call>` sends its authority."""
    authority = digest_backend.url.removeprefix("http://")
    request = http.Request.make("GET", f"{digest_backend.url}/store/items")
    request.http_version = "HTTP/2.0"
    request.authority = authority

    status, challenges = first_request(request, b"", insecure=False)

    assert status == 401
    assert challenges == [CHALLENGE]
    assert digest_backend.requests[0]["host"] == authority


def start(workspace, backend: DigestBackend):
    workspace.write_sequence("TokenExchange", TOKEN_EXCHANGE)
    workspace.write_config(
        "apis:\n"
        "  - name: Files\n"
        "    context: /files\n"
        "    version: v1\n"
        f"    endpoint: {backend.url}/store\n"
        "    in_sequence: TokenExchange\n"
        "    endpoint_security: {type: digest, username: svc, password: backend-pw}\n"
    )
    token = workspace.app_with_token("Shop", "Files", "v1")
    return workspace.start(), token


def test_digest_get_answered(workspace, digest_backend):
    """The first request draws the challenge, and the second has a valid digest."""
    gateway, token = start(workspace, digest_backend)

    response = gateway.request(
        "GET", "/files/v1/items?page=2", {"Authorization": f"Bearer {token}"}
    )

    assert response.status == 200
    assert response.text == "digest ok"
    first, second = digest_backend.requests
    # TokenExchange copies the absent Custom header: an empty Authorization, as in WSO2.
    assert first["authorization"] == ""
    assert second["path"] == "/store/items?page=2"
    assert second["authorization"].startswith(
        'Digest username="svc", realm="backend@test", nonce="n0nce-1", '
        'uri="/store/items?page=2", qop=auth, nc=00000001, cnonce="'
    )
    assert second["authorization"].endswith('opaque="0paque"')
    assert "algorithm=MD5, response=" in second["authorization"]


def test_digest_post_sends_body_twice(workspace, digest_backend):
    """The <call> sends the body too, so the backend gets it in both requests."""
    gateway, token = start(workspace, digest_backend)

    response = gateway.request(
        "POST",
        "/files/v1/items",
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=b'{"name":"a"}',
    )

    assert response.status == 200
    assert [r["body"] for r in digest_backend.requests] == [b'{"name":"a"}'] * 2
    assert [r["method"] for r in digest_backend.requests] == ["POST", "POST"]


def test_digest_replaces_sequence_authorization(workspace, digest_backend):
    """The first request carries what the sequence set, then the digest replaces it."""
    gateway, token = start(workspace, digest_backend)

    gateway.request(
        "GET",
        "/files/v1/items",
        {"Authorization": f"Bearer {token}", "Custom": "Bearer from-sequence"},
    )

    first, second = digest_backend.requests
    assert first["authorization"] == "Bearer from-sequence"
    assert second["authorization"].startswith("Digest ")


def test_basic_challenge_sends_empty_header(workspace, digest_backend):
    """A challenge that is not Digest leaves AuthHeader unset: Authorization is empty."""
    digest_backend.challenge = 'Basic realm="backend@test"'
    gateway, token = start(workspace, digest_backend)

    response = gateway.request(
        "GET",
        "/files/v1/items",
        {"Authorization": f"Bearer {token}", "Custom": "Bearer from-sequence"},
    )

    assert response.status == 401
    assert digest_backend.requests[1]["authorization"] == ""
