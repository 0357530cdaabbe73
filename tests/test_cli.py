"""`python -m addon`: apps and tokens, run as a user runs them."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(tmp_path, *args, config=None):
    config = config or ROOT / "gateway.yaml"
    command = [sys.executable, "-m", "addon", *args, "--db", str(tmp_path / "t.db"), "--config", str(config)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_token_issue_prints_token_alone(tmp_path):
    assert cli(tmp_path, "apps", "create", "App").returncode == 0
    issued = cli(tmp_path, "tokens", "issue", "App", "--validity", "60", "--key-type", "SANDBOX")
    assert issued.returncode == 0
    token = issued.stdout.strip()
    assert issued.stdout == token + "\n"
    assert len(token) == 36

    listed = cli(tmp_path, "apps", "list")
    assert token not in listed.stdout
    assert "token sha256:" in listed.stdout
    assert "SANDBOX" in listed.stdout

    assert cli(tmp_path, "tokens", "revoke", token).returncode == 0
    assert "revoked" in cli(tmp_path, "apps", "list").stdout


def test_subscribe_takes_version_from_config(tmp_path):
    cli(tmp_path, "apps", "create", "App")
    result = cli(tmp_path, "apps", "subscribe", "App", "--api", "TestCustomHeader", "--tier", "Gold")
    assert result.returncode == 0, result.stderr
    assert "subscription TestCustomHeader 1.0.0  tier=Gold  state=UNBLOCKED" in cli(
        tmp_path, "apps", "list"
    ).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tokens", "issue", "App", "--validity", "-5"), "positive number of seconds"),
        (("tokens", "issue", "App", "--key-type", "DEV"), "invalid choice"),
        (("tokens", "issue", "Nope"), "'Nope' not found"),
        (("tokens", "revoke", "unknown-token"), "token not found"),
        (("apps", "subscribe", "App", "--api", "NoSuchApi"), "API 'NoSuchApi' not found"),
        (("apps", "subscribe", "App", "--api", "TestCustomHeader", "--version", "9"), "no version '9'"),
        (("apps", "bogus"), "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    cli(tmp_path, "apps", "create", "App")
    result = cli(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_missing_database_exits_2(tmp_path):
    result = cli(tmp_path, "tokens", "issue", "App")
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize(
    "args", [(), ("apps",), ("apps", "create"), ("apps", "subscribe"), ("apps", "list"),
             ("tokens",), ("tokens", "issue"), ("tokens", "revoke"),
             ("users",), ("users", "add"), ("users", "remove"), ("users", "list")]
)
def test_every_command_has_help(tmp_path, args):
    result = subprocess.run(
        [sys.executable, "-m", "addon", *args, "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "usage: python -m addon" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tokens", "issue", "App", "--validity", "99999999999999999999"), "at most"),
        (("keys", "create", "--name", "../evil"), "invalid key pair name"),
    ],
)
def test_out_of_range_input_exits_2(tmp_path, args, message):
    """Values the store or the file system cannot take are bad input, not a traceback."""
    cli(tmp_path, "apps", "create", "App")
    result = cli(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (ROOT / "evil.key").exists()


def test_list_shows_api_key_fingerprints(tmp_path):
    """`apps list` shows each API key's fingerprint and state, never the key."""
    cli(tmp_path, "apps", "create", "App")
    key = cli(tmp_path, "apikeys", "issue", "App").stdout.strip()
    assert key

    listed = cli(tmp_path, "apps", "list").stdout

    assert "  api key sha256:" in listed
    assert "active" in listed
    assert key not in listed


def test_users_add_reads_password_from_stdin_or_env(tmp_path):
    """`users add` never takes the password as an argument; the list shows roles only."""
    command = [sys.executable, "-m", "addon", "users", "add", "alice", "--role", "HR",
               "--db", str(tmp_path / "t.db"), "--config", str(ROOT / "gateway.yaml")]
    added = subprocess.run(command, cwd=ROOT, input="wonderland\n", capture_output=True,
                           text=True, timeout=30)
    assert added.returncode == 0, added.stderr
    assert "user alice added (roles: HR)" in added.stderr

    missing = cli(tmp_path, "users", "add", "bob", "--password-env", "NO_SUCH_VARIABLE_SET")
    assert missing.returncode == 2
    assert "NO_SUCH_VARIABLE_SET is not set" in missing.stderr

    listed = cli(tmp_path, "users", "list")
    assert listed.stdout == "alice  roles=HR\n"
    assert "wonderland" not in listed.stdout
    assert cli(tmp_path, "users", "remove", "nobody").returncode == 2
