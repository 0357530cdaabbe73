"""The mediation conformance suite: every case through a real mitmdump and backend.

Each YAML file under `cases/` holds a list of cases. A case names the WSO2 behaviour it
pins, gives the in-sequence (and optionally an out-sequence, a fault sequence and
other named sequences), the request, and what is expected: the request the recording
backend received (`backend`), or the response the client got (`response`), or both.
Cases with `load_error` instead are sequences the gateway must reject at load; they
are all put in one folder and checked against one failed start's log.

One gateway serves all runnable cases, one API per case (`/c<N>/v1`), so the suite
costs one mitmdump start plus one request per case.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Backend, start_mitmdump, wait_for

from addon.store import Registry
from demo.backend import Recorder, make_server

CASES_FOLDER = Path(__file__).parent / "cases"
SYNAPSE_NS = "http://ws.apache.org/ns/synapse"


def _load_cases() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(CASES_FOLDER.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()) or []:
            case["file"] = path.name
            cases.append(case)
    names = [case["name"] for case in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, f"duplicate case names: {duplicates}"
    return cases


CASES = _load_cases()
RUNNABLE = [case for case in CASES if "load_error" not in case]
LOAD_ERRORS = [case for case in CASES if "load_error" in case]


def _sequence_file(name: str, body: str) -> str:
    if body.lstrip().startswith("<sequence xmlns="):
        return body
    return f'<sequence xmlns="{SYNAPSE_NS}" name="{name}">\n{body}</sequence>\n'


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api_entry(
    index: int, case: dict[str, Any], backend_url: str, dead_port: int
) -> str:
    endpoint = case.get("endpoint", "/")
    if endpoint == "dead":
        url = f"http://127.0.0.1:{dead_port}/"
    else:
        url = f"{backend_url}/e{index}{endpoint}"
    lines = [
        f"  - name: Case{index}",
        f"    context: /c{index}",
        "    version: v1",
        f"    endpoint: {url}",
        f"    in_sequence: Case{index}In",
    ]
    if case.get("out_sequence"):
        lines.append(f"    out_sequence: Case{index}Out")
    if case.get("fault_sequence"):
        lines.append(f"    fault_sequence: Case{index}Fault")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def suite(tmp_path_factory, confdir):
    """One gateway with an API per runnable case, and the recording backend."""
    recorder = Recorder()
    server = make_server(0, recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    backend = Backend(f"http://127.0.0.1:{server.server_address[1]}", recorder)

    root = tmp_path_factory.mktemp("conformance")
    sequences = root / "sequences"
    sequences.mkdir()
    dead_port = _closed_port()
    entries = []
    for index, case in enumerate(RUNNABLE):
        (sequences / f"Case{index}In.xml").write_text(
            _sequence_file(f"Case{index}In", case["sequence"])
        )
        if case.get("out_sequence"):
            (sequences / f"Case{index}Out.xml").write_text(
                _sequence_file(f"Case{index}Out", case["out_sequence"])
            )
        if case.get("fault_sequence"):
            (sequences / f"Case{index}Fault.xml").write_text(
                _sequence_file(f"Case{index}Fault", case["fault_sequence"])
            )
        for name, body in (case.get("sequences") or {}).items():
            (sequences / f"{name}.xml").write_text(_sequence_file(name, body))
        for name, text in (case.get("files") or {}).items():
            target = sequences / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        entries.append(_api_entry(index, case, backend.url, dead_port))
    config = root / "gateway.yaml"
    config.write_text("apis:\n" + "\n".join(entries) + "\n")

    with Registry(root / "gateway.db", create=True) as registry:
        registry.create_application("Conformance")
        for index in range(len(RUNNABLE)):
            registry.subscribe("Conformance", f"Case{index}", "v1", tier="Unlimited")
        token = registry.issue_token("Conformance")
    gateway = start_mitmdump(config, confdir)
    yield gateway, backend, token
    gateway.stop()
    server.shutdown()
    server.server_close()


def _check_headers(actual: Any, wanted: dict[str, Any], where: str) -> None:
    for name, value in (wanted.get("headers") or {}).items():
        assert actual.header(name) == value, f"{where} header {name}"
    for name, prefix in (wanted.get("header_prefix") or {}).items():
        assert (actual.header(name) or "").startswith(prefix), f"{where} header {name}"
    for name in wanted.get("absent") or []:
        assert actual.header(name) is None, f"{where} header {name} should be absent"
    names = [name for name, _ in actual.headers]
    for name in wanted.get("names") or []:
        assert name in names, f"{where} header spelled {name!r} not in {names}"


def _check_body(body: bytes, expected: dict[str, Any], where: str) -> None:
    if "body" in expected:
        assert body.decode("utf-8") == expected["body"], f"{where} body"
    if "json" in expected:
        assert json.loads(body) == expected["json"], f"{where} JSON body"
    if "contains" in expected:
        for text in (
            expected["contains"]
            if isinstance(expected["contains"], list)
            else [expected["contains"]]
        ):
            assert text in body.decode("utf-8"), f"{where} body should contain {text!r}"


@pytest.mark.parametrize("case", RUNNABLE, ids=[case["name"] for case in RUNNABLE])
def test_case(suite, case):
    """Run one case; its `pins` text names the WSO2 behaviour it pins."""
    gateway, backend, token = suite
    index = RUNNABLE.index(case)
    request = case.get("request") or {}
    headers = [("Authorization", f"Bearer {token}")]
    headers += [
        (name, str(value)) for name, value in (request.get("headers") or {}).items()
    ]
    body = request.get("body")
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
    with backend.recorder.lock:
        backend.recorder.requests.clear()

    try:
        response = gateway.request(
            request.get("method", "GET"),
            f"/c{index}/v1{request.get('path', '')}",
            headers,
            body.encode("utf-8") if body is not None else None,
        )
    except OSError as e:
        raise AssertionError(
            f"no response ({e}); gateway log:\n{gateway.log[-4000:]}"
        ) from None

    expect = case["expect"]
    received = backend.requests
    if "backend" in expect:
        wanted = expect["backend"]
        assert len(received) == 1, (
            f"backend calls: {len(received)}; response {response.status} {response.text}"
        )
        got = received[0]
        if "method" in wanted:
            assert got.method == wanted["method"]
        if "path" in wanted:
            assert got.path == f"/e{index}{wanted['path']}"
        _check_headers(got, wanted, "backend")
        _check_body(got.body, wanted, "backend")
    if expect.get("no_backend"):
        assert received == [], "the backend should not be called"
    if "response" in expect:
        wanted = expect["response"]
        if "status" in wanted:
            assert response.status == wanted["status"], response.text
        _check_headers(response, wanted, "response")
        _check_body(response.body, wanted, "response")
    for text in expect.get("log_contains") or []:
        assert wait_for(lambda text=text: text in gateway.log, timeout=3), (
            f"log should contain {text!r}"
        )


@pytest.fixture(scope="module")
def load_log(tmp_path_factory, confdir):
    """The log of one gateway start with every load-error case in its sequences folder."""
    root = tmp_path_factory.mktemp("conformance-load-errors")
    sequences = root / "sequences"
    sequences.mkdir()
    for index, case in enumerate(LOAD_ERRORS):
        (sequences / f"Bad{index}.xml").write_text(
            _sequence_file(f"Bad{index}", case["sequence"])
        )
    config = root / "gateway.yaml"
    config.write_text("apis: []\n")
    Registry(root / "gateway.db", create=True).close()
    gateway = start_mitmdump(config, confdir, expect_failure=True)
    assert gateway.process.returncode != 0
    return gateway.log


@pytest.mark.parametrize(
    "case", LOAD_ERRORS, ids=[case["name"] for case in LOAD_ERRORS]
)
def test_load_error(load_log, case):
    """A sequence WSO2 rejects (or this gateway cannot run) stops the start, with its line."""
    index = LOAD_ERRORS.index(case)
    line = case.get("line", 2)
    location = f"sequences/Bad{index}.xml:{line}"
    matching = [entry for entry in load_log.splitlines() if location in entry]
    assert matching, f"no error at {location} in:\n{load_log}"
    assert any(case["load_error"] in entry for entry in matching), "\n".join(matching)
