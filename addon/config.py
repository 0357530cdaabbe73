"""The gateway configuration: APIs from a YAML file, sequences from a folder.

`load_config` builds one immutable snapshot and validates all of it before anything
uses it; an invalid file raises ConfigError naming the file, the line, the API and the
field. Paths in the file are relative to the file.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError, ConfigErrors
from .mediation.library import SequenceLibrary, display_path
from .mediation.mediators import Sequence

API_FIELDS = (
    "name", "context", "version", "endpoint", "in_sequence", "out_sequence", "fault_sequence"
)
SEQUENCE_FIELDS = ("in_sequence", "out_sequence", "fault_sequence")
REQUIRED_API_FIELDS = ("name", "context", "version", "endpoint")
TOP_LEVEL_FIELDS = ("apis",)

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
    endpoint: Endpoint
    in_sequence: Sequence | None
    source: str
    out_sequence: Sequence | None = None
    fault_sequence: Sequence | None = None

    @property
    def full_context(self) -> str:
        """The context with the version in place, e.g. /testcustomheader/1.0.0."""
        return versioned_context(self.context, self.version)

    @property
    def label(self) -> str:
        """The API's name as Synapse names it, e.g. TestCustomHeader:v1.0.0."""
        return f"{self.name}:v{self.version}"


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

    def describe(self) -> str:
        """Return a one-line summary of the loaded APIs and sequences."""
        apis = ", ".join(
            f"{api.label} at {api.full_context} -> {api.endpoint.url}"
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


def _parse_api(file: str, api: Any, sequences: SequenceLibrary) -> ApiConfig:
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
    endpoint_url = _string_field(file, api, name, "endpoint")
    assert name and context and version and endpoint_url

    if not context.startswith("/"):
        raise _api_error(file, api, name, "context", f"{context!r} must start with '/'")
    if "?" in context or "#" in context or " " in context:
        raise _api_error(file, api, name, "context", f"{context!r} must be a plain path")
    if "/" in version or " " in version:
        raise _api_error(file, api, name, "version", f"{version!r} must not contain '/' or spaces")
    try:
        endpoint = Endpoint.parse(endpoint_url)
    except ValueError as e:
        raise _api_error(file, api, name, "endpoint", f"{endpoint_url!r} {e}") from None

    sequences_of: dict[str, Sequence | None] = {}
    for field in SEQUENCE_FIELDS:
        sequences_of[field] = _sequence_field(file, api, name, field, sequences)
    return ApiConfig(
        name=name,
        context=context,
        version=version,
        endpoint=endpoint,
        in_sequence=sequences_of["in_sequence"],
        source=f"{file}:{_line(api)}",
        out_sequence=sequences_of["out_sequence"],
        fault_sequence=sequences_of["fault_sequence"],
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
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        raise ConfigError(
            f"invalid YAML: {e.problem}",
            file=shown,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None


def default_sequences_folder(config_path: Path) -> Path:
    return config_path.parent / "sequences"


def default_database(config_path: Path) -> Path:
    return config_path.parent / "gateway.db"


def load_config(path: Path, sequences_folder: Path | None = None) -> GatewayConfig:
    """Load and validate the config at `path` and the sequences it uses."""
    shown = display_path(path)
    document = read_yaml(path)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError("the top level must be a mapping with an 'apis' list", file=shown, line=1)
    for key in document:
        if key not in TOP_LEVEL_FIELDS:
            raise ConfigError(
                f"unknown top-level field {key!r}; accepted: {', '.join(TOP_LEVEL_FIELDS)}",
                file=shown,
                line=_line(document, str(key)),
            )
    apis_raw = document.get("apis") or []
    if not isinstance(apis_raw, list):
        raise ConfigError("'apis' must be a list", file=shown, line=_line(document, "apis"))

    folder = sequences_folder or default_sequences_folder(path)
    sequences, errors = SequenceLibrary.load(folder)
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)

    apis: list[ApiConfig] = []
    seen: dict[str, ApiConfig] = {}
    for raw in apis_raw:
        api = _parse_api(shown, raw, sequences)
        key = api.full_context
        if key in seen:
            raise ConfigError(
                f"API {api.name!r} has the same context and version as {seen[key].name!r} "
                f"({key}, defined at {seen[key].source})",
                file=shown,
                line=_line(raw),
            )
        seen[key] = api
        apis.append(api)
    return GatewayConfig(
        path=path,
        sequences_folder=folder,
        apis=tuple(apis),
        sequences=sequences,
        generation=next(_generations),
    )
