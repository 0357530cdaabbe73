"""Find the API a request is for, by context and version, as Synapse does.

An API matches when the request path equals its versioned context or continues it
with `/` or `?`; so `/testcustomheader/1.0.0x` does not match `/testcustomheader/1.0.0`.
When several contexts match, the longest wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ApiConfig, GatewayConfig


@dataclass(frozen=True, slots=True)
class Match:
    """The API elected for a request and the rest of its path."""

    api: ApiConfig
    postfix: str


def select_api(config: GatewayConfig, path: str) -> Match | None:
    """Return the API for request path `path` (query included), or None."""
    for api in sorted_apis(config):
        context = api.full_context
        if path.startswith(context):
            rest = path[len(context) :]
            if not rest or rest[0] in "/?":
                return Match(api, rest)
    return None


_sorted_cache: dict[int, tuple[ApiConfig, ...]] = {}


def sorted_apis(config: GatewayConfig) -> tuple[ApiConfig, ...]:
    """Return the APIs of `config`, longest context first, computed once per config."""
    cached = _sorted_cache.get(config.generation)
    if cached is None:
        cached = tuple(sorted(config.apis, key=lambda api: len(api.full_context), reverse=True))
        _sorted_cache.clear()
        _sorted_cache[config.generation] = cached
    return cached
