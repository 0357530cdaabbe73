"""Command line for the registered-application table: `python -m addon ...`.

Every command takes `--config` and `--db`, which default as the addon's options do:
`gateway.yaml` in the working directory and `gateway.db` beside it. Bad input exits
with status 2 and one line on standard error. `tokens issue` prints the token alone on
standard output, so `TOKEN=$(python -m addon tokens issue NAME)` works; nothing else
ever prints a token.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import mediate_command
from .config import default_database, load_config
from .credentials import fingerprint_of_hash
from .errors import ConfigError
from .store import KEY_TYPES, SUBSCRIPTION_STATES, Registry, StoreError


class UsageError(Exception):
    """Bad input on the command line; reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="gateway YAML file (default: gateway.yaml in the working directory)",
    )
    common.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        help="SQLite file of applications and tokens (default: gateway.db beside the config)",
    )
    return common


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value}")
    return value


def _name(text: str) -> str:
    if not text.strip() or any(ord(c) < 32 for c in text):
        raise argparse.ArgumentTypeError(f"invalid application name {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(
        prog="python -m addon",
        description="Manage the gateway's applications, subscriptions and access tokens, "
        "and try sequences without a backend.",
        parents=[common],
    )
    groups = parser.add_subparsers(dest="group", required=True, parser_class=_Parser)

    apps = groups.add_parser("apps", help="applications and their subscriptions")
    apps_commands = apps.add_subparsers(dest="command", required=True, parser_class=_Parser)
    create = apps_commands.add_parser(
        "create", parents=[common], help="create an application (no error if it exists)"
    )
    create.add_argument("name", type=_name, help="application name")
    create.add_argument(
        "--tier", default="Unlimited", help="application throttling tier (default: Unlimited)"
    )
    subscribe = apps_commands.add_parser(
        "subscribe", parents=[common], help="subscribe an application to an API"
    )
    subscribe.add_argument("name", type=_name, help="application name")
    subscribe.add_argument("--api", required=True, help="API name, as in the config")
    subscribe.add_argument(
        "--version", help="API version (default: the only version of that API in the config)"
    )
    subscribe.add_argument(
        "--tier", default="Unlimited", help="subscription tier, e.g. Gold (default: Unlimited)"
    )
    subscribe.add_argument(
        "--state",
        default="UNBLOCKED",
        choices=SUBSCRIPTION_STATES,
        help="subscription state (default: UNBLOCKED)",
    )
    apps_commands.add_parser(
        "list",
        parents=[common],
        help="list applications, subscriptions and token fingerprints (never tokens)",
    )

    tokens = groups.add_parser("tokens", help="access tokens")
    token_commands = tokens.add_subparsers(dest="command", required=True, parser_class=_Parser)
    issue = token_commands.add_parser(
        "issue", parents=[common], help="issue an access token and print it alone"
    )
    issue.add_argument("name", type=_name, help="application name")
    issue.add_argument(
        "--validity",
        type=_positive_int,
        default=3600,
        help="lifetime in seconds (default: 3600)",
    )
    issue.add_argument(
        "--key-type",
        default="PRODUCTION",
        choices=KEY_TYPES,
        help="key type (default: PRODUCTION)",
    )
    revoke = token_commands.add_parser("revoke", parents=[common], help="revoke an access token")
    revoke.add_argument("token", help="the access token to revoke")

    mediate_command.add_parser(groups, common)
    return parser


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    config = Path(getattr(args, "config", "gateway.yaml"))
    db = getattr(args, "db", None)
    return config, Path(db) if db else default_database(config)


def _api_version(config_path: Path, api_name: str, version: str | None) -> str:
    """Check the API against the config and return its version."""
    if not config_path.is_file():
        if version is None:
            raise UsageError(
                f"--version is needed: config file {config_path} not found to look it up"
            )
        return version
    try:
        config = load_config(config_path)
    except ConfigError as e:
        raise UsageError(f"invalid config: {e}") from None
    versions = [api.version for api in config.apis if api.name == api_name]
    if not versions:
        known = ", ".join(sorted({api.name for api in config.apis})) or "none"
        raise UsageError(f"API {api_name!r} not found in {config_path} (found: {known})")
    if version is None:
        if len(versions) > 1:
            raise UsageError(
                f"API {api_name!r} has several versions ({', '.join(versions)}); give --version"
            )
        return versions[0]
    if version not in versions:
        raise UsageError(
            f"API {api_name!r} has no version {version!r} in {config_path} "
            f"(found: {', '.join(versions)})"
        )
    return version


def _time(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _list(registry: Registry) -> None:
    now = time.time()
    applications = registry.applications()
    if not applications:
        print("no applications")
    for app in applications:
        print(f"{app.name}  tier={app.tier}")
        for api_name, api_version, tier, state in app.subscriptions:
            print(f"  subscription {api_name} {api_version}  tier={tier}  state={state}")
        for token in app.tokens:
            if token.revoked:
                status = "revoked"
            elif now >= token.expires_at:
                status = "expired"
            else:
                status = "active"
            print(
                f"  token {fingerprint_of_hash(token.fingerprint_hash)}  {token.key_type}  "
                f"expires {_time(token.expires_at)}  {status}"
            )


def run(args: argparse.Namespace) -> int:
    if args.group == "mediate":
        return mediate_command.run(args)
    config_path, db_path = _paths(args)
    command = (args.group, args.command)
    create = command == ("apps", "create")
    with Registry(db_path, create=create) as registry:
        if command == ("apps", "create"):
            created = registry.create_application(args.name, tier=args.tier)
            state = "created" if created else "already exists"
            print(f"application {args.name} {state}", file=sys.stderr)
        elif command == ("apps", "subscribe"):
            version = _api_version(config_path, args.api, args.version)
            registry.subscribe(
                args.name, args.api, version, tier=args.tier, state=args.state
            )
            print(
                f"application {args.name} subscribed to {args.api} {version} "
                f"(tier {args.tier}, {args.state})",
                file=sys.stderr,
            )
        elif command == ("apps", "list"):
            _list(registry)
        elif command == ("tokens", "issue"):
            token = registry.issue_token(
                args.name, validity=args.validity, key_type=args.key_type
            )
            print(token)
        elif command == ("tokens", "revoke"):
            if not registry.revoke_token(args.token):
                raise UsageError("token not found in the store")
            print("token revoked", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return run(args)
    except UsageError as e:
        print(e, file=sys.stderr)
        return 2
    except StoreError as e:
        print(f"python -m addon: {e}", file=sys.stderr)
        return 2
