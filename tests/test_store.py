"""The registered-application table: schema, lookups, issue and revoke."""

import sqlite3
import time

import pytest

from addon.credentials import token_hash, verify_password
from addon import store as store_module
from addon.store import (
    SCHEMA_VERSION,
    Registry,
    StoreError,
    StoreUnavailable,
    TokenStore,
)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "gateway.db"
    with Registry(path, create=True) as registry:
        registry.create_application("App", tier="10PerMin")
        registry.subscribe("App", "Api", "1.0.0", tier="Gold")
    return path


def test_store_keeps_only_token_hashes(db):
    with Registry(db) as registry:
        token = registry.issue_token("App")
    raw = db.read_bytes() + (db.with_name(db.name + "-wal").read_bytes() if db.with_name(db.name + "-wal").exists() else b"")
    assert token.encode() not in raw
    rows = sqlite3.connect(db).execute("SELECT token_hash FROM access_tokens").fetchall()
    assert rows == [(token_hash(token),)]


def test_lookup_returns_application_and_subscription(db):
    with Registry(db) as registry:
        token = registry.issue_token("App", key_type="SANDBOX", validity=60)
    store = TokenStore(db)
    record = store.lookup(token_hash(token), "Api", "1.0.0")
    assert record.application_name == "App"
    assert record.application_tier == "10PerMin"
    assert record.key_type == "SANDBOX"
    assert record.subscription_tier == "Gold"
    assert record.subscription_state == "UNBLOCKED"
    assert not record.is_expired(time.time())
    assert record.is_expired(time.time() + 61)
    other = store.lookup(token_hash(token), "Other", "1.0.0")
    assert other.subscription_state is None
    assert store.lookup(token_hash("unknown"), "Api", "1.0.0") is None


def test_reader_sees_revocation_at_once(db):
    """The proxy's read connection sees a commit of another connection on its next query."""
    store = TokenStore(db)
    with Registry(db) as registry:
        token = registry.issue_token("App")
        assert not store.lookup(token_hash(token), "Api", "1.0.0").revoked
        assert registry.revoke_token(token)
        assert not registry.revoke_token("unknown")
    assert store.lookup(token_hash(token), "Api", "1.0.0").revoked


def test_cached_lookup_sees_later_commits(db):
    """A record the proxy keeps is dropped once the command line commits a change."""
    store = TokenStore(db)
    with Registry(db) as registry:
        token = registry.issue_token("App")
        digest = token_hash(token)
        first = store.lookup(digest, "Api", "1.0.0")

        assert store.lookup(digest, "Api", "1.0.0") is first
        registry.subscribe("App", "Api", "1.0.0", tier="Gold", state="BLOCKED")
        blocked = store.lookup(digest, "Api", "1.0.0")
        assert registry.revoke_token(token)
        revoked = store.lookup(digest, "Api", "1.0.0")

    assert first.subscription_state == "UNBLOCKED"
    assert blocked.subscription_state == "BLOCKED"
    assert not blocked.revoked
    assert revoked.revoked


def test_cached_miss_sees_later_issue(db):
    """A token looked up before it was issued is found after the issue commits."""
    store = TokenStore(db)
    with Registry(db) as registry:
        key = registry.issue_api_key("App")
        assert store.lookup(token_hash("not-yet"), "Api", "1.0.0") is None
        assert store.lookup_api_key(token_hash(key), "Api", "1.0.0") is not None
        token = registry.issue_token("App")

    assert store.lookup(token_hash(token), "Api", "1.0.0") is not None
    assert store.lookup_api_key(token_hash(token), "Api", "1.0.0") is None


def test_cached_records_are_bounded(db, monkeypatch):
    """Many unknown tokens cannot grow the proxy's kept records past the limit."""
    monkeypatch.setattr(store_module, "MAX_CACHED_RECORDS", 3)
    store = TokenStore(db)

    for index in range(10):
        assert store.lookup(token_hash(f"unknown-{index}"), "Api", "1.0.0") is None

    assert len(store._records) <= 3


def test_reader_is_read_only(db):
    store = TokenStore(db)
    with pytest.raises(sqlite3.OperationalError):
        store._conn.execute("DELETE FROM applications")


def test_missing_database_is_not_created(tmp_path):
    path = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="does not exist"):
        TokenStore(path)
    with pytest.raises(StoreError, match="does not exist"):
        Registry(path)
    assert not path.exists()


def test_garbage_file_is_rejected(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        TokenStore(path)


def test_schema_version_is_recorded(db):
    version = sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION


def test_unknown_application_is_a_clear_error(db):
    with Registry(db) as registry, pytest.raises(StoreError, match="'Nope' not found"):
        registry.issue_token("Nope")


def _remove_database(path):
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def test_reader_follows_replaced_database(db, monkeypatch, caplog):
    """A database deleted and created again is reopened: old tokens fail, new ones pass."""
    monkeypatch.setattr(store_module, "FILE_CHECK_INTERVAL", 0.0)
    with Registry(db) as registry:
        old = registry.issue_token("App")
    store = TokenStore(db)
    assert store.lookup(token_hash(old), "Api", "1.0.0") is not None

    _remove_database(db)
    for _ in range(3):
        with pytest.raises(StoreUnavailable, match="was deleted"):
            store.lookup(token_hash(old), "Api", "1.0.0")
    with Registry(db, create=True) as registry:
        registry.create_application("App")
        registry.subscribe("App", "Api", "1.0.0", tier="Gold")
        new = registry.issue_token("App")

    assert store.lookup(token_hash(old), "Api", "1.0.0") is None
    assert store.lookup(token_hash(new), "Api", "1.0.0") is not None
    deleted = [r for r in caplog.records if "was deleted" in r.getMessage()]
    assert len(deleted) == 1
    assert any("was replaced" in r.getMessage() for r in caplog.records)


def test_reader_checks_file_at_most_once_a_second(db, monkeypatch):
    """Between two checks a lookup never touches the file system."""
    store = TokenStore(db)
    calls = []
    monkeypatch.setattr(store_module, "_file_id", lambda path: calls.append(path))
    for _ in range(100):
        store.lookup(token_hash("unknown"), "Api", "1.0.0")
    assert calls == []


def test_user_passwords_stored_hashed(tmp_path):
    """Basic-auth users: the store keeps a PBKDF2 hash per user, never the password."""
    path = tmp_path / "gateway.db"
    with Registry(path, create=True) as registry:
        assert registry.set_user("alice", "wonderland", ("hr", "admin")) is True
        assert registry.set_user("alice", "looking-glass", ("hr",)) is False
        assert registry.users() == [("alice", ("hr",))]

    assert b"looking-glass" not in path.read_bytes()
    record = TokenStore(path).lookup_user("alice")
    assert record is not None
    assert record.roles == ("hr",)
    assert verify_password("looking-glass", record.password_hash)
    assert not verify_password("wonderland", record.password_hash)
    with Registry(path) as registry:
        assert registry.remove_user("alice") is True
        assert registry.remove_user("alice") is False
