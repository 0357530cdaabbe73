"""The gateway configuration: APIs from a YAML file, sequences from a folder.

`load_config` builds one immutable snapshot and validates all of it before anything
uses it; an invalid file raises ConfigError naming the file, the line, the API and the
field. Paths in the file are relative to the file.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .access_rate import MaxTps, parse_max_tps
from .blocking import BlockingConditions, check_api_contexts, parse_blocking_conditions
from .context import add_secret_headers
from .endpoint_groups import EndpointGroup, parse_api_groups
from .endpoint_oauth import OAuthSecurity
from .errors import ConfigError, ConfigErrors
from .fields import FieldReader, line_of
from .mediation.library import SequenceLibrary, display_path
from .mediation.mediators import Sequence
from .resources import Resource, parse_resources
from .settings import (
    BackendJwtSettings,
    CorrelationSettings,
    CorsSettings,
    EndpointSecurity,
    KeyManager,
    Limits,
    parse_backend_jwt,
    parse_correlation,
    parse_cors,
    parse_endpoint_security,
    parse_key_managers,
    parse_limits,
)
from .tiers import TierTable, parse_tiers

API_FIELDS = (
    "name",
    "context",
    "version",
    "endpoint",
    "production_endpoint",
    "sandbox_endpoint",
    "endpoint_security",
    "endpoint_type",
    "failover",
    "production_failovers",
    "sandbox_failovers",
    "in_sequence",
    "out_sequence",
    "fault_sequence",
    "default_version",
    "security",
    "auth_header",
    "api_key_header",
    "throttling_tier",
    "max_tps",
    "cors",
    "resources",
    "scopes",
)
REQUIRED_API_FIELDS = ("name", "context", "version")
TOP_LEVEL_FIELDS = (
    "apis",
    "cors",
    "throttling",
    "key_managers",
    "backend_jwt",
    "limits",
    "correlation",
    "blocking_conditions",
)
SECURITY_SCHEMES = ("oauth2", "basic_auth", "api_key")
SCOPE_FIELDS = ("name", "roles")
SEQUENCE_FIELDS = ("in_sequence", "out_sequence", "fault_sequence")

_generations = itertools.count(1)


class _Mapping(dict):
    """A YAML mapping that remembers the line of each key."""

    lines: dict[str, int]
    line: int


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _Mapping:
        mapping = _Mapping(super().construct_mapping(node, deep=deep))
        mapping.line = node.start_mark.line + 1
        mapping.lines = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str):
                if key in mapping.lines:
                    # YAML would keep the last value without a word; one of the two
                    # settings is surely a mistake.
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} (first at line {mapping.lines[key]})",
                        key_node.start_mark,
                    )
                mapping.lines[key] = key_node.start_mark.line + 1
        return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping
)


def _line(mapping: Any, key: str | None = None) -> int | None:
    if isinstance(mapping, _Mapping):
        if key is not None and key in mapping.lines:
            return mapping.lines[key]
        return mapping.line
    return None


def redact_url(url: str) -> str:
    """Return `url` with the password of its user:password part, if any, masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
    return parts._replace(netloc=netloc).geturl()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A backend URL, split once at load."""

    url: str
    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("is not an http:// or https:// URL with a host")
        if parts.fragment:
            raise ValueError("must not contain a #fragment")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "must not contain user:password; WSO2 sends backend credentials from "
                "endpoint_security (type: basic), so put them there"
            )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = parts.path
        if parts.query:
            path += "?" + parts.query
        return cls(url, parts.scheme, parts.hostname, port, path)


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """One API as the gateway serves it."""

    name: str
    context: str
    version: str
    endpoint: Endpoint | None
    in_sequence: Sequence | None
    source: str
    sandbox_endpoint: Endpoint | None = None
    endpoint_security: EndpointSecurity | OAuthSecurity | None = None
    default_version: bool = False
    security: tuple[str, ...] = ("oauth2",)
    auth_header: str = "Authorization"
    api_key_header: str = "ApiKey"
    throttling_tier: str | None = None
    cors: CorsSettings = CorsSettings()
    resources: tuple[Resource, ...] = ()
    # The API's scopes and the user roles bound to each, as the Publisher defines
    # them. Basic-auth callers pass a scope through a role.
    scope_roles: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def production_endpoint(self) -> Endpoint | None:
        """The production endpoint; `endpoint` and `production_endpoint` name the same."""
        return self.endpoint
    out_sequence: Sequence | None = None
    fault_sequence: Sequence | None = None
    max_tps: MaxTps | None = None
    # Load-balance or failover endpoints. `endpoint` and `sandbox_endpoint` are then
    # their first members.
    production_group: EndpointGroup | None = None
    sandbox_group: EndpointGroup | None = None
    # Derived once from the fields above, because every request reads them.
    _full_context: str = field(default="", init=False, repr=False, compare=False)
    _label: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        full_context = versioned_context(self.context, self.version)
        object.__setattr__(self, "_full_context", full_context)
        object.__setattr__(self, "_label", f"{self.name}:v{self.version}")

    def group_for(self, key_type: str) -> EndpointGroup | None:
        """Return the load-balance or failover endpoint of `key_type`, if any."""
        return self.sandbox_group if key_type == "SANDBOX" else self.production_group

    @property
    def full_context(self) -> str:
        """The context with the version in place, e.g. /testcustomheader/1.0.0."""
        return self._full_context

    @property
    def default_context(self) -> str:
        """The context without the version, where a default version is also served."""
        if "{version}" in self.context:
            return self.context.replace("/{version}", "").replace("{version}", "") or "/"
        return self.context.rstrip("/") or "/"

    @property
    def label(self) -> str:
        """The API's name as Synapse names it, e.g. TestCustomHeader:v1.0.0."""
        return self._label


def versioned_context(context: str, version: str) -> str:
    """Put the version into a context as WSO2's publisher does.

    A context with a `{version}` placeholder gets the version there; any other context
    gets `/{version}` appended.
    """
    if "{version}" in context:
        return context.replace("{version}", version)
    return context.rstrip("/") + "/" + version


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """One validated snapshot of the configuration."""

    path: Path
    sequences_folder: Path
    apis: tuple[ApiConfig, ...]
    sequences: SequenceLibrary
    generation: int
    cors: CorsSettings = CorsSettings()
    tiers: TierTable = parse_tiers("", None)
    key_managers: tuple[KeyManager, ...] = ()
    backend_jwt: BackendJwtSettings = BackendJwtSettings()
    limits: Limits = Limits()
    correlation: CorrelationSettings = CorrelationSettings()
    blocking: BlockingConditions = BlockingConditions()

    def describe(self) -> str:
        """Return a one-line summary of the loaded APIs and sequences."""
        apis = ", ".join(
            f"{api.label} at {api.full_context} -> "
            + (api.endpoint.url if api.endpoint else "(no production endpoint)")
            + (f" (in: {api.in_sequence.name})" if api.in_sequence else "")
            for api in self.apis
        )
        names = ", ".join(sorted(self.sequences.by_name)) or "none"
        return (
            f"{len(self.apis)} API(s): {apis or 'none'}; "
            f"{len(self.sequences)} sequence(s) from {display_path(self.sequences_folder)}: "
            f"{names}"
        )


def _api_error(file: str, api: Any, name: str | None, field: str, message: str) -> ConfigError:
    which = f"API {name!r}" if name else "API"
    return ConfigError(f"{which}: field {field!r} {message}", file=file, line=_line(api, field))


def _string_field(file: str, api: Any, name: str | None, field: str) -> str | None:
    value = api.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        hint = ""
        if field == "version":
            hint = f"; quote it: version: \"{value}\""
        raise _api_error(
            file, api, name, field, f"must be a string, not {type(value).__name__} {value!r}{hint}"
        )
    if not value.strip():
        raise _api_error(file, api, name, field, "must not be empty")
    return value


def _parse_api(
    file: str,
    api: Any,
    sequences: SequenceLibrary,
    cors: CorsSettings | None = None,
    tiers: TierTable | None = None,
) -> ApiConfig:
    if not isinstance(api, dict):
        raise ConfigError(
            f"each entry of 'apis' must be a mapping, not {type(api).__name__}",
            file=file,
            line=_line(api),
        )
    raw_name = api.get("name")
    name = raw_name if isinstance(raw_name, str) else None
    for key in api:
        if key not in API_FIELDS:
            raise _api_error(
                file, api, name, str(key), f"is unknown; accepted fields: {', '.join(API_FIELDS)}"
            )
    for key in REQUIRED_API_FIELDS:
        if key not in api:
            raise ConfigError(
                f"API {name!r}: field {key!r} is missing" if name else f"API: field {key!r} is missing",
                file=file,
                line=_line(api),
            )
    name = _string_field(file, api, name, "name")
    context = _string_field(file, api, name, "context")
    version = _string_field(file, api, name, "version")
    # _string_field returns None only for an absent field, and these are required.
    assert name is not None
    assert context is not None
    assert version is not None

    if not context.startswith("/"):
        raise _api_error(file, api, name, "context", f"{context!r} must start with '/'")
    if "?" in context or "#" in context or " " in context:
        raise _api_error(file, api, name, "context", f"{context!r} must be a plain path")
    if "/" in version or " " in version:
        raise _api_error(file, api, name, "version", f"{version!r} must not contain '/' or spaces")

    groups = parse_api_groups(file, api, name, version)
    if groups is None:
        endpoint, sandbox = _parse_endpoints(file, api, name)
        groups = (None, None)
    else:
        endpoint, sandbox = (group.members[0] if group else None for group in groups)
        if endpoint is None and sandbox is None:
            raise _api_error(
                file, api, name, "endpoint_type",
                "needs 'production_endpoint' and/or 'sandbox_endpoint'",
            )

    sequences_of: dict[str, Sequence | None] = {}
    for field in SEQUENCE_FIELDS:
        sequences_of[field] = _sequence_field(file, api, name, field, sequences)

    owner = f"API {name!r}"
    reader = FieldReader(file, api, owner, API_FIELDS)
    security = reader.string_list("security", ("oauth2",))
    for scheme in security:
        if scheme not in SECURITY_SCHEMES:
            raise reader.error(
                "security", f"contains {scheme!r}; accepted: {', '.join(SECURITY_SCHEMES)}"
            )
    if not security:
        raise reader.error("security", "must name at least one scheme")
    if len(set(security)) != len(security):
        raise reader.error("security", f"names a scheme twice: {list(security)}")
    auth_header = reader.string("auth_header", "Authorization")
    api_key_header = reader.string("api_key_header", "ApiKey")
    for field_name, header in (("auth_header", auth_header), ("api_key_header", api_key_header)):
        if not _is_token(header):
            raise reader.error(field_name, f"{header!r} is not a valid header name")
    resources = parse_resources(file, owner, api.get("resources"))
    table = tiers or parse_tiers(file, None)
    api_tier = reader.string("throttling_tier")
    _check_tier(reader, "throttling_tier", api_tier, table, "api")
    for index, resource in enumerate(resources, start=1):
        if resource.throttling_tier is not None and table.get("api", resource.throttling_tier) is None:
            raise ConfigError(
                f"{owner} resource {index}: field 'throttling_tier' names unknown tier "
                f"{resource.throttling_tier!r}; known: {', '.join(table.names('api'))}",
                file=file,
                line=resource.source_line,
            )
    return ApiConfig(
        name=name,
        context=context,
        version=version,
        endpoint=endpoint,
        in_sequence=sequences_of["in_sequence"],
        source=f"{file}:{_line(api)}",
        sandbox_endpoint=sandbox,
        endpoint_security=parse_endpoint_security(file, owner, api.get("endpoint_security")),
        default_version=reader.boolean("default_version", False),
        security=security,
        auth_header=auth_header,
        api_key_header=api_key_header,
        throttling_tier=api_tier,
        cors=parse_cors(file, api.get("cors"), f"{owner} cors", cors or CorsSettings()),
        resources=resources,
        scope_roles=parse_scope_roles(file, owner, api),
        out_sequence=sequences_of["out_sequence"],
        fault_sequence=sequences_of["fault_sequence"],
        max_tps=parse_max_tps(
            file, owner, api.get("max_tps"), line=line_of(api, "max_tps")
        ),
        production_group=groups[0],
        sandbox_group=groups[1],
    )


def _sequence_field(
    file: str, api: Any, name: str, field: str, sequences: SequenceLibrary
) -> Sequence | None:
    sequence_name = _string_field(file, api, name, field)
    if sequence_name is None:
        return None
    sequence = sequences.get(sequence_name)
    if sequence is None:
        known = ", ".join(sorted(sequences.by_name)) or "none"
        raise _api_error(
            file,
            api,
            name,
            field,
            f"names sequence {sequence_name!r}, which is not in "
            f"{display_path(sequences.folder)} (found: {known})",
        )
    return sequence


def parse_scope_roles(
    file: str, owner: str, api: Any
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Read an API's `scopes`: a list of `{name, roles}`, as the Publisher binds them."""
    raw = api.get("scopes")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(
            f"{owner}: field 'scopes' must be a list of {{name, roles}} mappings, "
            f"not {raw!r}",
            file=file,
            line=line_of(api, "scopes"),
        )
    found: dict[str, tuple[str, ...]] = {}
    for index, entry in enumerate(raw, start=1):
        reader = FieldReader(file, entry, f"{owner} scope {index}", SCOPE_FIELDS)
        name = reader.string("name", required=True)
        if name in found:
            raise reader.error("name", f"{name!r} is defined twice")
        found[name] = reader.string_list("roles")
    return tuple(found.items())


def _is_token(name: str) -> bool:
    return all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name)


def _check_tier(reader: FieldReader, field: str, name: str | None, tiers: TierTable, level: str) -> None:
    if name is not None and tiers.get(level, name) is None:
        raise reader.error(field, f"names unknown tier {name!r}; known: {', '.join(tiers.names(level))}")


def _parse_endpoints(file: str, api: Any, name: str) -> tuple[Endpoint | None, Endpoint | None]:
    """Read `endpoint`/`production_endpoint` and `sandbox_endpoint`; one at least is needed."""
    if "endpoint" in api and "production_endpoint" in api:
        raise _api_error(
            file, api, name, "production_endpoint",
            "and 'endpoint' are both set; they name the same production endpoint",
        )
    parsed: dict[str, Endpoint | None] = {}
    for field_name in ("endpoint", "production_endpoint", "sandbox_endpoint"):
        url = _string_field(file, api, name, field_name)
        if url is None:
            parsed[field_name] = None
            continue
        try:
            parsed[field_name] = Endpoint.parse(url)
        except ValueError as e:
            raise _api_error(
                file, api, name, field_name, f"{redact_url(url)!r} {e}"
            ) from None
    production = parsed["endpoint"] or parsed["production_endpoint"]
    if production is None and parsed["sandbox_endpoint"] is None:
        raise ConfigError(
            f"API {name!r}: field 'endpoint' is missing (or give 'production_endpoint' "
            "and/or 'sandbox_endpoint')",
            file=file,
            line=_line(api),
        )
    return production, parsed["sandbox_endpoint"]


def read_yaml(path: Path) -> Any:
    """Read a YAML file, keeping line numbers on mappings."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file not found", file=shown, hint="create it or set the gateway_config option"
        ) from None
    except OSError as e:
        raise ConfigError(f"cannot read file: {e.strerror}", file=shown) from None
    return parse_yaml(text, shown, _LineLoader)


def parse_yaml(text: str, shown: str, loader: type[yaml.SafeLoader]) -> Any:
    """Parse YAML `text` with `loader`, a SafeLoader subclass.

    Raises ConfigError at the line and column of a syntax error; errors name the file
    as `shown`.
    """
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        raise ConfigError(
            f"invalid YAML: {e.problem}",
            file=shown,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", file=shown) from None


def default_sequences_folder(config_path: Path) -> Path:
    return config_path.parent / "sequences"


def default_database(config_path: Path) -> Path:
    return config_path.parent / "gateway.db"


def load_config(path: Path, sequences_folder: Path | None = None) -> GatewayConfig:
    """Load and validate the config at `path` and the sequences it uses.

    Raises ConfigError, or ConfigErrors when there are several problems.
    """
    config, errors = check_config(path, sequences_folder)
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    assert config is not None
    return config


def check_config(
    path: Path, sequences_folder: Path | None = None
) -> tuple[GatewayConfig | None, list[ConfigError]]:
    """Load the config at `path` and its sequences, collecting every problem found.

    Each sequence file, each top-level section and each API is checked on its own, so
    one broken part does not hide the problems of the others. Within one of them,
    checking stops at its first problem. Returns the config (None if there was any
    problem) and the problems: a config file that cannot be read at all first, then
    the problems of the sequence files, then those of the config file.
    """
    shown = display_path(path)
    errors: list[ConfigError] = []
    folder = sequences_folder or default_sequences_folder(path)
    sequences, sequence_errors = SequenceLibrary.load(folder)
    broken = {
        Path(e.file).stem for e in sequence_errors if e.file and e.file.endswith(".xml")
    }

    try:
        document, apis_raw = _read_document(path, shown, errors)
    except ConfigError as e:
        return None, [e, *sequence_errors]

    base = path.parent

    def section(parse: Any, *args: Any) -> Any:
        try:
            return parse(*args)
        except ConfigError as e:
            errors.append(e)
            return None

    cors = section(parse_cors, shown, document.get("cors"), "cors", CorsSettings())
    tiers = section(parse_tiers, shown, document.get("throttling"))
    key_managers = section(parse_key_managers, shown, base, document.get("key_managers"))
    backend_jwt = section(parse_backend_jwt, shown, base, document.get("backend_jwt"))
    limits = section(parse_limits, shown, document.get("limits"))
    correlation = section(parse_correlation, shown, document.get("correlation"))
    blocking = section(
        parse_blocking_conditions, shown, document.get("blocking_conditions")
    )
    if cors is None or tiers is None:
        # The APIs are checked against these sections; without them, stop here.
        return None, [*sequence_errors, *errors]

    # apictl projects are built from the pieces of this module, hence the late import.
    from .apictl import load_project

    apis: list[ApiConfig] = []
    seen: dict[str, ApiConfig] = {}
    for raw in apis_raw:
        try:
            if isinstance(raw, dict) and "project" in raw:
                api = load_project(shown, raw, base, sequences, cors, tiers)
            else:
                checked = _without_broken_sequence(shown, raw, broken, errors)
                api = _parse_api(shown, checked, sequences, cors, tiers)
        except ConfigError as e:
            errors.extend(getattr(e, "errors", [e]))
            continue
        keys = [api.full_context]
        if api.default_version:
            keys.append(api.default_context)
        clash = next((key for key in keys if key in seen), None)
        if clash is not None:
            errors.append(
                ConfigError(
                    f"API {api.name!r} is served at {clash}, as {seen[clash].name!r} is "
                    f"(defined at {seen[clash].source}); a context and version, or a "
                    "default version, may belong to one API only",
                    file=shown,
                    line=_line(raw),
                )
            )
            continue
        for key in keys:
            seen[key] = api
        apis.append(api)
    if blocking is not None and len(apis) == len(apis_raw):
        # Checked only when every API loaded: a broken API would look unserved.
        served = {api.full_context: api.name for api in apis}
        errors.extend(check_api_contexts(shown, blocking, served))
    if sequence_errors or errors:
        return None, [*sequence_errors, *errors]
    # The trace masks the credential headers that this config names.
    add_secret_headers(
        [backend_jwt.header]
        + [name for api in apis for name in (api.auth_header, api.api_key_header)]
    )
    config = GatewayConfig(
        path=path,
        sequences_folder=folder,
        apis=tuple(apis),
        sequences=sequences,
        generation=next(_generations),
        cors=cors,
        tiers=tiers,
        key_managers=key_managers,
        backend_jwt=backend_jwt,
        limits=limits,
        correlation=correlation,
        blocking=blocking,
    )
    return config, []


def _read_document(
    path: Path, shown: str, errors: list[ConfigError]
) -> tuple[dict[str, Any], list[Any]]:
    """Return the file's top-level mapping and its `apis` list; add top-level problems to `errors`."""
    document = read_yaml(path)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError("the top level must be a mapping with an 'apis' list", file=shown, line=1)
    for key in document:
        if key not in TOP_LEVEL_FIELDS:
            errors.append(
                ConfigError(
                    f"unknown top-level field {key!r}; accepted: {', '.join(TOP_LEVEL_FIELDS)}",
                    file=shown,
                    line=_line(document, str(key)),
                )
            )
    if "apis" not in document:
        # An editor that truncates the file before writing it would otherwise put a
        # config without any API in force on hot reload.
        what = "the file is empty" if not document else "the file has no 'apis' key"
        errors.append(
            ConfigError(
                f"no 'apis' list: {what}",
                file=shown,
                line=1,
                hint="list the APIs under a top-level 'apis:' key, or write "
                "'apis: []' to serve none",
            )
        )
        return document, []
    apis_raw = document["apis"]
    if apis_raw is None:
        apis_raw = []
    if not isinstance(apis_raw, list):
        raise ConfigError("'apis' must be a list", file=shown, line=_line(document, "apis"))
    return document, apis_raw


def _without_broken_sequence(
    shown: str, api: Any, broken: set[str], errors: list[ConfigError]
) -> Any:
    """Return `api` without the sequence fields that name a sequence file that failed.

    The file's own problem is reported already; the API is still checked for the rest.
    """
    if not isinstance(api, _Mapping):
        return api
    failed = [field for field in SEQUENCE_FIELDS if api.get(field) in broken]
    if not failed:
        return api
    for field in failed:
        errors.append(
            _api_error(
                shown,
                api,
                api.get("name") if isinstance(api.get("name"), str) else None,
                field,
                f"names sequence {api.get(field)!r}, whose file failed to load (see its problem)",
            )
        )
    rest = _Mapping({k: v for k, v in api.items() if k not in failed})
    rest.line = api.line
    rest.lines = api.lines
    return rest
