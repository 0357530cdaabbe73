"""Hot reload of the config file and the sequence files while the gateway runs."""

from __future__ import annotations

import asyncio
import json

from conftest import TOKEN_EXCHANGE, tutorial_config, wait_for
from mitmproxy.test import taddons

from addon import reload
from addon.gateway import Gateway

NEW_VERSION = """\
<sequence xmlns="http://ws.apache.org/ns/synapse" name="TokenExchange">
    <property name="Authorization" expression="get-property('transport', 'Custom')"
              scope="transport"/>
    <property name="Custom" scope="transport" action="remove"/>
    <property name="X-Sequence-Version" value="2" scope="transport"/>
</sequence>
"""

BROKEN = """\
<sequence xmlns="http://ws.apache.org/ns/synapse" name="TokenExchange">
    <property name="a" value="b"/>
    <script language="js">mc.setProperty("x", 1)</script>
</sequence>
"""


def test_snapshot_sees_edits_new_and_removed_files(tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text("apis: []\n")
    folder = tmp_path / "sequences"
    folder.mkdir()
    (folder / "A.xml").write_text("a")
    (folder / "notes.txt").write_text("not a sequence")
    before = reload.snapshot(config, folder)

    (folder / "A.xml").write_text("changed")
    (folder / "B.xml").write_text("b")
    after = reload.snapshot(config, folder)

    assert sorted(before) == [str(config), str(folder / "A.xml")]
    assert reload.changed_files(before, after) == [
        str(folder / "A.xml"),
        str(folder / "B.xml"),
    ]
    assert reload.changed_files(after, reload.snapshot(config, folder)) == []


def test_watcher_reloads_config_file_edit(workspace, backend):
    """An edit to gateway.yaml, here a second API, is in force without a restart."""
    workspace.write_config(tutorial_config(backend.url))
    workspace.write_sequence("TokenExchange", TOKEN_EXCHANGE)
    workspace.registry().close()
    gateway = Gateway()
    watcher = reload.ConfigWatcher(gateway, interval=0.05)

    async def edit_and_wait() -> bool:
        task = asyncio.create_task(watcher.watch())
        await asyncio.sleep(0.1)
        workspace.write_config(
            tutorial_config(backend.url)
            + f"  - name: Second\n    context: /second\n    version: v1\n"
            f"    endpoint: {backend.url}/\n"
        )
        for _ in range(40):
            await asyncio.sleep(0.05)
            if len(gateway.config.apis) == 2:
                break
        task.cancel()
        return len(gateway.config.apis) == 2

    with taddons.context(gateway) as tctx:
        tctx.configure(gateway, gateway_config=str(workspace.config))
        first = gateway.config.generation
        assert asyncio.run(edit_and_wait())
        assert gateway.config.generation > first


def call(gateway, token):
    return gateway.request(
        "GET",
        "/testcustomheader/1.0.0",
        {"Authorization": f"Bearer {token}", "Custom": "Bearer 1234"},
    )


def test_sequence_edit_applies_to_next_call(tutorial, backend):
    """Edit TokenExchange.xml while mitmdump runs; the next call uses the new one."""
    token = tutorial.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = tutorial.start()
    assert call(gateway, token).status == 200

    tutorial.write_sequence("TokenExchange", NEW_VERSION)
    assert wait_for(
        lambda: "reloaded after a change to sequences/TokenExchange.xml" in gateway.log
    ), gateway.log
    response = call(gateway, token)

    assert response.status == 200
    first, second = backend.requests
    assert first.header("X-Sequence-Version") is None
    assert second.header("X-Sequence-Version") == "2"
    assert "config generation " in gateway.log
    assert "outcome=forwarded status=200 config=1" in gateway.log
    assert wait_for(lambda: "outcome=forwarded status=200 config=2" in gateway.log)


def test_broken_edit_is_rejected_and_old_version_kept(tutorial, backend):
    """A broken sequence is rejected with its file and line; the last good one stays."""
    token = tutorial.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = tutorial.start()
    tutorial.write_sequence("TokenExchange", NEW_VERSION)
    assert wait_for(lambda: "reloaded after a change" in gateway.log), gateway.log

    tutorial.write_sequence("TokenExchange", BROKEN)
    assert wait_for(lambda: "stays in force" in gateway.log), gateway.log
    response = call(gateway, token)

    assert response.status == 200
    [received] = backend.requests
    assert received.header("X-Sequence-Version") == "2"
    assert received.header_values("Authorization") == ["Bearer 1234"]
    assert (
        "sequences/TokenExchange.xml:3:5: mediator <script> is not supported"
        in gateway.log
    )
    assert gateway.process.poll() is None


def test_reload_records_generation_in_flow_metadata(workspace, backend):
    """Each flow's metadata names the config generation that handled it."""
    workspace.write_config(tutorial_config(backend.url))
    workspace.write_sequence("TokenExchange", TOKEN_EXCHANGE)
    workspace.registry().close()
    gateway = Gateway()
    with taddons.context(gateway) as tctx:
        tctx.configure(gateway, gateway_config=str(workspace.config))
        first = gateway.config.generation
        workspace.write_sequence("TokenExchange", NEW_VERSION)
        reload.reload_gateway(gateway, "a test")
        state = {"method": "GET", "path": "/nothing"}
        answer = gateway.run(_request("/nothing"), state)

    assert answer.status_code == 404
    assert state["config_generation"] == gateway.config.generation
    assert state["config_generation"] != first
    json.dumps(state)


def _request(path):
    from mitmproxy.test import tflow

    flow = tflow.tflow()
    flow.request.path = path
    return flow.request


def test_truncated_config_rejected_and_apis_kept(tutorial, backend):
    """An editor's truncate-then-write leaves no 'apis' key: rejected, the APIs stay."""
    token = tutorial.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = tutorial.start()

    tutorial.write_config("")
    assert wait_for(lambda: "stays in force" in gateway.log), gateway.log
    response = call(gateway, token)

    assert response.status == 200
    assert "gateway.yaml:1: no 'apis' list: the file is empty" in gateway.log
