"""Every sequence of the sequences folder, found by file name or by `name` attribute.

The gateway builds its own error responses with WSO2's default sequences (`fault`,
`_auth_failure_handler_`, ...). A sequences folder may hold its own versions of them,
which win, as in WSO2 where they live in the same folder; the others come from the
`sequences` folder shipped with the gateway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, ConfigErrors
from . import catalog
from .base import Sequence
from .builder import Source, build_sequence
from .xmlparse import parse_xml

BUILTIN_FOLDER = Path(__file__).resolve().parent.parent.parent / "sequences"

DEFAULT_SEQUENCES = (
    "fault",
    "main",
    "_auth_failure_handler_",
    "_throttle_out_handler_",
    "_resource_mismatch_handler_",
    "_cors_request_handler_",
    "_production_key_error_",
    "_sandbox_key_error_",
)

assert catalog  # the import registers every mediator builder


def display_path(path: Path) -> str:
    """Return `path` relative to the working directory when it lies below it."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def load_sequence_file(path: Path, library: SequenceLibrary | None = None) -> Sequence:
    """Parse and build the sequence in the file at `path`."""
    shown = display_path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read file: {e.strerror}", file=shown) from None
    return build_sequence_text(raw, shown, folder=path.parent, library=library)


def build_sequence_text(
    raw: bytes,
    shown: str,
    *,
    folder: Path | None = None,
    library: SequenceLibrary | None = None,
) -> Sequence:
    """Parse and build a sequence from its text; errors name the file as `shown`.

    Every unsupported mediator of the text is reported, each with its own line.
    """
    root = parse_xml(raw, shown)
    lines = raw.decode("utf-8", "replace").splitlines()
    source = Source(shown, lines, folder=folder, library=library)
    try:
        sequence = build_sequence(root, source)
    except ConfigError as e:
        # Report the unsupported mediators seen before the error along with it.
        if source.unsupported:
            raise ConfigErrors([*source.unsupported, e]) from None
        raise
    if source.unsupported:
        raise (
            source.unsupported[0]
            if len(source.unsupported) == 1
            else ConfigErrors(source.unsupported)
        )
    return sequence


@dataclass
class SequenceLibrary:
    """The sequences of one folder, indexed by file stem and by `name`."""

    folder: Path
    by_name: dict[str, Sequence] = field(default_factory=dict)
    by_file: dict[str, Sequence] = field(default_factory=dict)

    def get(self, key: str) -> Sequence | None:
        """Return the sequence whose name attribute or file stem is `key`."""
        return self.by_name.get(key) or self.by_file.get(key)

    def __len__(self) -> int:
        return len(self.by_file)

    @classmethod
    def load(
        cls, folder: Path, defaults_from: Path | None = BUILTIN_FOLDER
    ) -> tuple[SequenceLibrary, list[ConfigError]]:
        """Load every `*.xml` file of `folder`, then the default sequences it lacks.

        Returns the library and the errors found; a missing or broken default sequence
        is an error too.
        """
        library = cls(folder)
        errors: list[ConfigError] = []
        if not folder.is_dir():
            errors.append(
                ConfigError(
                    "sequences folder not found",
                    file=display_path(folder),
                    hint="create it or set the gateway_sequences option",
                )
            )
            return library, errors
        for path in sorted(folder.glob("*.xml")):
            library._add(path, errors)
        if defaults_from is not None:
            library._add_defaults(defaults_from, errors)
        return library, errors

    def _add(self, path: Path, errors: list[ConfigError]) -> None:
        try:
            sequence = load_sequence_file(path, self)
        except ConfigError as e:
            errors.extend(getattr(e, "errors", [e]))
            return
        other = self.by_name.get(sequence.name)
        if other is not None:
            errors.append(
                ConfigError(
                    f"sequence name {sequence.name!r} is also declared in {other.file}",
                    file=sequence.file,
                    line=sequence.line,
                    hint="give each sequence a unique name",
                )
            )
            return
        self.by_name[sequence.name] = sequence
        self.by_file[path.stem] = sequence

    def _add_defaults(self, folder: Path, errors: list[ConfigError]) -> None:
        for name in DEFAULT_SEQUENCES:
            if name in self.by_name:
                continue
            path = folder / f"{name}.xml"
            if not path.is_file():
                errors.append(
                    ConfigError(
                        f"default sequence {name!r} not found",
                        file=display_path(path),
                        hint="the gateway builds its error responses with it; restore the file",
                    )
                )
                continue
            before = len(errors)
            self._add(path, errors)
            if len(errors) == before and name not in self.by_name:
                errors.append(
                    ConfigError(
                        f"file declares a sequence named "
                        f"{self.by_file[path.stem].name!r}, expected {name!r}",
                        file=display_path(path),
                    )
                )
