"""`python -m addon check`: every problem as file:line:column: message, exit 1."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, TOKEN_EXCHANGE, tutorial_config


def check(cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "addon", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=30,
    )


def test_valid_config_exits_zero(workspace, backend):
    workspace.write_config(tutorial_config(backend.url))
    workspace.write_sequence("TokenExchange", TOKEN_EXCHANGE)

    result = check(workspace.root)

    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == (
        "check: gateway.yaml is valid: 1 API(s), 9 sequence(s) from sequences and "
        "WSO2's default sequences\n"
    )


def test_broken_sequence_reported_with_line_and_column(workspace, backend):
    """Synapse rejects an unknown mediator at deployment; check names its place."""
    workspace.write_config(tutorial_config(backend.url))
    workspace.write_sequence(
        "TokenExchange",
        '<sequence xmlns="http://ws.apache.org/ns/synapse" name="TokenExchange">\n'
        '    <property name="a" value="b"/>\n'
        '    <script language="js">mc.setProperty("x", 1)</script>\n'
        "</sequence>\n",
    )

    result = check(workspace.root)

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "gateway.yaml:6: API 'TestCustomHeader': field 'in_sequence' names sequence "
        "'TokenExchange', whose file failed to load (see its problem)"
    )
    assert lines[1] == (
        "sequences/TokenExchange.xml:3:5: mediator <script> is not supported: it runs "
        "JavaScript inside WSO2's JVM (see docs/mediation.md for the supported mediators)"
    )
    assert result.stderr == "check: 2 problem(s) in 2 file(s)\n"


def test_reports_every_file_and_api(workspace, backend):
    """One broken file or API does not hide the problems of the others."""
    workspace.write_config(
        tutorial_config(backend.url)
        + """\
  - name: Second
    context: second
    version: 1.0.0
    endpoint: http://127.0.0.1:9/
  - name: Third
    context: /third
    version: 1.0
    endpoint: http://127.0.0.1:9/
unknown: 1
"""
    )
    workspace.write_sequence("TokenExchange", TOKEN_EXCHANGE)
    workspace.write_sequence(
        "Unused", '<sequence xmlns="http://ws.apache.org/ns/synapse">\n'
    )
    workspace.write_sequence("Other", "<sequence name='Other'/>\n")

    result = check(workspace.root)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "gateway.yaml:8: API 'Second': field 'context' 'second' must start with '/'",
        "gateway.yaml:13: API 'Third': field 'version' must be a string, not float 1.0; "
        'quote it: version: "1.0"',
        "gateway.yaml:15: unknown top-level field 'unknown'; accepted: apis, cors, throttling, key_managers, backend_jwt, limits, correlation, blocking_conditions",
        "sequences/Other.xml:1:1: element <sequence> is in no namespace, not the Synapse "
        'namespace (declare xmlns="http://ws.apache.org/ns/synapse" on the root element)',
        "sequences/Unused.xml:2:1: not well-formed XML: Premature end of data in tag "
        "sequence line 1",
    ]


def test_config_option_and_missing_file(workspace):
    result = check(ROOT, "--config", str(workspace.root / "nothing.yaml"))

    assert result.returncode == 1
    assert f"{workspace.root}/nothing.yaml: config file not found" in result.stdout


def test_sequences_option_names_the_folder(workspace, backend, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere")
    (other / "TokenExchange.xml").write_text(TOKEN_EXCHANGE)
    workspace.write_config(tutorial_config(backend.url))

    result = check(workspace.root, "--sequences", str(other))

    assert result.returncode == 0


def test_config_without_apis_exits_one(workspace):
    """An empty file or one without an 'apis' key is an error; 'apis: []' is valid."""
    workspace.write_config("")
    empty = check(workspace.root)
    workspace.write_config("cors:\n  enable: true\n")
    without_apis = check(workspace.root)
    workspace.write_config("apis: []\n")
    none_served = check(workspace.root)

    assert empty.returncode == 1
    assert "gateway.yaml:1: no 'apis' list: the file is empty" in empty.stdout
    assert without_apis.returncode == 1
    missing = "gateway.yaml:1: no 'apis' list: the file has no 'apis' key"
    assert missing in without_apis.stdout
    assert none_served.returncode == 0
