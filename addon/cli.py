"""Command line for the registered-application table: `python -m addon ...`.

`python -m addon check` validates the config and sequences instead (see `check`).

Every command takes `--config` and `--db`, which default as the addon's options do:
`gateway.yaml` in the working directory and `gateway.db` beside it. Bad input exits
with status 2 and one line on standard error. `tokens issue` and `apikeys issue` print
the credential alone on standard output, so `TOKEN=$(python -m addon tokens issue NAME)`
works; nothing else ever prints a credential. `keys create` makes the key pair that
signs JWT access tokens (`tokens issue --jwt`) and backend JWTs. `users add` keeps
the users that basic authentication accepts, with a hash of each password.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import mediate_command
from .check import run_check
from .config import GatewayConfig, default_database, load_config
from .credentials import fingerprint_of_hash
from .errors import ConfigError
from .keypairs import create_key_pair, key_paths
from .settings import DEFAULT_ISSUER, DEFAULT_KEY_NAME
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


# The longest lifetime a token or key may get: 100 years, in seconds.
MAX_VALIDITY = 100 * 365 * 24 * 3600


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value}")
    if value > MAX_VALIDITY:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_VALIDITY} seconds (100 years), not {value}"
        )
    return value


def _file_stem(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", text):
        raise argparse.ArgumentTypeError(
            f"invalid key pair name {text!r}: use letters, digits, '_', '.' and '-' only"
        )
    return text


def _name(text: str) -> str:
    if not text.strip() or any(ord(c) < 32 for c in text):
        raise argparse.ArgumentTypeError(f"invalid application name {text!r}")
    return text


def _user_name(text: str) -> str:
    # ':' ends the user name in Basic credentials and '@' starts a tenant.
    invalid = (
        not text.strip()
        or text != text.strip()
        or any(ord(c) < 32 or c in ":@," for c in text)
    )
    if invalid:
        raise argparse.ArgumentTypeError(
            f"invalid user name {text!r}: no spaces around it, no ':', '@' or ','"
        )
    return text


def _role(text: str) -> str:
    if not text.strip() or "," in text or any(ord(c) < 32 for c in text):
        raise argparse.ArgumentTypeError(f"invalid role {text!r}: no ',' and not empty")
    return text.strip()


def _password(args: argparse.Namespace) -> str:
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            raise UsageError(f"environment variable {args.password_env} is not set")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("the password must not be empty")
    if "\x00" in password:
        raise UsageError("the password must not contain NUL characters")
    return password


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(
        prog="python -m addon",
        description=(
            "Manage the gateway's applications, subscriptions and access tokens, "
            "check its config, and try sequences without a backend."
        ),
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
    issue.add_argument(
        "--jwt",
        action="store_true",
        help="issue a self-contained JWT access token signed with keys/wso2carbon.key "
        "(see 'keys create') instead of an opaque one",
    )
    issue.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SCOPE",
        help="a scope the token grants; repeat for several",
    )
    issue.add_argument(
        "--user",
        type=_user_name,
        help="issue a user token of this end user, as the password grant does "
        "(default: an application token, as the client credentials grant issues)",
    )
    issue.add_argument(
        "--key",
        help="private key that signs a --jwt token (default: keys/wso2carbon.key beside the config)",
    )
    issue.add_argument(
        "--issuer",
        help="iss claim of a --jwt token (default: the first key manager's issuer, "
        f"else {DEFAULT_ISSUER})",
    )
    revoke = token_commands.add_parser(
        "revoke", parents=[common], help="revoke an access token (opaque, or a JWT by its jti)"
    )
    revoke.add_argument("token", help="the access token to revoke")

    check = groups.add_parser(
        "check",
        parents=[common],
        help="validate the config and every sequence file; exit 1 on any problem",
    )
    check.add_argument(
        "--sequences",
        help="folder of sequence files (default: 'sequences' beside the config file)",
    )
    apikeys = groups.add_parser("apikeys", help="API keys")
    apikey_commands = apikeys.add_subparsers(dest="command", required=True, parser_class=_Parser)
    key_issue = apikey_commands.add_parser(
        "issue", parents=[common], help="issue an API key and print it alone"
    )
    key_issue.add_argument("name", type=_name, help="application name")
    key_issue.add_argument(
        "--validity", type=_positive_int, default=3600, help="lifetime in seconds (default: 3600)"
    )
    key_issue.add_argument(
        "--key-type", default="PRODUCTION", choices=KEY_TYPES, help="key type (default: PRODUCTION)"
    )
    key_revoke = apikey_commands.add_parser("revoke", parents=[common], help="revoke an API key")
    key_revoke.add_argument("key", help="the API key to revoke")

    users = groups.add_parser("users", help="users that basic authentication accepts")
    user_commands = users.add_subparsers(dest="command", required=True, parser_class=_Parser)
    user_add = user_commands.add_parser(
        "add",
        parents=[common],
        help="add a user, or replace an existing user's password and roles",
        description=(
            "The password is read from the environment variable --password-env names, "
            "else from one line of standard input, else asked for at the terminal. "
            "The store keeps a salted PBKDF2 hash of it."
        ),
    )
    user_add.add_argument("name", type=_user_name, help="user name, without a tenant")
    user_add.add_argument(
        "--role",
        action="append",
        default=[],
        type=_role,
        help="a role of the user, which API scopes bind to (repeatable)",
    )
    user_add.add_argument(
        "--password-env", metavar="VAR", help="read the password from this environment variable"
    )
    user_remove = user_commands.add_parser("remove", parents=[common], help="remove a user")
    user_remove.add_argument("name", type=_user_name, help="user name")
    user_commands.add_parser("list", parents=[common], help="list users and their roles")

    keys = groups.add_parser("keys", help="signing key pairs")
    keys_commands = keys.add_subparsers(dest="command", required=True, parser_class=_Parser)
    keys_create = keys_commands.add_parser(
        "create",
        parents=[common],
        help="create keys/NAME.key and keys/NAME.crt beside the config",
    )
    keys_create.add_argument(
        "--name",
        type=_file_stem,
        default=DEFAULT_KEY_NAME,
        help=f"file name of the pair, without folder or extension (default: {DEFAULT_KEY_NAME})",
    )
    keys_create.add_argument("--force", action="store_true", help="replace an existing pair")
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


def _config(config_path: Path) -> GatewayConfig | None:
    """Load the config when it exists, to check names against it."""
    if not config_path.is_file():
        return None
    try:
        return load_config(config_path)
    except ConfigError as e:
        raise UsageError(f"invalid config: {e}") from None


def _check_tier(config_path: Path, level: str, tier: str) -> None:
    config = _config(config_path)
    if config is not None and config.tiers.get(level, tier) is None:
        known = ", ".join(config.tiers.names(level))
        raise UsageError(f"{level} tier {tier!r} is not defined (known: {known})")


def _issue_jwt(args: argparse.Namespace, registry: Registry, config_path: Path) -> str:
    from .token_issue import issue_jwt

    key = Path(args.key) if args.key else key_paths(config_path.parent / "keys", DEFAULT_KEY_NAME)[0]
    if not key.is_file():
        raise UsageError(f"signing key {key} not found; create it with 'python -m addon keys create'")
    issuer = args.issuer
    if issuer is None:
        config = _config(config_path)
        managers = config.key_managers if config else ()
        issuer = managers[0].issuer if managers else DEFAULT_ISSUER
    return issue_jwt(
        registry,
        args.name,
        signing_key=key,
        issuer=issuer,
        key_type=args.key_type,
        scopes=tuple(args.scope),
        validity=args.validity,
        user=args.user,
    )


def _revoke_token(registry: Registry, token: str) -> None:
    from .credentials_jwt import decode_unverified, looks_like_jwt

    if looks_like_jwt(token):
        try:
            _, claims = decode_unverified(token)
        except Exception:  # noqa: BLE001 - any unreadable token is a usage error
            raise UsageError("the token looks like a JWT but cannot be read") from None
        jti = claims.get("jti")
        if not isinstance(jti, str):
            raise UsageError("the JWT has no jti claim to revoke it by")
        registry.revoke_jwt(jti, int(claims.get("exp", 0) or 0))
        return
    if not registry.revoke_token(token):
        raise UsageError("token not found in the store")


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
        credentials = [("token", t) for t in app.tokens]
        credentials += [("api key", k) for k in app.api_keys]
        for kind, credential in credentials:
            if credential.revoked:
                status = "revoked"
            elif now >= credential.expires_at:
                status = "expired"
            else:
                status = "active"
            print(
                f"  {kind} {fingerprint_of_hash(credential.fingerprint_hash)}  "
                f"{credential.key_type}  expires {_time(credential.expires_at)}  {status}"
            )


def run(args: argparse.Namespace) -> int:
    if args.group == "mediate":
        return mediate_command.run(args)
    config_path, db_path = _paths(args)
    if args.group == "check":
        sequences = Path(args.sequences) if args.sequences else None
        return run_check(config_path, sequences)
    command = (args.group, args.command)
    if command == ("keys", "create"):
        try:
            key, cert = create_key_pair(config_path.parent / "keys", args.name, force=args.force)
        except FileExistsError as e:
            raise UsageError(str(e)) from None
        print(f"created {key} and {cert}", file=sys.stderr)
        return 0
    create = command in (("apps", "create"), ("users", "add"))
    if command == ("apps", "create"):
        _check_tier(config_path, "application", args.tier)
    if command == ("apps", "subscribe"):
        _check_tier(config_path, "subscription", args.tier)
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
            if args.jwt:
                token = _issue_jwt(args, registry, config_path)
            else:
                token = registry.issue_token(
                    args.name,
                    validity=args.validity,
                    key_type=args.key_type,
                    scopes=tuple(args.scope),
                    user=args.user,
                )
            print(token)
        elif command == ("tokens", "revoke"):
            _revoke_token(registry, args.token)
            print("token revoked", file=sys.stderr)
        elif command == ("users", "add"):
            created = registry.set_user(args.name, _password(args), tuple(args.role))
            roles = ", ".join(args.role) or "none"
            state = "added" if created else "updated"
            print(f"user {args.name} {state} (roles: {roles})", file=sys.stderr)
        elif command == ("users", "remove"):
            if not registry.remove_user(args.name):
                raise UsageError(f"user {args.name!r} not found in the store")
            print(f"user {args.name} removed", file=sys.stderr)
        elif command == ("users", "list"):
            users = registry.users()
            if not users:
                print("no users")
            for name, roles in users:
                print(f"{name}  roles={','.join(roles) or '-'}")
        elif command == ("apikeys", "issue"):
            print(registry.issue_api_key(args.name, validity=args.validity, key_type=args.key_type))
        elif command == ("apikeys", "revoke"):
            if not registry.revoke_api_key(args.key):
                raise UsageError("API key not found in the store")
            print("API key revoked", file=sys.stderr)
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
