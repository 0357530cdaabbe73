"""Find the API and the resource a request is for, as Synapse and WSO2's CORS handler do.

API: an API matches when the request path equals its versioned context or continues it
with `/` or `?`; so `/testcustomheader/1.0.0x` does not match `/testcustomheader/1.0.0`.
An API marked `default_version` also matches at its context without the version (WSO2
deploys a second API there that loops back to the versioned one). When several
contexts match, the longest wins.

Resource (CORSRequestHandler): the candidates are the resources whose verbs include the
request method, or, for `OPTIONS`, the `Access-Control-Request-Method`. Among them
Synapse's dispatchers elect one (see resources). When none is elected, WSO2 4.x sends
405 `Method not allowed for given API resource` if some resource of any verb matches the
path, else 404 `No matching resource found for given API Request`, both through the
`_resource_mismatch_handler_` and `fault` sequences. When the CORS handler is not
engaged (CORS disabled) and in 3.x, the authentication handler fails instead, with
403 and code 900906.
"""

from __future__ import annotations

from dataclasses import dataclass

from .auth import AuthFailure
from .config import ApiConfig, GatewayConfig
from .context import MessageContext
from .errors import GatewayError
from .resources import Resource, ResourceMatch, acceptable_order, find_resource

RESOURCE_NOT_FOUND = "No matching resource found for given API Request"
METHOD_NOT_ALLOWED = "Method not allowed for given API resource"
INCORRECT_RESOURCE = "900906"
INCORRECT_RESOURCE_MESSAGE = (
    "No matching resource found in the API for the given request"
)


@dataclass(slots=True)
class Match:
    """The API elected for a request and the rest of its path."""

    # Not frozen: a frozen dataclass sets each field through object.__setattr__, which
    # makes building one per request cost several times as much.
    api: ApiConfig
    postfix: str
    default_version: bool = False

    @property
    def context(self) -> str:
        return (
            self.api.default_context if self.default_version else self.api.full_context
        )


def select_api(config: GatewayConfig, path: str) -> Match | None:
    """Return the API for request path `path` (query included), or None."""
    for context, api, is_default in sorted_contexts(config):
        if context == "/":
            return Match(api, path if path != "/" else "", is_default)
        if path.startswith(context):
            rest = path[len(context) :]
            if not rest or rest[0] in "/?":
                return Match(api, rest, is_default)
    return None


_sorted_cache: dict[int, tuple[tuple[str, ApiConfig, bool], ...]] = {}


def sorted_contexts(config: GatewayConfig) -> tuple[tuple[str, ApiConfig, bool], ...]:
    """Return (context, API, is default version) for every served context, longest first.

    Computed once per config snapshot.
    """
    cached = _sorted_cache.get(config.generation)
    if cached is None:
        entries = [(api.full_context, api, False) for api in config.apis]
        entries += [
            (api.default_context, api, True)
            for api in config.apis
            if api.default_version
        ]
        cached = tuple(sorted(entries, key=lambda entry: len(entry[0]), reverse=True))
        _sorted_cache.clear()
        _sorted_cache[config.generation] = cached
    return cached


def sorted_apis(config: GatewayConfig) -> tuple[ApiConfig, ...]:
    """Return the APIs of `config`, longest context first."""
    return tuple(
        api for _, api, is_default in sorted_contexts(config) if not is_default
    )


def sub_path(postfix: str) -> str:
    """Return the path after the context as the resource dispatchers see it (`/` when empty)."""
    if not postfix or postfix.startswith("?"):
        return "/" + postfix
    return postfix


def elect_resource(
    ctx: MessageContext, api: ApiConfig, postfix: str
) -> ResourceMatch | None:
    """Return the resource elected for the request, or None when nothing matches."""
    method = ctx.method
    requested_method = method
    if method == "OPTIONS":
        requested = ctx.headers.get("Access-Control-Request-Method")
        requested_method = requested if isinstance(requested, str) else method
    candidates = [
        r
        for r in acceptable_order(api.resources)
        if r.allows(method) or r.allows(requested_method)
    ]
    return find_resource(candidates, sub_path(postfix)) if candidates else None


def resource_mismatch(
    ctx: MessageContext, api: ApiConfig, postfix: str, *, cors_handler: bool
) -> GatewayError:
    """Build the error WSO2 sends when no resource is elected."""
    if not cors_handler:
        ctx.record(
            "dispatch", f"no resource of {api.label} matches: {INCORRECT_RESOURCE}"
        )
        detail = (
            f"Access failure for API: {api.full_context}, version: {api.version} "
            f"status: ({INCORRECT_RESOURCE}) - {INCORRECT_RESOURCE_MESSAGE}"
        )
        return AuthFailure(
            INCORRECT_RESOURCE, detail, message=INCORRECT_RESOURCE_MESSAGE
        )
    path_matches = find_resource(list(api.resources), sub_path(postfix)) is not None
    status, message = (
        (405, METHOD_NOT_ALLOWED) if path_matches else (404, RESOURCE_NOT_FOUND)
    )
    ctx.properties["CUSTOM_HTTP_SC"] = status
    ctx.properties["ERROR_CODE"] = status
    ctx.properties["ERROR_MESSAGE"] = message
    ctx.record("dispatch", f"{ctx.method} {sub_path(postfix)}: {status} {message}")
    return GatewayError(
        str(status),
        "Runtime Error",
        message,
        status,
        handler="_resource_mismatch_handler_",
    )


def describe_resource(resource: Resource) -> str:
    return f"{resource.kind} {resource.target} [{','.join(resource.verbs)}]"
