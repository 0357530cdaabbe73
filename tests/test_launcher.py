"""The demo launcher (`make run`): the backend-port warning and a clean stop.

Each test starts `python -m demo.run` on free ports with a copy of the tutorial
config, waits until the gateway listens, then stops it as a terminal or a service
manager would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

import pytest
from conftest import ROOT, TOKEN_EXCHANGE, tutorial_config

from addon.config import load_config
import demo.launcher as launcher_module
from demo.launcher import backend_port_warning, build_parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_tutorial(root, endpoint_port: int):
    (root / "sequences").mkdir(exist_ok=True)
    (root / "sequences" / "TokenExchange.xml").write_text(TOKEN_EXCHANGE)
    config = root / "gateway.yaml"
    config.write_text(tutorial_config(f"http://127.0.0.1:{endpoint_port}"))
    return config


def launch(root, confdir, config, backend_port: int):
    """Start the launcher; return the process and its output up to the gateway's URL."""
    command = [
        sys.executable, "-m", "demo.run",
        "--config", str(config),
        "--state", str(root / ".run"),
        "--confdir", str(confdir),
        "--port", "0",
        "--tls-port", "0",
        "--backend-port", str(backend_port),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    output: list[str] = []
    # Bound the wait: a launcher that hangs before printing would never close stdout.
    timer = threading.Timer(30, process.kill)
    timer.start()
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if "==> gateway:" in line:
            break
    timer.cancel()
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    return process, output


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_launcher_exits_zero_after_stop(tmp_path, confdir, stop):
    """Ctrl-C or SIGTERM ends `make run` with status 0, not make's `Error 254`."""
    backend_port = free_port()
    config = write_tutorial(tmp_path, backend_port)
    process, output = launch(tmp_path, confdir, config, backend_port)
    assert any("==> gateway:" in line for line in output), "".join(output)

    if stop == signal.SIGINT:
        # Ctrl-C in a terminal reaches the whole process group: launcher and mitmdump.
        os.killpg(process.pid, stop)
    else:
        process.send_signal(stop)
    try:
        returncode = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert returncode == 0, "".join(output)
    assert not any("warning:" in line for line in output)


def test_launcher_warns_when_backend_port_unused(tmp_path, confdir):
    """--backend-port that no API endpoint names: a warning that says what to edit."""
    config = write_tutorial(tmp_path, 9090)
    backend_port = free_port()
    process, output = launch(tmp_path, confdir, config, backend_port)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)

    text = "".join(output)
    assert f"warning: the tutorial backend starts on port {backend_port}" in text
    assert "(endpoints: http://127.0.0.1:9090/)" in text
    assert f"to http://127.0.0.1:{backend_port}/" in text


def test_backend_port_warning_only_without_matching_endpoint(tmp_path):
    config = load_config(write_tutorial(tmp_path, 9090))

    assert backend_port_warning(config, 9090) is None
    assert "no API endpoint" in backend_port_warning(config, 9091)


def test_help_says_config_is_not_changed():
    text = " ".join(build_parser("mitmdump").format_help().split())

    assert "The config is not changed" in text


@pytest.mark.parametrize(
    ("requested", "returncode", "status"),
    [(True, -signal.SIGINT, 0), (True, 0, 0), (False, -signal.SIGINT, 130), (False, 3, 3)],
)
def test_exit_status_after_stop(monkeypatch, requested, returncode, status):
    """mitmdump killed by a second SIGINT returns -2; sys.exit(-2) made make say 254."""
    monkeypatch.setattr(launcher_module._Stop, "requested", requested)

    assert launcher_module._exit_status(returncode) == status
