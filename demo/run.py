"""`make run`: the gateway on the demo API, with the tutorial's sample backend.

Starts the sample backend on the port of the demo API's endpoint in gateway.yaml
(127.0.0.1:9090), makes sure the application
`DefaultApplication` exists and is subscribed to `TestCustomHeader` (tier Gold), issues
a fresh token, prints the curl lines to try, and runs mitmdump in reverse mode on
127.0.0.1:8280 (HTTP) and 127.0.0.1:8243 (HTTPS). Ctrl-C stops both processes.
Set GATEWAY_HTTP_PORT or GATEWAY_HTTPS_PORT to listen on other ports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from addon.config import default_database, load_config
from addon.errors import ConfigError
from addon.store import Registry

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "gateway.yaml"
APPLICATION = "DefaultApplication"
API = "TestCustomHeader"
API_VERSION = "1.0.0"


def ports() -> tuple[int, int, int]:
    """Return the HTTP, HTTPS and sample-backend ports."""
    config = load_config(CONFIG)
    demo = [api for api in config.apis if api.name == API and api.version == API_VERSION]
    if not demo:
        raise SystemExit(f"{CONFIG}: the demo API {API} {API_VERSION} is missing")
    return (
        int(os.environ.get("GATEWAY_HTTP_PORT", "8280")),
        int(os.environ.get("GATEWAY_HTTPS_PORT", "8243")),
        demo[0].endpoint.port,
    )


def prepare_demo_application(db: Path) -> str:
    """Create and subscribe the demo application if needed; return a new token."""
    with Registry(db, create=True) as registry:
        registry.create_application(APPLICATION)
        registry.subscribe(APPLICATION, API, API_VERSION, tier="Gold")
        return registry.issue_token(APPLICATION)


def proxy_command(tool: str, http_port: int, https_port: int, backend_port: int) -> list[str]:
    """Return the mitmdump or mitmweb command line that runs the gateway."""
    executable = Path(sys.executable).with_name(tool)
    target = f"reverse:http://127.0.0.1:{backend_port}"
    return [
        str(executable if executable.exists() else shutil.which(tool) or tool),
        "-s",
        str(ROOT / "addon" / "main.py"),
        "--mode",
        f"{target}@{http_port}",
        "--mode",
        f"{target}@{https_port}",
        "--set",
        "listen_host=127.0.0.1",
        "--set",
        "connection_strategy=lazy",
        "--set",
        f"confdir={ROOT / '.mitmproxy'}",
        "--set",
        f"gateway_config={CONFIG}",
    ]


def print_instructions(token: str, http_port: int, https_port: int) -> None:
    path = "/testcustomheader/1.0.0"
    print(
        f"""
The gateway serves {API} {API_VERSION} at http://localhost:{http_port}{path}
(and https://localhost:{https_port}{path}). A fresh token of {APPLICATION} is set below.

  TOKEN={token}
  curl -H "Authorization: Bearer $TOKEN" -H "Custom: Bearer 1234" http://localhost:{http_port}{path}
  curl -k -H "Authorization: Bearer $TOKEN" -H "Custom: Bearer 1234" https://localhost:{https_port}{path}

A wrong token gets WSO2's 401 with code 900901, and the backend is not called:

  curl -H "Authorization: Bearer wrong" -H "Custom: Bearer 1234" http://localhost:{http_port}{path}

Issue another token with: .venv/bin/python -m addon tokens issue {APPLICATION}
Press Ctrl-C to stop.
""",
        flush=True,
    )


def run(tool: str = "mitmdump", extra: list[str] | None = None) -> int:
    """Run the demo gateway under `tool` until Ctrl-C; return its exit status."""
    http_port, https_port, backend_port = ports()
    token = prepare_demo_application(default_database(CONFIG))
    backend = subprocess.Popen(
        [sys.executable, "-m", "demo.backend", "--port", str(backend_port)], cwd=ROOT
    )
    try:
        print_instructions(token, http_port, https_port)
        command = proxy_command(tool, http_port, https_port, backend_port) + (extra or [])
        proxy = subprocess.Popen(command, cwd=ROOT)
        try:
            return proxy.wait()
        except KeyboardInterrupt:
            proxy.terminate()
            proxy.wait()
            return 0
    finally:
        backend.terminate()
        backend.wait()


def main() -> None:
    try:
        sys.exit(run("mitmdump", ["--set", "flow_detail=0"]))
    except ConfigError as e:
        sys.exit(f"gateway: {e}")
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
