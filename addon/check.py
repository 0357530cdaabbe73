"""`python -m addon check`: validate the config and every sequence file, as CI would.

It loads exactly what the gateway loads at start: the config file, every sequence it
names and every `*.xml` file of the sequences folder. Each problem is printed as
`file:line:column: message`. Compilers use that form, so editors and CI can mark the
line. The exit status is 1 when there is any problem, 0 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from .config import check_config
from .errors import ConfigError
from .mediation.library import display_path


def _order(error: ConfigError) -> tuple[str, int, int]:
    return (error.file or "", error.line or 0, error.column or 0)


def run_check(
    config_path: Path,
    sequences_folder: Path | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Check the config at `config_path`, print its problems, return the exit status."""
    config, errors = check_config(config_path, sequences_folder)
    for error in sorted(errors, key=_order):
        print(error, file=out)
    if errors:
        files = len({e.file for e in errors})
        print(f"check: {len(errors)} problem(s) in {files} file(s)", file=err)
        return 1
    assert config is not None
    print(
        f"check: {display_path(config_path)} is valid: {len(config.apis)} API(s), "
        f"{len(config.sequences)} sequence(s) from "
        f"{display_path(config.sequences_folder)} and WSO2's default sequences",
        file=err,
    )
    return 0
