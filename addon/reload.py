"""Hot reload: put a changed config file or sequence file in force without a restart.

mitmproxy reloads only the file given to `-s`. This addon watches the files the gateway
config is built from and, when one changes, has the gateway build and validate a whole
new config aside and swap it in with one assignment. A config that fails to load is
rejected with each problem's file and line in the log, and the last good one stays in
force. A request keeps the config it started with; each flow's metadata records the
generation it used.

The files are polled once a second, never per request: one `stat` of the config file,
one directory scan of the sequences folder and a walk through each apictl project
folder the config names. A change is reloaded only once the files have stopped
changing for a moment, so an editor that writes a file in several steps does not cause
a reload of half a file.

The poll runs as an asyncio task started from a plain `running` hook: an
`async def running` in a `-s` script stops mitmproxy's own script reload after its
first reload.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .apictl import project_files, project_folders
from .config import GatewayConfig, default_sequences_folder
from .errors import ConfigError
from .mediation.library import display_path

if TYPE_CHECKING:
    from .gateway import Gateway

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
SETTLE_SECONDS = 0.1

# (mtime in ns, size, inode) of each watched file; an atomic rename changes the inode.
Snapshot = dict[str, tuple[int, int, int]]


def watched_paths(gateway: Gateway) -> tuple[Path, Path] | None:
    """Return the config file and sequences folder the gateway loads, if it has any."""
    if gateway.config_path is None:
        return None
    folder = gateway.sequences_option or default_sequences_folder(gateway.config_path)
    return gateway.config_path, folder


def snapshot_sources(config_path: Path, sequences_option: Path | None) -> Snapshot:
    """Return the snapshot of the files a config at `config_path` is built from."""
    return snapshot(
        config_path, sequences_option or default_sequences_folder(config_path)
    )


def snapshot(config_path: Path, sequences_folder: Path) -> Snapshot:
    """Return the modification state of the config file, each sequence file and each
    file of the apictl projects the config names."""
    state: Snapshot = {}
    paths = [str(config_path)]
    for folder in project_folders(config_path):
        paths.extend(project_files(folder))
    for path in paths:
        try:
            info = os.stat(path)
            state[path] = (info.st_mtime_ns, info.st_size, info.st_ino)
        except OSError:
            pass
    try:
        with os.scandir(sequences_folder) as entries:
            for entry in entries:
                if entry.name.endswith(".xml"):
                    try:
                        info = entry.stat()
                    except OSError:
                        continue
                    state[entry.path] = (info.st_mtime_ns, info.st_size, info.st_ino)
    except OSError:
        pass
    return state


def changed_files(before: Snapshot, after: Snapshot) -> list[str]:
    """Return the files added, removed or modified between two snapshots."""
    names = set(before) | set(after)
    return sorted(display_path(Path(n)) for n in names if before.get(n) != after.get(n))


def reload_gateway(gateway: Gateway, reason: str) -> GatewayConfig:
    """Reload the gateway's config and log the result. Raise ConfigError if rejected."""
    previous = gateway.config
    try:
        config = gateway.reload()
    except ConfigError as e:
        in_force = f"generation {previous.generation}" if previous else "no config"
        logger.error(
            "gateway: reload after %s rejected; %s stays in force:\n%s",
            reason,
            in_force,
            e,
        )
        raise
    logger.info(
        "gateway: reloaded after %s: config generation %s: %s",
        reason,
        config.generation,
        config.describe(),
    )
    return config


class ConfigWatcher:
    """Polls the gateway's config and sequence files and reloads them on a change."""

    def __init__(self, gateway: Gateway, interval: float = POLL_SECONDS) -> None:
        self.gateway = gateway
        self.interval = interval
        self.task: asyncio.Task | None = None

    def running(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            logger.debug("gateway: no event loop; config files are not watched")
            return
        self.task = loop.create_task(self.watch(), name="gateway config watcher")

    def done(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def watch(self) -> None:
        # The files as they were when the config in force was read, or when a reload
        # last failed: only a later change starts another reload.
        rejected: Snapshot | None = None
        while True:
            await asyncio.sleep(self.interval)
            paths = watched_paths(self.gateway)
            if paths is None:
                continue
            current = snapshot(*paths)
            if current == self.gateway.sources or current == rejected:
                continue
            current = await self._settled(paths)
            reason = "a change to " + ", ".join(
                changed_files(self.gateway.sources, current)
            )
            try:
                reload_gateway(self.gateway, reason)
            except ConfigError:
                rejected = current  # logged; the old config stays until the next change
            except Exception:
                # A bug while loading must not end the watching for the whole session.
                logger.exception(
                    "gateway: reload after %s failed; the old config stays", reason
                )
                rejected = current

    async def _settled(self, paths: tuple[Path, Path]) -> Snapshot:
        """Return a snapshot once two taken SETTLE_SECONDS apart agree."""
        current = snapshot(*paths)
        while True:
            await asyncio.sleep(SETTLE_SECONDS)
            again = snapshot(*paths)
            if again == current:
                return current
            current = again
