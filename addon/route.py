"""Build the backend request: endpoint URL plus the rest of the path, WSO2's way.

Synapse appends `REST_URL_POSTFIX` (the request path after the context and version,
query included) to the endpoint URL with these slash rules:

- endpoint without a trailing `/` and postfix starting with neither `/` nor `?`: insert `/`;
- both have a `/`: drop one;
- endpoint ending in `/` and postfix starting with `?`: drop the endpoint's `/`;
- otherwise plain concatenation; an empty or removed postfix leaves the endpoint as is.
"""

from __future__ import annotations

from .config import Endpoint


def join_postfix(base: str, postfix: str | None) -> str:
    """Join an endpoint path and a REST_URL_POSTFIX with Synapse's slash rules."""
    if not postfix:
        return base
    base_slash = base.endswith("/")
    if base_slash and postfix.startswith("/"):
        return base + postfix[1:]
    if base_slash and postfix.startswith("?"):
        return base[:-1] + postfix
    if not base_slash and not postfix.startswith(("/", "?")):
        return base + "/" + postfix
    return base + postfix


def backend_path(endpoint: Endpoint, postfix: str | None) -> str:
    """Return the path and query to request from `endpoint`."""
    path = join_postfix(endpoint.path, postfix)
    if not path.startswith("/"):
        path = "/" + path
    return path


def backend_url(endpoint: Endpoint, postfix: str | None) -> str:
    """Return the full backend URL, for logs and traces."""
    default_port = 443 if endpoint.scheme == "https" else 80
    netloc = endpoint.host if endpoint.port == default_port else f"{endpoint.host}:{endpoint.port}"
    if ":" in endpoint.host and not endpoint.host.startswith("["):
        netloc = f"[{endpoint.host}]" if endpoint.port == default_port else f"[{endpoint.host}]:{endpoint.port}"
    return f"{endpoint.scheme}://{netloc}{backend_path(endpoint, postfix)}"
