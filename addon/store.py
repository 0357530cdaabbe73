"""The registered-application table: applications, subscriptions, tokens and users.

SQLite is the embedded default. The proxy reads through one read-only connection in
autocommit mode, so each lookup is its own short transaction and sees a token issued or
revoked by the command line on the very next request. Facts that shape this module:

- `sqlite3.connect` silently creates a missing file; both sides open with a `mode=`
  URI instead, and only the command line may create the database.
- A connection in Python's legacy transaction mode can stay inside a transaction after
  a failed statement and keep serving an old snapshot; `isolation_level=None` avoids it.
- In WAL mode readers never wait for the writer, so the proxy's event loop is not held
  up by a command-line write. Writers take `BEGIN IMMEDIATE` so that two writers queue
  on the busy timeout instead of failing half-way.
- An open connection keeps reading the file it opened, even after that file was
  deleted or replaced by a new database at the same path. The proxy compares the
  path's device and inode with the open file's at most once a second, reopens on a
  change, and fails closed (900900) while the file is missing.
- `PRAGMA data_version` returns a new value on a connection once another connection
  has committed to the database, and it costs about half of a token lookup (4 µs
  against 8.6 µs, measured on a 2-core x86_64 VM with Python 3.11.7). So the
  proxy keeps the records it looked up and drops them all whenever that value
  changes: a token issued, revoked or resubscribed is seen on the next request.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .credentials import (
    hash_password,
    new_api_key,
    new_consumer_key,
    new_opaque_token,
    token_hash,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 3

# Seconds between two checks that the proxy's database file is still the one it opened.
FILE_CHECK_INTERVAL = 1.0

# Maximum number of lookup results (misses included) that the proxy caches between two
# commits. At the limit it drops them all, so unknown tokens cannot grow the memory.
MAX_CACHED_RECORDS = 4096

KEY_TYPES = ("PRODUCTION", "SANDBOX")
SUBSCRIPTION_STATES = (
    "UNBLOCKED",
    "BLOCKED",
    "PROD_ONLY_BLOCKED",
    "ON_HOLD",
    "REJECTED",
)

# Each entry upgrades the schema from the version before it; PRAGMA user_version
# records how far a database has come.
MIGRATIONS: dict[int, str] = {
    1: """
        CREATE TABLE applications (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            tier TEXT NOT NULL DEFAULT 'Unlimited',
            owner TEXT NOT NULL DEFAULT 'admin',
            created_at INTEGER NOT NULL
        );
        CREATE TABLE subscriptions (
            id INTEGER PRIMARY KEY,
            application_id INTEGER NOT NULL
                REFERENCES applications(id) ON DELETE CASCADE,
            api_name TEXT NOT NULL,
            api_version TEXT NOT NULL,
            tier TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'UNBLOCKED',
            created_at INTEGER NOT NULL,
            UNIQUE (application_id, api_name, api_version)
        );
        CREATE TABLE access_tokens (
            token_hash TEXT PRIMARY KEY,
            application_id INTEGER NOT NULL
                REFERENCES applications(id) ON DELETE CASCADE,
            key_type TEXT NOT NULL CHECK (key_type IN ('PRODUCTION', 'SANDBOX')),
            scopes TEXT NOT NULL DEFAULT '',
            issued_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX access_tokens_application ON access_tokens(application_id);
    """,
    # Version 2: API keys (stored as hashes), the consumer keys that self-contained
    # JWT access tokens name in their `azp` claim (one per application and key type,
    # as WSO2 issues production and sandbox keys), JWT revocation by `jti`, and an
    # application UUID for the backend JWT's applicationUUId claim.
    2: """
        ALTER TABLE applications ADD COLUMN uuid TEXT;
        UPDATE applications SET uuid = lower(
            hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
            substr(hex(randomblob(2)), 2) || '-a' || substr(hex(randomblob(2)), 2) ||
            '-' || hex(randomblob(6)));
        CREATE TABLE consumer_keys (
            consumer_key TEXT PRIMARY KEY,
            application_id INTEGER NOT NULL
                REFERENCES applications(id) ON DELETE CASCADE,
            key_type TEXT NOT NULL CHECK (key_type IN ('PRODUCTION', 'SANDBOX')),
            created_at INTEGER NOT NULL,
            UNIQUE (application_id, key_type)
        );
        CREATE TABLE api_keys (
            key_hash TEXT PRIMARY KEY,
            application_id INTEGER NOT NULL
                REFERENCES applications(id) ON DELETE CASCADE,
            key_type TEXT NOT NULL CHECK (key_type IN ('PRODUCTION', 'SANDBOX')),
            issued_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX api_keys_application ON api_keys(application_id);
        CREATE TABLE revoked_jwts (
            jti TEXT PRIMARY KEY,
            expires_at INTEGER NOT NULL,
            revoked_at INTEGER NOT NULL
        );
    """,
    # Version 3: the users that basic authentication checks, with a salted PBKDF2
    # hash of each password and the roles that scopes bind to. Also the end user of
    # each access token, NULL for an application token (client credentials grant).
    3: """
        ALTER TABLE access_tokens ADD COLUMN user_name TEXT;
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            roles TEXT NOT NULL DEFAULT '',
            created_at INTEGER NOT NULL
        );
    """,
}


class StoreError(Exception):
    """The database is missing, unreadable, or of an unknown schema version."""


class StoreUnavailable(sqlite3.OperationalError):
    """The proxy's database file was deleted or replaced by one it cannot read.

    A subclass of sqlite3's error, so that every lookup's caller fails closed on it
    as on any other database error.
    """


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """The stored facts about one access token, for one API.

    Frozen because `TokenStore` caches each record and hands the same object to every
    request with that token until the next commit.
    """

    application_id: int
    application_name: str
    application_tier: str
    application_owner: str
    key_type: str
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int
    revoked: bool
    subscription_tier: str | None
    subscription_state: str | None
    application_uuid: str = ""
    # The end user of a user token; empty for an application token.
    user_name: str = ""

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A basic-auth user: the stored password hash and the user's roles."""

    name: str
    password_hash: str
    roles: tuple[str, ...]


def _split_roles(text: str) -> tuple[str, ...]:
    return tuple(role for role in text.split(",") if role)


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=2.0)
    except sqlite3.OperationalError as e:
        raise StoreError(f"cannot open database {path}: {e}") from e
    return conn


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path} is not a usable SQLite database: {e}") from e
    if version != SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {version}, this gateway needs "
            f"{SCHEMA_VERSION}; run any 'python -m addon' command to upgrade it"
        )


class TokenStore:
    """Read-only access to the table, as the proxy uses it on every request."""

    _LOOKUP = """
        SELECT t.application_id, a.name, a.tier, a.owner, t.key_type, t.scopes,
               t.issued_at, t.expires_at, t.revoked, s.tier, s.state, a.uuid,
               t.user_name
        FROM access_tokens AS t
        JOIN applications AS a ON a.id = t.application_id
        LEFT JOIN subscriptions AS s
            ON s.application_id = t.application_id
            AND s.api_name = ? AND s.api_version = ?
        WHERE t.token_hash = ?
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        # The device and inode of the open file, and the problem last logged.
        self._file_id: tuple[int, int] | None = None
        self._problem: str | None = None
        self._checked_at = time.monotonic()
        # Lookup results by (query, key, API name, API version), valid while the
        # connection's data_version stays the same.
        self._records: dict[tuple[str, str, str, str], TokenRecord | None] = {}
        self._data_version: int | None = None
        self._open()

    def _open(self) -> None:
        """Open the file at `path`; raise StoreError when it is missing or unusable."""
        try:
            file_id = _file_id(self.path)
        except OSError:
            raise StoreError(
                f"database {self.path} does not exist; create it with "
                "'python -m addon apps create NAME'"
            ) from None
        conn = _connect(self.path, "ro")
        try:
            conn.execute("PRAGMA query_only = 1")
            conn.execute("PRAGMA busy_timeout = 200")
            _check_schema(conn, self.path)
        except (StoreError, sqlite3.Error) as e:
            conn.close()
            raise StoreError(str(e)) from e
        self._conn = conn
        self._file_id = file_id
        # data_version values of different connections are not comparable.
        self._records = {}
        self._data_version = None

    def _connection(self) -> sqlite3.Connection:
        """Return the connection, first reopening it if the file was replaced.

        Raises StoreUnavailable while the file is missing or cannot be opened.
        """
        now = time.monotonic()
        if now - self._checked_at >= FILE_CHECK_INTERVAL:
            self._checked_at = now
            self._follow_file()
        if self._conn is None:
            raise StoreUnavailable(self._problem or f"database {self.path} is not open")
        return self._conn

    def _follow_file(self) -> None:
        try:
            file_id = _file_id(self.path)
        except OSError:
            file_id = None
        if file_id is not None and file_id == self._file_id and self._conn is not None:
            return
        self.close()
        if file_id is None:
            self._report(
                f"database {self.path} was deleted; every credential check fails "
                "with 900900 until it is created again"
            )
            return
        try:
            self._open()
        except StoreError as e:
            self._report(f"{e}; every credential check fails with 900900")
            return
        logger.warning("gateway: database %s was replaced; reopened it", self.path)
        self._problem = None

    def _report(self, problem: str) -> None:
        """Log a problem with the file once, not on every check."""
        if problem != self._problem:
            logger.error("gateway: %s", problem)
        self._problem = problem

    _API_KEY_LOOKUP = """
        SELECT k.application_id, a.name, a.tier, a.owner, k.key_type, '',
               k.issued_at, k.expires_at, k.revoked, s.tier, s.state, a.uuid, ''
        FROM api_keys AS k
        JOIN applications AS a ON a.id = k.application_id
        LEFT JOIN subscriptions AS s
            ON s.application_id = k.application_id
            AND s.api_name = ? AND s.api_version = ?
        WHERE k.key_hash = ?
    """

    _CONSUMER_KEY_LOOKUP = """
        SELECT c.application_id, a.name, a.tier, a.owner, c.key_type, '',
               c.created_at, 0, 0, s.tier, s.state, a.uuid, ''
        FROM consumer_keys AS c
        JOIN applications AS a ON a.id = c.application_id
        LEFT JOIN subscriptions AS s
            ON s.application_id = c.application_id
            AND s.api_name = ? AND s.api_version = ?
        WHERE c.consumer_key = ?
    """

    def _cached_record(
        self, query: str, key: str, api_name: str, api_version: str
    ) -> TokenRecord | None:
        """Return a lookup's record, cached until another connection commits."""
        conn = self._connection()
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._records = {}
            self._data_version = version
        cache_key = (query, key, api_name, api_version)
        records = self._records
        if cache_key in records:
            return records[cache_key]
        row = conn.execute(query, (api_name, api_version, key)).fetchone()
        record = _record(row)
        if len(records) >= MAX_CACHED_RECORDS:
            records.clear()
        records[cache_key] = record
        return record

    def lookup(self, digest: str, api_name: str, api_version: str) -> TokenRecord | None:
        """Return the token with SHA-256 `digest` and its subscription to one API."""
        return self._cached_record(self._LOOKUP, digest, api_name, api_version)

    def lookup_api_key(self, digest: str, api_name: str, api_version: str) -> TokenRecord | None:
        """Return the API key with SHA-256 `digest` and its subscription to one API."""
        return self._cached_record(self._API_KEY_LOOKUP, digest, api_name, api_version)

    def lookup_consumer_key(
        self, consumer_key: str, api_name: str, api_version: str
    ) -> TokenRecord | None:
        """Return the application that owns `consumer_key` and its subscription to one API.

        The record's times are zero: a JWT access token carries its own.
        """
        return self._cached_record(
            self._CONSUMER_KEY_LOOKUP, consumer_key, api_name, api_version
        )

    def lookup_user(self, name: str) -> UserRecord | None:
        """Return the basic-auth user `name` with its password hash and roles."""
        row = self._connection().execute(
            "SELECT name, password_hash, roles FROM users WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return None
        return UserRecord(row[0], row[1], _split_roles(row[2]))

    def jwt_revoked(self, jti: str) -> bool:
        """Return True when the JWT with this `jti` was revoked."""
        row = self._connection().execute(
            "SELECT 1 FROM revoked_jwts WHERE jti = ?", (jti,)
        ).fetchone()
        return row is not None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _file_id(path: Path) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino


def _record(row: tuple | None) -> TokenRecord | None:
    if row is None:
        return None
    return TokenRecord(
        application_id=row[0],
        application_name=row[1],
        application_tier=row[2],
        application_owner=row[3],
        key_type=row[4],
        scopes=tuple(row[5].split()),
        issued_at=row[6],
        expires_at=row[7],
        revoked=bool(row[8]),
        subscription_tier=row[9],
        subscription_state=row[10],
        application_uuid=row[11] or "",
        user_name=row[12] or "",
    )


@dataclass(frozen=True, slots=True)
class TokenSummary:
    fingerprint_hash: str
    key_type: str
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class ApplicationSummary:
    name: str
    tier: str
    subscriptions: tuple[tuple[str, str, str, str], ...]
    tokens: tuple[TokenSummary, ...]
    api_keys: tuple[TokenSummary, ...] = ()


class Registry:
    """Read-write access for the command line: applications, subscriptions, tokens."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise StoreError(
                f"database {self.path} does not exist; create it with "
                "'python -m addon apps create NAME'"
            )
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = _connect(self.path, "rwc" if create else "rw")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA busy_timeout = 2000")
        self._migrate()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _migrate(self) -> None:
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a usable SQLite database: {e}") from e
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this "
                f"gateway's {SCHEMA_VERSION}; update the gateway"
            )
        if version == 0:
            self._conn.execute("PRAGMA journal_mode = WAL")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._write() as conn:
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")

    def _application_id(self, name: str) -> int:
        row = self._conn.execute(
            "SELECT id FROM applications WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise StoreError(
                f"application {name!r} not found; create it with "
                f"'python -m addon apps create {name}'"
            )
        return row[0]

    def create_application(self, name: str, *, tier: str = "Unlimited") -> bool:
        """Create application `name`; return False when it already exists."""
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO applications (name, tier, created_at, uuid) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, tier, int(time.time()), str(uuid.uuid4())),
            )
            return cursor.rowcount == 1

    def consumer_key(self, application: str, key_type: str = "PRODUCTION") -> str:
        """Return the consumer key of `application` for `key_type`, creating it once."""
        if key_type not in KEY_TYPES:
            raise StoreError(f"invalid key type {key_type!r}")
        app_id = self._application_id(application)
        with self._write() as conn:
            row = conn.execute(
                "SELECT consumer_key FROM consumer_keys WHERE application_id = ? AND key_type = ?",
                (app_id, key_type),
            ).fetchone()
            if row is not None:
                return row[0]
            key = new_consumer_key()
            conn.execute(
                "INSERT INTO consumer_keys (consumer_key, application_id, key_type, created_at) "
                "VALUES (?, ?, ?, ?)",
                (key, app_id, key_type, int(time.time())),
            )
            return key

    def application_owner(self, application: str) -> str:
        row = self._conn.execute(
            "SELECT owner FROM applications WHERE name = ?", (application,)
        ).fetchone()
        if row is None:
            self._application_id(application)
        return row[0]

    def issue_api_key(
        self,
        application: str,
        *,
        validity: int = 3600,
        key_type: str = "PRODUCTION",
        now: float | None = None,
    ) -> str:
        """Issue a new API key for `application` and return it; the store keeps its hash."""
        if key_type not in KEY_TYPES:
            raise StoreError(f"invalid key type {key_type!r}")
        app_id = self._application_id(application)
        key = new_api_key()
        issued = int(time.time() if now is None else now)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO api_keys (key_hash, application_id, key_type, issued_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_hash(key), app_id, key_type, issued, issued + validity),
            )
        return key

    def revoke_api_key(self, key: str) -> bool:
        """Revoke API key `key`; return False when the store does not know it."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked = 1 WHERE key_hash = ?", (token_hash(key),)
            )
            return cursor.rowcount == 1

    def revoke_jwt(self, jti: str, expires_at: int) -> None:
        """Record that the JWT with this `jti` is revoked until it expires."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO revoked_jwts (jti, expires_at, revoked_at) VALUES (?, ?, ?) "
                "ON CONFLICT (jti) DO NOTHING",
                (jti, expires_at, int(time.time())),
            )

    def subscribe(
        self,
        application: str,
        api_name: str,
        api_version: str,
        *,
        tier: str = "Unlimited",
        state: str = "UNBLOCKED",
    ) -> None:
        """Subscribe `application` to an API, or update the tier and state."""
        if state not in SUBSCRIPTION_STATES:
            raise StoreError(f"invalid subscription state {state!r}")
        app_id = self._application_id(application)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO subscriptions "
                "(application_id, api_name, api_version, tier, state, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (application_id, api_name, api_version) "
                "DO UPDATE SET tier = excluded.tier, state = excluded.state",
                (app_id, api_name, api_version, tier, state, int(time.time())),
            )

    def issue_token(
        self,
        application: str,
        *,
        validity: int = 3600,
        key_type: str = "PRODUCTION",
        scopes: tuple[str, ...] = (),
        user: str | None = None,
        now: float | None = None,
    ) -> str:
        """Issue a new opaque token for `application` and return it.

        Without `user` it is an application token, as the client credentials grant
        issues. With `user` it is a user token of that end user, as from the password
        grant.
        """
        if key_type not in KEY_TYPES:
            raise StoreError(f"invalid key type {key_type!r}")
        app_id = self._application_id(application)
        token = new_opaque_token()
        issued = int(time.time() if now is None else now)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO access_tokens "
                "(token_hash, application_id, key_type, scopes, issued_at, expires_at, "
                "user_name) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_hash(token), app_id, key_type, " ".join(scopes), issued,
                 issued + validity, user),
            )
        return token

    def revoke_token(self, token: str) -> bool:
        """Revoke `token`; return False when the store does not know it."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE access_tokens SET revoked = 1 WHERE token_hash = ?",
                (token_hash(token),),
            )
            return cursor.rowcount == 1

    def set_user(self, name: str, password: str, roles: tuple[str, ...]) -> bool:
        """Create user `name` or replace its password and roles; return True if new."""
        with self._write() as conn:
            existed = conn.execute(
                "SELECT 1 FROM users WHERE name = ?", (name,)
            ).fetchone()
            conn.execute(
                "INSERT INTO users (name, password_hash, roles, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "password_hash = excluded.password_hash, roles = excluded.roles",
                (name, hash_password(password), ",".join(roles), int(time.time())),
            )
        return existed is None

    def remove_user(self, name: str) -> bool:
        """Remove user `name`; return False when there is none."""
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM users WHERE name = ?", (name,))
        return cursor.rowcount > 0

    def users(self) -> list[tuple[str, tuple[str, ...]]]:
        """Return each user's name and roles, by name."""
        rows = self._conn.execute("SELECT name, roles FROM users ORDER BY name")
        return [(name, _split_roles(roles)) for name, roles in rows]

    def applications(self) -> list[ApplicationSummary]:
        """Return every application with its subscriptions and token summaries."""
        result = []
        apps = self._conn.execute(
            "SELECT id, name, tier FROM applications ORDER BY name"
        ).fetchall()
        for app_id, name, tier in apps:
            subscriptions = self._conn.execute(
                "SELECT api_name, api_version, tier, state FROM subscriptions "
                "WHERE application_id = ? ORDER BY api_name, api_version",
                (app_id,),
            ).fetchall()
            tokens = self._conn.execute(
                "SELECT token_hash, key_type, scopes, issued_at, expires_at, revoked "
                "FROM access_tokens WHERE application_id = ? ORDER BY issued_at",
                (app_id,),
            ).fetchall()
            api_keys = self._conn.execute(
                "SELECT key_hash, key_type, issued_at, expires_at, revoked "
                "FROM api_keys WHERE application_id = ? ORDER BY issued_at",
                (app_id,),
            ).fetchall()
            result.append(
                ApplicationSummary(
                    name=name,
                    tier=tier,
                    subscriptions=tuple(tuple(s) for s in subscriptions),
                    tokens=tuple(
                        TokenSummary(t[0], t[1], tuple(t[2].split()), t[3], t[4], bool(t[5]))
                        for t in tokens
                    ),
                    api_keys=tuple(
                        TokenSummary(k[0], k[1], (), k[2], k[3], bool(k[4])) for k in api_keys
                    ),
                )
            )
        return result
