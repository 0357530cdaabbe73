"""Typed reads of one YAML mapping, with errors that name the file, line, owner and field.

The config loader gives every mapping a `line` and a `lines` dict (key to line); this
module reads those attributes when they exist, so it also works on plain dicts in unit
tests. Every read validates the value and raises ConfigError with the accepted forms.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import ConfigError


def line_of(mapping: Any, key: str | None = None) -> int | None:
    """Return the line of `key` in `mapping`, else the line of the mapping itself."""
    lines = getattr(mapping, "lines", None)
    if key is not None and isinstance(lines, dict) and key in lines:
        return lines[key]
    return getattr(mapping, "line", None)


class FieldReader:
    """Validating reads of the fields of one mapping owned by `owner` (e.g. "API 'Orders'")."""

    def __init__(
        self, file: str, mapping: Any, owner: str, accepted: tuple[str, ...]
    ) -> None:
        if not isinstance(mapping, dict):
            raise ConfigError(
                f"{owner}: must be a mapping, not {type(mapping).__name__}",
                file=file,
                line=line_of(mapping),
            )
        self.file = file
        self.mapping = mapping
        self.owner = owner
        for key in mapping:
            if key not in accepted:
                raise self.error(
                    str(key), f"is unknown; accepted fields: {', '.join(accepted)}"
                )

    def error(self, field: str, message: str) -> ConfigError:
        return ConfigError(
            f"{self.owner}: field {field!r} {message}",
            file=self.file,
            line=line_of(self.mapping, field),
        )

    def has(self, field: str) -> bool:
        return field in self.mapping and self.mapping[field] is not None

    def raw(self, field: str) -> Any:
        return self.mapping.get(field)

    def string(
        self, field: str, default: str | None = None, *, required: bool = False
    ) -> Any:
        value = self.mapping.get(field)
        if value is None:
            if required:
                raise ConfigError(
                    f"{self.owner}: field {field!r} is missing",
                    file=self.file,
                    line=line_of(self.mapping),
                )
            return default
        if not isinstance(value, str):
            raise self.error(
                field, f"must be a string, not {type(value).__name__} {value!r}"
            )
        if not value.strip():
            raise self.error(field, "must not be empty")
        return value

    def boolean(self, field: str, default: bool) -> bool:
        value = self.mapping.get(field)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(field, f"must be true or false, not {value!r}")
        return value

    def integer(self, field: str, default: int | None, *, minimum: int = 0) -> Any:
        value = self.mapping.get(field)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(field, f"must be a whole number, not {value!r}")
        if value < minimum:
            raise self.error(field, f"must be at least {minimum}, not {value}")
        return value

    def string_list(self, field: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Read a list of strings; a single string counts as a list of one."""
        value = self.mapping.get(field)
        if value is None:
            return default
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value
        ):
            raise self.error(
                field, f"must be a list of non-empty strings, not {value!r}"
            )
        return tuple(item.strip() for item in value)

    def secret(self, field: str) -> str:
        """Read a secret from `field`, or from the environment variable in `<field>_env`.

        One of the two is required. The variable is read once, at load.
        """
        env_field = f"{field}_env"
        if self.has(field) and self.has(env_field):
            raise self.error(env_field, f"and {field!r} are both set; use one of them")
        if self.has(env_field):
            variable = self.string(env_field)
            value = os.environ.get(variable)
            if value is None:
                raise self.error(
                    env_field,
                    f"names environment variable {variable!r}, which is not set",
                )
            return value
        if field not in self.mapping:
            raise self.error(field, f"is missing; set {field!r} or {env_field!r}")
        value = self.mapping[field]
        if not isinstance(value, str):
            raise self.error(field, "must be a string")
        return value

    def choice(self, field: str, choices: tuple[str, ...], default: str) -> str:
        value = self.string(field, default)
        if value not in choices:
            raise self.error(
                field, f"is {value!r}; accepted values: {', '.join(choices)}"
            )
        return value

    def mapping_list(self, field: str) -> list[Any]:
        value = self.mapping.get(field)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(field, f"must be a list, not {type(value).__name__}")
        return value
