"""Request-path cost of the gateway, per stage and per credential kind (run on demand).

`python -m benchmarks.credentials [--requests N]` builds a config with resources,
throttling tiers and CORS, a real SQLite store and a key pair in a temporary folder, then
times `pipeline.process` (dispatch, resource election, CORS, authentication, throttling,
mediation, endpoint, route) for each credential kind, the edge checks, the backend JWT and
the building of an error answer. It prints microseconds per request; nothing here runs
in the test suite.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from addon import edge, pipeline
from addon.answer import error_response
from addon.backend_jwt import BackendJwtSigner
from addon.config import load_config
from addon.context import MessageContext
from addon.errors import GatewayError
from addon.headers import TransportHeaders
from addon.keypairs import create_key_pair
from addon.settings import DEFAULT_ISSUER
from addon.store import Registry, TokenStore
from addon.token_issue import issue_jwt

CONFIG = """\
throttling:
  subscription_tiers:
    - {name: Huge, requests: 100000000}
apis:
  - name: Orders
    context: /orders
    version: v1
    endpoint: http://127.0.0.1:8081/api
    sandbox_endpoint: http://127.0.0.1:8082/api
    security: [oauth2, api_key]
    in_sequence: TokenExchange
    resources:
      - {target: /items, verbs: [GET, POST]}
      - {target: "/items/{id}", verbs: [GET, PUT, DELETE], scopes: [read]}
      - {target: /public/*, verbs: [GET], auth_type: None}
"""

TOKEN_EXCHANGE = """\
<sequence xmlns="http://ws.apache.org/ns/synapse" name="TokenExchange">
    <property name="Custom" expression="get-property('transport', 'Custom')"/>
    <property name="Authorization" expression="get-property('Custom')" scope="transport"/>
    <property name="Custom" scope="transport" action="remove"/>
</sequence>
"""

HEADERS = [
    (b"Host", b"gateway.local:8243"),
    (b"User-Agent", b"curl/8.5.0"),
    (b"Accept", b"*/*"),
    (b"Custom", b"Bearer 1234"),
    (b"Origin", b"https://ui.example.com"),
]


def timed(label: str, count: int, action: Callable[[], object]) -> None:
    for _ in range(min(200, count)):
        action()
    start = time.perf_counter()
    for _ in range(count):
        action()
    elapsed = time.perf_counter() - start
    print(f"{label:<44} {elapsed / count * 1e6:9.1f} us/request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per case")
    count = parser.parse_args().requests

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "sequences").mkdir()
        (root / "sequences" / "TokenExchange.xml").write_text(TOKEN_EXCHANGE)
        (root / "gateway.yaml").write_text(CONFIG)
        create_key_pair(root / "keys", "wso2carbon")
        with Registry(root / "gateway.db", create=True) as registry:
            registry.create_application("App")
            registry.subscribe("App", "Orders", "v1", tier="Huge")
            opaque = registry.issue_token("App", scopes=("read",))
            api_key = registry.issue_api_key("App")
            token = issue_jwt(
                registry,
                "App",
                signing_key=root / "keys" / "wso2carbon.key",
                issuer=DEFAULT_ISSUER,
                scopes=("read",),
            )
        config = load_config(root / "gateway.yaml")
        store = TokenStore(root / "gateway.db")
        plain = pipeline.Runtime()
        signer = BackendJwtSigner(config.backend_jwt)
        with_jwt = pipeline.Runtime(backend_jwt=signer)

        def run(path: str, extra: list[tuple[bytes, bytes]], runtime=plain) -> None:
            headers = TransportHeaders.from_fields(HEADERS + extra)
            ctx = MessageContext(headers=headers, method="GET", to=path)
            pipeline.process(config, store, ctx, path, pipeline.Outcome(), runtime)

        def fail() -> None:
            headers = TransportHeaders.from_fields(HEADERS)
            ctx = MessageContext(headers=headers, method="GET", to="/orders/v1/items")
            try:
                pipeline.process(
                    config, store, ctx, "/orders/v1/items", pipeline.Outcome(), plain
                )
            except GatewayError as e:
                error_response(headers, e, ctx=ctx)

        bearer = [(b"Authorization", f"Bearer {opaque}".encode())]
        jwt_bearer = [(b"Authorization", f"Bearer {token}".encode())]
        print(f"{count} requests per case, Python pipeline only (no proxy, no network)")
        timed(
            "edge checks (path, headers, body size)",
            count,
            lambda: (
                edge.check_path("/orders/v1/items/7?x=1"),
                edge.check_headers(HEADERS + bearer, config.limits),
            ),
        )
        clients = iter(range(10**9))

        def anonymous() -> None:
            # A new client address each time: the Unauthenticated tier allows 500 a minute.
            n = next(clients)
            address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}".encode()
            run("/orders/v1/public/a", [(b"X-Forwarded-For", address)])

        timed("auth None resource (/public/*)", count, anonymous)
        timed(
            "opaque token, template resource",
            count,
            lambda: run("/orders/v1/items/7", bearer),
        )
        timed(
            "API key header",
            count,
            lambda: run("/orders/v1/items", [(b"ApiKey", api_key.encode())]),
        )
        timed(
            "JWT access token (RS256 verify)",
            count,
            lambda: run("/orders/v1/items/7", jwt_bearer),
        )
        timed(
            "opaque token + backend JWT (RS256 sign)",
            count,
            lambda: run("/orders/v1/items/7", bearer, with_jwt),
        )
        timed("missing credentials, 401 answer built", count, fail)
        store.close()


if __name__ == "__main__":
    main()
