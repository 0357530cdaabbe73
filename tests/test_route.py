"""Synapse's rules for joining the endpoint URL and REST_URL_POSTFIX."""

import pytest

from addon.config import Endpoint
from addon.route import backend_url, join_postfix


@pytest.mark.parametrize(
    ("base", "postfix", "joined"),
    [
        ("/api", "/orders", "/api/orders"),
        ("/api/", "/orders", "/api/orders"),
        ("/api", "orders", "/api/orders"),
        ("/api/", "orders", "/api/orders"),
        ("/api/", "?x=1", "/api?x=1"),
        ("/api", "?x=1", "/api?x=1"),
        ("/api", "", "/api"),
        ("/api", None, "/api"),
        ("", "/orders?x=1", "/orders?x=1"),
    ],
)
def test_join_postfix_slash_rules(base, postfix, joined):
    """Axis2FlexibleMEPClient: insert one slash, drop a doubled one, drop it before '?'."""
    assert join_postfix(base, postfix) == joined


def test_backend_url_keeps_explicit_port_and_default_root():
    endpoint = Endpoint.parse("http://127.0.0.1:9090")
    assert backend_url(endpoint, "") == "http://127.0.0.1:9090/"
    assert backend_url(endpoint, "/a?b=1") == "http://127.0.0.1:9090/a?b=1"
    assert backend_url(Endpoint.parse("https://example.test/x/"), "/y") == "https://example.test/x/y"


@pytest.mark.parametrize("url", ["ftp://host/", "http:///nohost", "localhost:9090", "http://h/#f"])
def test_endpoint_rejects_non_http_urls(url):
    with pytest.raises(ValueError):
        Endpoint.parse(url)
