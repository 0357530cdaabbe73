"""API resources: how a resource path is compiled and matched, as Synapse does it.

WSO2's API template turns a publisher resource path into a Synapse resource:

- a path containing `{`, or containing `*` without ending in `/*`, becomes a
  `uri-template`;
- anything else (`/orders`, `/*`, `/orders/*`) becomes a `url-mapping`.

Synapse's URL-mapping dispatcher looks, over all candidate resources, first for an exact
match (query ignored, a trailing `/` trimmed), then for the longest path prefix of a
`/x/*` mapping (`/*` matches everything); its extension mappings (`*.ext`) cannot come
from a publisher path, which the rule above makes a template. Its
URI-template dispatcher then takes the first template, in resource order, that matches
the whole sub-path: `{var}` is one path segment, `{+var}` may span segments, a
trailing `/` on the request is tolerated, and a `?query` is ignored unless the template
has a query part. Captured values become the properties `uri.var.<name>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .fields import FieldReader

HTTP_VERBS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")

# An API that declares no resources gets one `/*` resource with these verbs. OPTIONS
# is left out so that the gateway answers CORS preflights itself, as it does for the
# resources WSO2's publisher creates by default.
DEFAULT_VERBS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")

AUTH_TYPES = (
    "Application & Application User",
    "Application",
    "Application User",
    "Any",
    "None",
)
NO_AUTH = "None"

RESOURCE_FIELDS = ("target", "verbs", "verb", "auth_type", "scopes", "throttling_tier")

_VARIABLE = re.compile(r"\{(\+?)([A-Za-z_][A-Za-z0-9_.\-]*)\}")


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource of an API, compiled once at load."""

    target: str
    verbs: tuple[str, ...]
    auth_type: str = "Application & Application User"
    scopes: tuple[str, ...] = ()
    throttling_tier: str | None = None
    kind: str = "url-mapping"
    pattern: re.Pattern[str] | None = None
    variables: tuple[str, ...] = ()
    has_query: bool = False
    source_line: int | None = field(default=None, compare=False)

    @property
    def needs_auth(self) -> bool:
        return self.auth_type != NO_AUTH

    @property
    def options_only(self) -> bool:
        return self.verbs == ("OPTIONS",)

    def allows(self, verb: str) -> bool:
        return verb in self.verbs


def compile_resource(
    target: str,
    verbs: tuple[str, ...],
    auth_type: str = "Application & Application User",
    scopes: tuple[str, ...] = (),
    throttling_tier: str | None = None,
    source_line: int | None = None,
) -> Resource:
    """Compile `target` into a url-mapping or a uri-template resource."""
    if "{" in target or ("*" in target and not target.endswith("/*")):
        pattern, variables, has_query = _template_pattern(target)
        kind = "uri-template"
    else:
        pattern, variables, has_query, kind = None, (), False, "url-mapping"
    return Resource(
        target,
        verbs,
        auth_type,
        scopes,
        throttling_tier,
        kind,
        pattern,
        variables,
        has_query,
        source_line,
    )


def _template_pattern(target: str) -> tuple[re.Pattern[str], tuple[str, ...], bool]:
    variables: list[str] = []
    parts: list[str] = []
    position = 0
    for match in _VARIABLE.finditer(target):
        parts.append(_literal(target[position : match.start()]))
        reserved, name = match.groups()
        variables.append(name)
        group = f"v{len(variables) - 1}"
        parts.append(f"(?P<{group}>.+)" if reserved else f"(?P<{group}>[^/?#&]+)")
        position = match.end()
    parts.append(_literal(target[position:]))
    has_query = "?" in target
    body = "".join(parts)
    if not has_query:
        # A trailing slash on the request is tolerated.
        body += "/?"
    return re.compile(body + r"\Z"), tuple(variables), has_query


def _literal(text: str) -> str:
    # `*` inside a template matches the rest of one segment.
    return "[^/?#]*".join(re.escape(piece) for piece in text.split("*"))


def parse_resources(file: str, api_owner: str, raw: Any) -> tuple[Resource, ...]:
    """Read an API's `resources` list; none at all means one `/*` resource for every verb."""
    if raw is None:
        return (compile_resource("/*", DEFAULT_VERBS),)
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f"{api_owner}: field 'resources' must be a non-empty list of resources",
            file=file,
            line=getattr(raw, "line", None),
        )
    return tuple(
        _parse_resource(file, f"{api_owner} resource {index}", entry)
        for index, entry in enumerate(raw, start=1)
    )


def _parse_resource(file: str, owner: str, raw: Any) -> Resource:
    reader = FieldReader(file, raw, owner, RESOURCE_FIELDS)
    target = reader.string("target", required=True)
    if not target.startswith("/"):
        raise reader.error("target", f"{target!r} must start with '/'")
    if any(c.isspace() for c in target) or "#" in target:
        raise reader.error("target", f"{target!r} must not contain spaces or '#'")
    if reader.has("verbs") and reader.has("verb"):
        raise reader.error("verb", "and 'verbs' are both set; use one of them")
    names = reader.string_list("verbs") or reader.string_list("verb")
    if not names:
        raise reader.error(
            "verbs", f"is missing; list one or more of {', '.join(HTTP_VERBS)}"
        )
    verbs = []
    for name in names:
        verb = name.upper()
        if verb not in HTTP_VERBS:
            raise reader.error(
                "verbs", f"contains {name!r}; accepted: {', '.join(HTTP_VERBS)}"
            )
        if verb not in verbs:
            verbs.append(verb)
    auth_type = reader.choice("auth_type", AUTH_TYPES, AUTH_TYPES[0])
    scopes = reader.string_list("scopes")
    tier = reader.string("throttling_tier")
    try:
        return compile_resource(
            target, tuple(verbs), auth_type, scopes, tier, getattr(raw, "line", None)
        )
    except re.error as e:
        raise reader.error(
            "target", f"{target!r} is not a valid template: {e}"
        ) from None


# Matching -----------------------------------------------------------------------


@dataclass(slots=True)
class ResourceMatch:
    """The resource elected for a request and the `uri.var.*` values it captured."""

    # Not frozen: a frozen dataclass sets each field through object.__setattr__, which
    # makes building one per request cost several times as much.
    resource: Resource
    variables: dict[str, str]


def _trim(path: str) -> str:
    if len(path) > 1 and path.endswith("/"):
        return path.rstrip("/") or "/"
    return path


def find_resource(candidates: list[Resource], sub_path: str) -> ResourceMatch | None:
    """Return the resource among `candidates` that Synapse's dispatchers pick for `sub_path`.

    `sub_path` is the request path after the API context, query included, `/` when empty.
    """
    path_only = sub_path.partition("?")[0] or "/"
    trimmed = _trim(path_only)

    # URL mappings: exact, then the longest prefix.
    for resource in candidates:
        if resource.kind == "url-mapping" and "*" not in resource.target:
            if _trim(resource.target) == trimmed:
                return ResourceMatch(resource, {})
    best: Resource | None = None
    best_length = -1
    for resource in candidates:
        target = resource.target
        if resource.kind != "url-mapping" or not target.endswith("/*"):
            continue
        prefix = target[:-2]
        if prefix == "" or path_only == prefix or path_only.startswith(prefix + "/"):
            if len(prefix) > best_length:
                best, best_length = resource, len(prefix)
    if best is not None:
        return ResourceMatch(best, {})

    # URI templates, in resource order.
    for resource in candidates:
        if resource.kind != "uri-template" or resource.pattern is None:
            continue
        subject = sub_path if resource.has_query else path_only
        match = resource.pattern.match(subject)
        if match is not None:
            values = {
                name: match.group(f"v{index}")
                for index, name in enumerate(resource.variables)
            }
            return ResourceMatch(resource, values)
    return None


def acceptable_order(resources: tuple[Resource, ...]) -> list[Resource]:
    """Return the resources with the OPTIONS-only ones first, as Synapse tries them."""
    return [r for r in resources if r.options_only] + [
        r for r in resources if not r.options_only
    ]
