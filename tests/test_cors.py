"""CORS values as WSO2's CORSRequestHandler sets them, per API and resource."""

from __future__ import annotations

from addon.config import ApiConfig
from addon.context import MessageContext
from addon.cors import ALLOW_HEADERS, ALLOW_METHODS, set_cors_properties
from addon.headers import TransportHeaders
from addon.resources import compile_resource
from addon.settings import CorsSettings


def api_with(cors: CorsSettings) -> ApiConfig:
    return ApiConfig(
        name="Orders",
        context="/orders",
        version="v1",
        endpoint=None,
        in_sequence=None,
        source="gateway.yaml",
        cors=cors,
    )


def properties_for(api: ApiConfig, *pairs: tuple[str, str]) -> dict:
    fields = tuple((n.encode(), v.encode()) for n, v in pairs)
    ctx = MessageContext(
        headers=TransportHeaders.from_fields(fields), method="GET", to="/orders/v1"
    )
    resource = compile_resource("/items", ("GET", "POST", "OPTIONS"))
    set_cors_properties(ctx, api, resource, enabled=True)
    return ctx.properties


def test_cors_values_follow_each_api_config():
    """A new config with other CORS settings gets its own values, as on WSO2."""
    first = api_with(CorsSettings(allow_headers=("X-A",), allow_methods=("GET",)))
    second = api_with(CorsSettings(allow_headers=("X-B",), allow_methods=("POST",)))

    for _ in range(2):
        first_values = properties_for(first)
        second_values = properties_for(second)

        assert first_values[ALLOW_HEADERS] == "X-A,Authorization,ApiKey"
        assert first_values[ALLOW_METHODS] == "GET"
        assert second_values[ALLOW_HEADERS] == "X-B,Authorization,ApiKey"
        assert second_values[ALLOW_METHODS] == "POST"


def test_cors_star_echoes_request_headers():
    """Allow-Headers `*` echoes each request's Access-Control-Request-Headers."""
    api = api_with(CorsSettings(allow_headers=("*",)))

    requested = properties_for(api, ("Access-Control-Request-Headers", "X-One"))
    other = properties_for(api, ("Access-Control-Request-Headers", "X-Two"))
    none = properties_for(api)

    assert requested[ALLOW_HEADERS] == "X-One"
    assert other[ALLOW_HEADERS] == "X-Two"
    assert ALLOW_HEADERS not in none
