"""Every sequence of the sequences folder, found by file name or by `name` attribute."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .builder import Source, build_sequence
from .mediators import Sequence
from .xmlparse import parse_xml


def display_path(path: Path) -> str:
    """Return `path` relative to the working directory when it lies below it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


def load_sequence_file(path: Path) -> Sequence:
    """Parse and build the sequence in the file at `path`."""
    shown = display_path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read file: {e.strerror}", file=shown) from None
    root = parse_xml(raw, shown)
    lines = raw.decode("utf-8", "replace").splitlines()
    return build_sequence(root, Source(shown, lines))


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
    def load(cls, folder: Path) -> tuple[SequenceLibrary, list[ConfigError]]:
        """Load every `*.xml` file of `folder`; return the library and the errors found."""
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
            try:
                sequence = load_sequence_file(path)
            except ConfigError as e:
                errors.append(e)
                continue
            other = library.by_name.get(sequence.name)
            if other is not None:
                errors.append(
                    ConfigError(
                        f"sequence name {sequence.name!r} is also declared in {other.file}",
                        file=sequence.file,
                        line=sequence.line,
                        hint="give each sequence a unique name",
                    )
                )
                continue
            library.by_name[sequence.name] = sequence
            library.by_file[path.stem] = sequence
        return library, errors
