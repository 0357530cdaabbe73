"""End to end: the gateway follows its database file when it is deleted or replaced.

A developer resets the application table with `rm gateway.db*` and the command line.
While the file is missing, the running gateway fails closed with WSO2's answer to a
key validation it cannot make: 500, 900900 Unclassified Authentication Failure. It
opens the new file within about a second, so old tokens fail and new ones pass
without a restart.
"""

from __future__ import annotations

import json

from conftest import wait_for


def remove_database(path):
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def test_deleted_then_recreated_database_followed(tutorial):
    """Deleted: 500 with 900900 and one log line. Re-created: new tokens pass, old fail."""
    old = tutorial.app_with_token("App", "TestCustomHeader")
    gateway = tutorial.start()

    def call(token):
        headers = {"Authorization": f"Bearer {token}", "Custom": "Bearer 1234"}
        return gateway.request("GET", "/testcustomheader/1.0.0/a", headers)

    assert call(old).status == 200
    remove_database(tutorial.db)

    assert wait_for(lambda: call(old).status == 500)
    failed = call(old)
    assert json.loads(failed.body)["code"] == "900900"
    assert json.loads(failed.body)["message"] == "Unclassified Authentication Failure"

    new = tutorial.app_with_token("NewApp", "TestCustomHeader")
    assert wait_for(lambda: call(new).status == 200)
    assert call(old).status == 401
    assert gateway.log.count("was deleted") == 1
    assert "was replaced; reopened it" in gateway.log
