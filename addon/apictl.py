"""Load a WSO2 `apictl` project folder as one API of the gateway config.

A `project: PATH` entry of `apis` points at the folder that `apictl export api` writes
and `apictl import api` reads. Both shapes are read, as YAML or JSON:

- 3.x: `Meta-information/api.yaml` is a flat dump of the API model (`id.apiName`,
  `id.version`, `contextTemplate`, `endpointConfig` as a JSON string, `apiSecurity` as
  a comma-separated string, `apiLevelPolicy`, `inSequence`...). The exporter empties
  the resources there; they come from `Meta-information/swagger.yaml`, whose
  operations carry `x-auth-type`, `x-throttling-tier` and `security` scopes.
- 4.x: `api.yaml` is `type: api` with the API under `data`: `context` without the
  version, `endpointConfig` as a mapping, `securityScheme` as a list,
  `apiThrottlingPolicy`, and `operations` with `verb`, `authType`, `throttlingPolicy`,
  `scopes` and (4.1+) `operationPolicies`. 4.0 lists its sequences in
  `mediationPolicies`. `maxTps` (`production`, `sandbox`) sets the backend hard limit.

WSO2's publisher appends `/{version}` to a context without a `{version}` placeholder,
and an unquoted `version: 1.10` is the string `1.10` to WSO2, so versions are read as
the text written in the file, never as numbers. Whatever matters to a gateway and is
not supported here (session affinity or an algorithm other than round robin for
load-balanced endpoints, mutual SSL, a non-HTTP API) is a load error naming the file,
line and field. Errors point into the project's files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .access_rate import MaxTps, parse_max_tps
from .apictl_policies import PolicyBuilder, load_project_sequence, sequences_v40
from .config import ApiConfig, Endpoint, parse_yaml, redact_url
from .endpoint_groups import (
    ENDPOINT_TYPES,
    FAILOVER,
    LOAD_BALANCE,
    ROUND_ROBIN_CLASS,
    EndpointGroup,
    group_name,
    parse_failover_flag,
)
from .endpoint_oauth import OAuthSecurity
from .errors import ConfigError
from .fields import FieldReader, line_of
from .mediation.base import Sequence
from .mediation.library import SequenceLibrary, display_path
from .resources import AUTH_TYPES, HTTP_VERBS, Resource, compile_resource
from .settings import CorsSettings, EndpointSecurity, parse_endpoint_security
from .tiers import TierTable

ENTRY_FIELDS = (
    "project",
    "endpoint",
    "production_endpoint",
    "sandbox_endpoint",
    "endpoint_security",
)
# Keys whose plain scalars stay the text written: `1.10` is not the number 1.1.
VERSION_KEYS = frozenset({"version", "policyVersion"})
SUPPORTED_SCHEMES = ("oauth2", "basic_auth", "api_key")
# `oauth_basic_auth_api_key_mandatory` means the application-level schemes must pass,
# which is the only way this gateway checks them.
SCHEME_FLAGS = ("oauth_basic_auth_api_key_mandatory",)
UNSUPPORTED_SCHEMES = {
    "mutualssl": "mutual SSL is not supported",
    "mutualssl_mandatory": "mutual SSL is not supported",
    "mutualssl_optional": "mutual SSL is not supported",
}
# The swagger's x-auth-type and 4.x authType values, and WSO2's internal names.
AUTH_TYPE_NAMES = {name: name for name in AUTH_TYPES} | {
    "Application_User": "Application User"
}
SERVED_STATUSES = ("CREATED", "PUBLISHED", "DEPRECATED", "PRE-RELEASED")


# Reading the files -------------------------------------------------------------------


class _Node(dict):
    """A mapping of a project file with the line and column of each key."""

    line: int
    column: int
    lines: dict[str, int]
    columns: dict[str, int]


class _ProjectLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _Node:
        self.flatten_mapping(node)
        mapping = _Node()
        mapping.line = node.start_mark.line + 1
        mapping.column = node.start_mark.column + 1
        mapping.lines, mapping.columns = {}, {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, "found an unhashable key", key_node.start_mark
                )
            if (
                key in VERSION_KEYS
                and isinstance(value_node, yaml.ScalarNode)
                and value_node.style is None
                and value_node.value not in ("", "~", "null", "Null", "NULL")
            ):
                value = value_node.value
            else:
                value = self.construct_object(value_node, deep=deep)
            mapping[key] = value
            if isinstance(key, str):
                mapping.lines[key] = key_node.start_mark.line + 1
                mapping.columns[key] = key_node.start_mark.column + 1
        return mapping


_ProjectLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _ProjectLoader.construct_mapping
)


@dataclass
class Document:
    """One YAML or JSON file of a project, with typed reads that name its lines."""

    project: Path
    path: Path
    shown: str
    data: Any

    def line(self, mapping: Any, key: str | None = None) -> int | None:
        return line_of(mapping, key)

    def error(self, mapping: Any, key: str | None, message: str) -> ConfigError:
        columns = getattr(mapping, "columns", {})
        column = (
            columns.get(key) if key is not None else getattr(mapping, "column", None)
        )
        return ConfigError(
            f"field {key!r} {message}" if key else message,
            file=self.shown,
            line=line_of(mapping, key),
            column=column,
        )

    def mapping(self, holder: Any, key: str, *, required: bool = False) -> Any:
        value = holder.get(key)
        if value is None:
            if required:
                raise self.missing(holder, key)
            return None
        if not isinstance(value, dict):
            raise self.error(
                holder, key, f"must be a mapping, not {type(value).__name__}"
            )
        return value

    def missing(self, holder: Any, key: str) -> ConfigError:
        return ConfigError(
            f"field {key!r} is missing",
            file=self.shown,
            line=line_of(holder),
            column=getattr(holder, "column", None),
        )

    def string(self, holder: Any, key: str, *, required: bool = False) -> Any:
        if not isinstance(holder, dict):
            raise self.error(
                holder, None, f"expected a mapping with {key!r}, not {holder!r}"
            )
        value = holder.get(key)
        if value is None or value == "":
            if required:
                raise self.missing(holder, key)
            return None
        if not isinstance(value, str):
            raise self.error(
                holder, key, f"must be a string, not {type(value).__name__} {value!r}"
            )
        return value

    def boolean(self, holder: Any, key: str, default: Any) -> Any:
        value = holder.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(holder, key, f"must be true or false, not {value!r}")
        return value

    def string_list(
        self, holder: Any, key: str, *, required: bool = False
    ) -> tuple[str, ...]:
        value = holder.get(key)
        if value is None:
            if required:
                raise self.missing(holder, key)
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(holder, key, f"must be a list of strings, not {value!r}")
        return tuple(v.strip() for v in value if v.strip())

    def list(self, holder: Any, key: str) -> list[Any]:
        value = holder.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(holder, key, f"must be a list, not {type(value).__name__}")
        for item in value:
            if not isinstance(item, dict):
                raise self.error(holder, key, f"must list mappings, not {item!r}")
        return value

    def check_fields(self, holder: Any, owner: str, accepted: tuple[str, ...]) -> None:
        if not isinstance(holder, dict):
            raise self.error(holder, None, f"{owner} must be a mapping, not {holder!r}")
        for key in holder:
            if key not in accepted:
                raise self.error(
                    holder,
                    str(key),
                    f"of the {owner} is unknown; accepted: {', '.join(accepted)}",
                )


def read_document(path: Path, project: Path) -> Document:
    """Read a YAML or JSON file of `project`, keeping lines, columns and version texts."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read file: {e.strerror}", file=shown) from None
    if path.suffix == ".json":
        try:
            plain = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(
                f"invalid JSON: {e.msg}", file=shown, line=e.lineno, column=e.colno
            ) from None
        try:
            # JSON is YAML, read again for the line numbers.
            data = yaml.load(text, Loader=_ProjectLoader)  # noqa: S506 - a SafeLoader
        except yaml.YAMLError:
            data = plain
        return Document(project, path, shown, data)
    data = parse_yaml(text, shown, _ProjectLoader)
    return Document(project, path, shown, data)


def find_file(
    folder: Path, stem: str, suffixes: tuple[str, ...] = (".yaml", ".yml", ".json")
) -> Path | None:
    return next(
        (folder / (stem + s) for s in suffixes if (folder / (stem + s)).is_file()), None
    )


# The production and sandbox endpoints, then their load-balance or failover groups.
_Endpoints = tuple[
    Endpoint | None, Endpoint | None, EndpointGroup | None, EndpointGroup | None
]


# The gateway.yaml entry --------------------------------------------------------------


@dataclass
class _Overrides:
    production: Endpoint | None
    sandbox: Endpoint | None
    security: EndpointSecurity | OAuthSecurity | None

    @property
    def endpoints(self) -> bool:
        return self.production is not None or self.sandbox is not None


def load_project(
    file: str,
    entry: Any,
    base: Path,
    library: SequenceLibrary,
    cors: CorsSettings,
    tiers: TierTable,
) -> ApiConfig:
    """Build the API of the `project:` entry `entry` of the config file `file`."""
    reader = FieldReader(file, entry, "API project", ENTRY_FIELDS)
    relative = reader.string("project", required=True)
    folder = Path(relative) if Path(relative).is_absolute() else base / relative
    if not folder.is_dir():
        raise reader.error(
            "project",
            f"names {relative!r}, which is not a folder ({display_path(folder)})",
        )
    overrides = _entry_overrides(file, reader)
    meta = find_file(folder / "Meta-information", "api")
    root = find_file(folder, "api")
    if meta is not None:
        project = _ApiReader(
            read_document(meta, folder), library, cors, tiers, overrides
        )
        return project.read_v3()
    if root is not None:
        project = _ApiReader(
            read_document(root, folder), library, cors, tiers, overrides
        )
        return project.read_v4()
    raise reader.error(
        "project",
        f"names {relative!r}, which is not an apictl project: it has neither "
        "api.yaml (4.x) nor Meta-information/api.yaml (3.x), nor .json",
    )


def _entry_overrides(file: str, reader: FieldReader) -> _Overrides:
    if reader.has("endpoint") and reader.has("production_endpoint"):
        raise reader.error(
            "production_endpoint", "and 'endpoint' are both set; use one"
        )
    parsed: dict[str, Endpoint | None] = {}
    for field in ("endpoint", "production_endpoint", "sandbox_endpoint"):
        url = reader.string(field)
        try:
            parsed[field] = Endpoint.parse(url) if url else None
        except ValueError as e:
            raise reader.error(field, f"{redact_url(url)!r} {e}") from None
    security = parse_endpoint_security(
        file, "API project", reader.raw("endpoint_security")
    )
    return _Overrides(
        parsed["endpoint"] or parsed["production_endpoint"],
        parsed["sandbox_endpoint"],
        security,
    )


# The API ----------------------------------------------------------------------------


class _ApiReader:
    """Reads one project's api.yaml (and swagger) into an ApiConfig."""

    def __init__(
        self,
        document: Document,
        library: SequenceLibrary,
        cors: CorsSettings,
        tiers: TierTable,
        overrides: _Overrides,
    ) -> None:
        self.doc = document
        self.library = library
        self.cors_base = cors
        self.tiers = tiers
        self.overrides = overrides

    def read_v3(self) -> ApiConfig:
        doc = self.doc
        data = doc.data
        if not isinstance(data, dict):
            raise doc.error(
                data, None, "must be a mapping: the API model of a 3.x export"
            )
        ident = doc.mapping(data, "id", required=True)
        name = doc.string(ident, "apiName", required=True)
        version = self._version(ident, "version")
        context_key = (
            "contextTemplate" if doc.string(data, "contextTemplate") else "context"
        )
        context = self._context(data, context_key)
        self._check_served(data, "type", "status")
        endpoints = self._endpoints(data, "endpointConfig", name, version)
        secured = None
        if doc.boolean(data, "endpointSecured", False):
            digest = doc.boolean(data, "endpointAuthDigest", False)
            secured = (data, "endpointSecured", "DIGEST" if digest else "BASIC")
        schemes = doc.string(data, "apiSecurity") or ""
        security = self._security(data, "apiSecurity", schemes.split(","))
        tier = self._tier(data, "apiLevelPolicy")
        swagger_path = find_file(doc.project / "Meta-information", "swagger")
        if swagger_path is None:
            raise doc.error(
                data,
                None,
                "has no Meta-information/swagger.yaml (or .json), "
                "where a 3.x project keeps its resources",
            )
        swagger = read_document(swagger_path, doc.project)
        resources, _ = _Resources(swagger, self.tiers).from_swagger()
        scope_roles = swagger_scope_roles(swagger)
        sequences: dict[str, Sequence] = {}
        for flow, field in (
            ("request", "inSequence"),
            ("response", "outSequence"),
            ("fault", "faultSequence"),
        ):
            sequence_name = doc.string(data, field)
            if sequence_name:
                sequences[flow] = load_project_sequence(
                    doc, data, field, flow, sequence_name, self.library
                )
        return self._api(
            data,
            name=name,
            context=context,
            version=version,
            endpoints=endpoints,
            secured=secured,
            default_version=doc.boolean(data, "isDefaultVersion", False),
            security=security,
            auth_header=doc.string(data, "authorizationHeader") or "Authorization",
            api_key_header="ApiKey",
            tier=tier,
            resources=resources,
            scope_roles=scope_roles,
            sequences=sequences,
        )

    def read_v4(self) -> ApiConfig:
        doc = self.doc
        top = doc.data
        if not isinstance(top, dict):
            raise doc.error(top, None, "must be a mapping with 'type: api' and 'data'")
        kind = doc.string(top, "type", required=True)
        if kind != "api":
            raise doc.error(
                top,
                "type",
                f"is {kind!r}; this gateway loads API projects ('type: api')",
            )
        data = doc.mapping(top, "data", required=True)
        name = doc.string(data, "name", required=True)
        version = self._version(data, "version")
        context = self._context(data, "context")
        self._check_served(data, "type", "lifeCycleStatus")
        self._check_v4_gateway(data)
        endpoints = self._endpoints(data, "endpointConfig", name, version)
        secured = self._v4_endpoint_security(data)
        security = self._security(
            data, "securityScheme", doc.string_list(data, "securityScheme")
        )
        tier = self._tier(data, "apiThrottlingPolicy")
        operations = doc.list(data, "operations")
        scope_roles = self._v4_scopes(data)
        if operations:
            resources, described = _Resources(doc, self.tiers).from_operations(
                operations
            )
        else:
            swagger_path = find_file(doc.project / "Definitions", "swagger")
            if swagger_path is None:
                raise doc.error(
                    data,
                    None,
                    "lists no operations and the project has no "
                    "Definitions/swagger.yaml (or .json)",
                )
            swagger = read_document(swagger_path, doc.project)
            resources, described = _Resources(swagger, self.tiers).from_swagger()
            scope_roles = scope_roles or swagger_scope_roles(swagger)
        label = f"{name}:v{version}"
        mediation = doc.list(data, "mediationPolicies")
        api_policies = doc.mapping(data, "apiPolicies")
        attached = api_policies is not None or any(
            operation.get("operationPolicies") for operation in operations
        )
        if mediation and attached:
            raise doc.error(
                data,
                "mediationPolicies",
                "and operation or API policies are both set; 4.0 projects use "
                "mediationPolicies, 4.1 and later use policies",
            )
        if mediation:
            sequences = sequences_v40(doc, data, self.library)
        else:
            sequences = PolicyBuilder(doc, self.library).flow_sequences(
                label, api_policies, described
            )
        return self._api(
            data,
            name=name,
            context=context,
            version=version,
            endpoints=endpoints,
            secured=secured,
            default_version=doc.boolean(data, "isDefaultVersion", False),
            security=security,
            auth_header=doc.string(data, "authorizationHeader") or "Authorization",
            api_key_header=doc.string(data, "apiKeyHeader") or "ApiKey",
            tier=tier,
            resources=resources,
            scope_roles=scope_roles,
            sequences=sequences,
            max_tps=parse_max_tps(
                doc.shown,
                f"API {name!r}",
                data.get("maxTps"),
                "maxTps",
                doc.line(data, "maxTps"),
            ),
        )

    # Shared fields ------------------------------------------------------------------

    def _api(
        self,
        data: Any,
        *,
        name: str,
        context: str,
        version: str,
        endpoints: _Endpoints,
        secured: tuple[Any, str, str] | None,
        default_version: bool,
        security: tuple[str, ...],
        auth_header: str,
        api_key_header: str,
        tier: str | None,
        resources: tuple[Resource, ...],
        scope_roles: tuple[tuple[str, tuple[str, ...]], ...],
        sequences: dict[str, Sequence],
        max_tps: MaxTps | None = None,
    ) -> ApiConfig:
        doc = self.doc
        production, sandbox, production_group, sandbox_group = endpoints
        if self.overrides.endpoints:
            production, sandbox = self.overrides.production, self.overrides.sandbox
        if production is None and sandbox is None:
            raise doc.error(
                data,
                "endpointConfig",
                "names neither a production nor a sandbox endpoint",
            )
        endpoint_security = self.overrides.security
        if secured is not None:
            holder, key, kind = secured
            if kind not in ("BASIC", "DIGEST", "OAUTH"):
                raise doc.error(
                    holder,
                    key,
                    f"enables {kind} endpoint security; supported: BASIC, DIGEST, "
                    "OAUTH",
                )
            if endpoint_security is None:
                fields = (
                    "(username, password or password_env)"
                    if kind != "OAUTH"
                    else "(type: oauth, token_url, client_id, client_secret or "
                    "client_secret_env)"
                )
                raise doc.error(
                    holder,
                    key,
                    f"enables {kind} endpoint security, whose secret an export leaves "
                    f"blank; give endpoint_security {fields} in the project's "
                    "gateway.yaml entry",
                )
            if endpoint_security.type != kind.lower():
                raise doc.error(
                    holder,
                    key,
                    f"enables {kind} endpoint security, but the gateway.yaml entry's "
                    f"endpoint_security has type {endpoint_security.type!r}",
                )
        return ApiConfig(
            name=name,
            context=context,
            version=version,
            endpoint=production,
            in_sequence=sequences.get("request"),
            source=f"{doc.shown}:{doc.line(data)}",
            sandbox_endpoint=sandbox,
            endpoint_security=endpoint_security,
            default_version=default_version,
            security=security,
            auth_header=self._header(data, "authorizationHeader", auth_header),
            api_key_header=self._header(data, "apiKeyHeader", api_key_header),
            throttling_tier=tier,
            cors=self._cors(data),
            resources=resources,
            scope_roles=scope_roles,
            out_sequence=sequences.get("response"),
            fault_sequence=sequences.get("fault"),
            max_tps=max_tps,
            production_group=production_group,
            sandbox_group=sandbox_group,
        )

    def _version(self, holder: Any, key: str) -> str:
        version = self.doc.string(holder, key, required=True)
        if "/" in version or any(c.isspace() for c in version):
            raise self.doc.error(
                holder, key, f"{version!r} must not contain '/' or spaces"
            )
        return version

    def _context(self, holder: Any, key: str) -> str:
        context = self.doc.string(holder, key, required=True)
        if not context.startswith("/"):
            # The publisher adds the leading slash on import.
            context = "/" + context
        if any(c in context for c in "?# ") or "//" in context:
            raise self.doc.error(holder, key, f"{context!r} must be a plain path")
        return context

    def _header(self, holder: Any, key: str, name: str) -> str:
        if not all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name):
            raise self.doc.error(holder, key, f"{name!r} is not a valid header name")
        return name

    def _check_served(self, data: Any, type_key: str, status_key: str) -> None:
        doc = self.doc
        kind = doc.string(data, type_key) or "HTTP"
        if kind != "HTTP":
            raise doc.error(
                data, type_key, f"is {kind!r}; only HTTP (REST) APIs are supported"
            )
        status = doc.string(data, status_key)
        if status is not None and status.upper() not in SERVED_STATUSES:
            raise doc.error(
                data,
                status_key,
                f"is {status!r}; supported: {', '.join(SERVED_STATUSES)} "
                "(blocked, prototyped and retired APIs are not)",
            )

    def _check_v4_gateway(self, data: Any) -> None:
        doc = self.doc
        implementation = doc.string(data, "endpointImplementationType")
        if implementation not in (None, "ENDPOINT"):
            raise doc.error(
                data,
                "endpointImplementationType",
                f"is {implementation!r}; only ENDPOINT (a real backend) is supported",
            )
        vendor = doc.string(data, "gatewayVendor")
        if vendor not in (None, "wso2"):
            raise doc.error(data, "gatewayVendor", f"is {vendor!r}; expected 'wso2'")
        gateway_type = doc.string(data, "gatewayType")
        if gateway_type not in (None, "wso2/synapse"):
            raise doc.error(
                data, "gatewayType", f"is {gateway_type!r}; expected 'wso2/synapse'"
            )
        advertise = doc.mapping(data, "advertiseInfo")
        if advertise is not None and doc.boolean(advertise, "advertised", False):
            raise doc.error(
                advertise,
                "advertised",
                "is true: the API is served elsewhere, not by a gateway",
            )

    def _endpoints(
        self, data: Any, key: str, name: str, version: str
    ) -> _Endpoints:
        if self.overrides.endpoints:
            return None, None, None, None  # the entry's endpoints replace the project's
        doc = self.doc
        raw = data.get(key)
        if raw is None:
            raise doc.missing(data, key)
        holder, at = data, key
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as e:
                raise doc.error(data, key, f"is not valid JSON: {e}") from None
        if not isinstance(raw, dict):
            raise doc.error(
                data, key, "must be a mapping (4.x) or a JSON object string (3.x)"
            )
        subject = "endpoint_type is"
        if isinstance(raw, _Node):
            holder, at, subject = raw, "endpoint_type", "is"
        kind = raw.get("endpoint_type", "http")
        if kind not in ENDPOINT_TYPES:
            raise doc.error(
                holder,
                at,
                f"{subject} {kind!r}; supported: {', '.join(ENDPOINT_TYPES)} "
                "(set production_endpoint in the gateway.yaml entry to use another URL)",
            )

        def error(field: str, message: str) -> ConfigError:
            """Point into endpointConfig when it is a mapping (4.x), else at it (3.x)."""
            if isinstance(raw, _Node):
                return doc.error(raw, field, message)
            return doc.error(data, key, f"{field} {message}")

        def parse(which: str, value: Any) -> Endpoint:
            if not isinstance(value, dict) or not isinstance(value.get("url"), str):
                raise error(which, "must be a mapping with a 'url' string")
            try:
                return Endpoint.parse(value["url"].strip())
            except ValueError as e:
                raise error(which, f"url {redact_url(value['url'])!r} {e}") from None

        if kind != "http":
            self._check_load_balance(raw, kind, error)
        failover = parse_failover_flag(raw.get("failOver", True))
        if failover is None:
            raise error("failOver", "must be true or false")
        found: list[Any] = []
        groups: list[EndpointGroup | None] = []
        for key_type in ("production", "sandbox"):
            which = f"{key_type}_endpoints"
            value = raw.get(which)
            if value is None:
                found.append(None)
                groups.append(None)
                continue
            if kind == "http" or (kind == FAILOVER and isinstance(value, dict)):
                members = [parse(which, value)]
            elif isinstance(value, list) and kind == LOAD_BALANCE:
                members = [parse(which, item) for item in value]
            else:
                shape = "a list of" if kind == LOAD_BALANCE else "one"
                raise error(which, f"must be {shape} {{url: ...}} for endpoint_type {kind}")
            if kind == FAILOVER:
                others = raw.get(f"{key_type}_failovers") or []
                if not isinstance(others, list):
                    raise error(
                        f"{key_type}_failovers", "must be a list of {url: ...}"
                    )
                members += [parse(f"{key_type}_failovers", item) for item in others]
            if not members:
                raise error(which, "lists no endpoint")
            found.append(members[0])
            groups.append(
                None
                if kind == "http"
                else EndpointGroup(
                    kind, group_name(name, version, key_type), tuple(members), failover
                )
            )
        return found[0], found[1], groups[0], groups[1]

    def _check_load_balance(self, raw: Any, kind: str, error: Any) -> None:
        """Reject the load-balance settings this gateway does not emulate."""
        if kind != LOAD_BALANCE:
            return
        algorithm = raw.get("algoClassName")
        if algorithm not in (None, "", ROUND_ROBIN_CLASS):
            raise error(
                "algoClassName",
                f"is {algorithm!r}; only round robin ({ROUND_ROBIN_CLASS}) is supported",
            )
        session = raw.get("sessionManagement")
        if session not in (None, "", "none", "None"):
            raise error(
                "sessionManagement",
                f"is {session!r}; session affinity is not supported",
            )

    def _v4_endpoint_security(self, data: Any) -> tuple[Any, str, str] | None:
        config = data.get("endpointConfig")
        if self.overrides.endpoints or not isinstance(config, dict):
            return None
        security = config.get("endpoint_security")
        if not isinstance(security, dict):
            return None
        for key_type in ("production", "sandbox"):
            entry = security.get(key_type)
            if isinstance(entry, dict) and entry.get("enabled") is True:
                kind = str(entry.get("type", "BASIC")).upper()
                return (entry, "enabled", kind)
        return None

    def _security(self, holder: Any, key: str, values: Any) -> tuple[str, ...]:
        doc = self.doc
        schemes: list[str] = []
        for value in (v.strip() for v in values):
            if not value or value in SCHEME_FLAGS:
                continue
            if value in UNSUPPORTED_SCHEMES:
                raise doc.error(
                    holder, key, f"contains {value!r}: {UNSUPPORTED_SCHEMES[value]}"
                )
            if value not in SUPPORTED_SCHEMES:
                raise doc.error(
                    holder,
                    key,
                    f"contains unknown scheme {value!r}; supported: {', '.join(SUPPORTED_SCHEMES)}",
                )
            if value not in schemes:
                schemes.append(value)
        if not schemes:
            if any(v.strip() for v in values):
                raise doc.error(
                    holder, key, f"names no scheme of {', '.join(SUPPORTED_SCHEMES)}"
                )
            return ("oauth2",)  # WSO2's default when none is set
        return tuple(schemes)

    def _v4_scopes(self, data: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Read 4.x `scopes`: `{scope: {name, bindings: [role...]}, shared}` entries."""
        doc = self.doc
        found: dict[str, tuple[str, ...]] = {}
        for entry in doc.list(data, "scopes"):
            if not isinstance(entry, dict):
                raise doc.error(data, "scopes", "must list {scope: {name, bindings}} entries")
            scope = doc.mapping(entry, "scope", required=True)
            name = doc.string(scope, "name", required=True)
            found[name] = doc.string_list(scope, "bindings")
        return tuple(found.items())

    def _tier(self, holder: Any, key: str) -> str | None:
        tier = self.doc.string(holder, key)
        if tier is not None and self.tiers.get("api", tier) is None:
            raise self.doc.error(
                holder,
                key,
                f"names unknown tier {tier!r}; known: {', '.join(self.tiers.names('api'))}",
            )
        return tier

    def _cors(self, data: Any) -> CorsSettings:
        doc = self.doc
        raw = doc.mapping(data, "corsConfiguration")
        base = self.cors_base
        if raw is None:
            return base
        # NOTE: a disabled API-level CORS drops the CORS headers here, as the per-API
        # `cors.enable: false` of gateway.yaml does; WSO2's fallback was not verified.
        enabled = doc.boolean(raw, "corsConfigurationEnabled", False)
        methods = (
            doc.string_list(raw, "accessControlAllowMethods") or base.allow_methods
        )
        return CorsSettings(
            enable=enabled,
            allow_origins=doc.string_list(raw, "accessControlAllowOrigins")
            or base.allow_origins,
            allow_methods=tuple(m.upper() for m in methods),
            allow_headers=doc.string_list(raw, "accessControlAllowHeaders")
            or base.allow_headers,
            allow_credentials=doc.boolean(
                raw, "accessControlAllowCredentials", base.allow_credentials
            ),
            expose_headers=base.expose_headers,
        )


# Resources --------------------------------------------------------------------------


def swagger_scope_roles(swagger: Document) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Read the scopes of a swagger's `default` scheme and their `x-scopes-bindings`.

    Swagger 2 keeps them in `securityDefinitions.default`, OpenAPI 3 in
    `components.securitySchemes.default.flows.implicit`; a binding is a comma-separated
    list of roles.
    """
    root = swagger.data if isinstance(swagger.data, dict) else {}
    scheme = (root.get("securityDefinitions") or {}).get("default")
    if scheme is None:
        schemes = (root.get("components") or {}).get("securitySchemes") or {}
        flows = (schemes.get("default") or {}).get("flows") or {}
        scheme = flows.get("implicit")
    if not isinstance(scheme, dict):
        return ()
    names = scheme.get("scopes") or {}
    bindings = scheme.get("x-scopes-bindings") or {}
    found: dict[str, tuple[str, ...]] = {}
    for name in [*names, *bindings]:
        roles = bindings.get(name) or ""
        if not isinstance(roles, str):
            raise swagger.error(bindings, name, "must be a comma-separated list of roles")
        found[str(name)] = tuple(r.strip() for r in roles.split(",") if r.strip())
    return tuple(found.items())


class _Resources:
    """Turns operations (4.x api.yaml or a swagger) into resources.

    Operations on one target that share auth type, scopes and tier become one resource
    with several verbs. An operation that differs gets a resource of its own, because
    WSO2 keeps these settings per verb.
    """

    def __init__(self, document: Document, tiers: TierTable) -> None:
        self.doc = document
        self.tiers = tiers

    def from_operations(
        self, operations: list[Any]
    ) -> tuple[tuple[Resource, ...], list[tuple[Any, str, str]]]:
        doc = self.doc
        rows = []
        for operation in operations:
            target = self._target(
                operation, "target", doc.string(operation, "target", required=True)
            )
            verb = self._verb(
                operation, "verb", doc.string(operation, "verb", required=True)
            )
            auth = self._auth(operation, "authType", doc.string(operation, "authType"))
            scopes = doc.string_list(operation, "scopes")
            tier = self._tier(operation, "throttlingPolicy")
            rows.append((operation, target, verb, auth, scopes, tier))
        return self._group(rows), [(row[0], row[2], row[1]) for row in rows]

    def from_swagger(self) -> tuple[tuple[Resource, ...], list[tuple[Any, str, str]]]:
        doc = self.doc
        if not isinstance(doc.data, dict):
            raise doc.error(doc.data, None, "must be an OpenAPI (swagger) mapping")
        paths = doc.mapping(doc.data, "paths", required=True)
        rows = []
        for target, item in paths.items():
            if not isinstance(item, dict):
                raise doc.error(paths, target, "must map verbs to operations")
            target = self._target(paths, target, str(target))
            for key, operation in item.items():
                if key in ("parameters", "summary", "description", "servers") or str(
                    key
                ).startswith("x-"):
                    continue
                verb = self._verb(item, key, str(key))
                if not isinstance(operation, dict):
                    raise doc.error(item, key, "must be an operation mapping")
                auth = self._auth(
                    operation, "x-auth-type", doc.string(operation, "x-auth-type")
                )
                rows.append(
                    (
                        operation,
                        target,
                        verb,
                        auth,
                        self._swagger_scopes(operation),
                        self._tier(operation, "x-throttling-tier"),
                    )
                )
        if not rows:
            raise doc.error(paths, None, "lists no operations")
        return self._group(rows), [(row[0], row[2], row[1]) for row in rows]

    def _swagger_scopes(self, operation: Any) -> tuple[str, ...]:
        doc = self.doc
        scopes: list[str] = []
        single = operation.get("x-scope")
        if isinstance(single, str) and single:
            scopes.append(single)
        for requirement in doc.list(operation, "security"):
            for names in requirement.values():
                if not isinstance(names, list) or not all(
                    isinstance(n, str) for n in names
                ):
                    raise doc.error(
                        operation, "security", "must list scope names per scheme"
                    )
                scopes.extend(n for n in names if n not in scopes)
        return tuple(scopes)

    def _target(self, holder: Any, key: str, target: str) -> str:
        if (
            not target.startswith("/")
            or any(c.isspace() for c in target)
            or "#" in target
        ):
            raise self.doc.error(
                holder,
                key,
                f"target {target!r} must start with '/' and hold no spaces or '#'",
            )
        return target

    def _verb(self, holder: Any, key: str, verb: str) -> str:
        if verb.upper() not in HTTP_VERBS:
            raise self.doc.error(
                holder, key, f"verb {verb!r} is not one of {', '.join(HTTP_VERBS)}"
            )
        return verb.upper()

    def _auth(self, holder: Any, key: str, value: str | None) -> str:
        if value is None:
            return AUTH_TYPES[0]
        if value not in AUTH_TYPE_NAMES:
            raise self.doc.error(
                holder, key, f"is {value!r}; accepted: {', '.join(AUTH_TYPE_NAMES)}"
            )
        return AUTH_TYPE_NAMES[value]

    def _tier(self, holder: Any, key: str) -> str | None:
        tier = self.doc.string(holder, key)
        if tier is not None and self.tiers.get("api", tier) is None:
            raise self.doc.error(
                holder,
                key,
                f"names unknown tier {tier!r}; known: {', '.join(self.tiers.names('api'))}",
            )
        return tier

    def _group(
        self, rows: list[tuple[Any, str, str, str, tuple[str, ...], str | None]]
    ) -> tuple[Resource, ...]:
        groups: dict[tuple[str, str, tuple[str, ...], str | None], list[Any]] = {}
        for operation, target, verb, auth, scopes, tier in rows:
            group = groups.setdefault(
                (target, auth, scopes, tier), [self.doc.line(operation)]
            )
            if verb not in group:
                group.append(verb)
        return tuple(
            compile_resource(target, tuple(verbs[1:]), auth, scopes, tier, verbs[0])
            for (target, auth, scopes, tier), verbs in groups.items()
        )


# Files to watch -----------------------------------------------------------------------

_folders_cache: dict[str, tuple[tuple[int, int, int], list[Path]]] = {}


def project_folders(config_path: Path) -> list[Path]:
    """Return the project folders that the config file's `project:` entries name.

    The file is read again only when its modification time, size or inode changed.
    """
    try:
        info = config_path.stat()
    except OSError:
        return []
    state = (info.st_mtime_ns, info.st_size, info.st_ino)
    cached = _folders_cache.get(str(config_path))
    if cached is not None and cached[0] == state:
        return cached[1]
    folders: list[Path] = []
    try:
        document = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        document = None
    apis = document.get("apis") if isinstance(document, dict) else None
    for entry in apis if isinstance(apis, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("project"), str):
            folder = Path(entry["project"])
            folders.append(
                folder if folder.is_absolute() else config_path.parent / folder
            )
    _folders_cache[str(config_path)] = (state, folders)
    return folders


def project_files(folder: Path) -> list[str]:
    """Return every file below `folder`, hidden ones left out."""
    found = []
    for root, directories, files in os.walk(folder):
        directories[:] = [d for d in directories if not d.startswith(".")]
        found.extend(
            os.path.join(root, name) for name in files if not name.startswith(".")
        )
    return found
