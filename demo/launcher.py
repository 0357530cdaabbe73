"""Run the demo gateway under mitmdump or mitmweb, with the tutorial backend beside it.

What a launch does:

1. checks the config (the same check as `python -m addon check`) and stops on a problem;
2. creates the application `DefaultApplication` in the gateway's database (by default
   `gateway.db` beside the config, where `python -m addon` finds it too), subscribes it
   to every API of the config with tier Gold, issues a token and writes the token to
   `<state>/token`; mitmdump's launcher also prints it, mitmweb's does not;
3. starts the tutorial backend (`demo.backend`) on 127.0.0.1;
4. starts mitmdump or mitmweb with the addon in reverse mode on WSO2's ports, 8280 for
   HTTP and 8243 for HTTPS (mitmproxy detects TLS on either), prints the gateway's URL,
   mitmweb's URL (with its access token on mitmproxy 11.1.2 and later) and a curl
   command, and passes the tool's own output through until Ctrl-C.

The config and sequence files are the ones in the working tree, so an edit to them is
picked up by the gateway's hot reload while it runs. The launcher does not change the
config: with `--backend-port` other than the config's port, it warns at start that no
API's endpoint points at the backend it starts.

A stop by Ctrl-C or SIGTERM ends with status 0 once mitmdump or mitmweb has exited.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from addon.check import run_check
from addon.config import GatewayConfig, default_database, load_config
from addon.store import Registry

from .backend import make_server

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "addon" / "main.py"

DEFAULT_PORT = 8280  # WSO2's HTTP gateway port
DEFAULT_TLS_PORT = 8243  # WSO2's HTTPS gateway port
DEFAULT_BACKEND_PORT = 9090  # the tutorial backend's port, as gateway.yaml names it
DEFAULT_WEB_PORT = 8081  # mitmweb's default
APPLICATION = "DefaultApplication"
TOKEN_VALIDITY = 8 * 3600

# mitmweb's list gets a Comment column, where the gateway's trace summary shows.
WEB_COLUMNS = "tls,icon,path,method,status,size,time,comment"

# mitmproxy's line for the gateway's listener; mitmweb's own line is matched first.
PROXY_LISTENING = re.compile(r"listening at (?:http://)?\[?([0-9a-fA-F.:]+?)\]?:(\d+)")
WEB_LISTENING = re.compile(r"Web server listening at (\S+)")


def tool_path(tool: str) -> Path:
    """Return the mitmdump or mitmweb program of the running Python environment."""
    return Path(sys.executable).with_name(tool)


def gateway_command(
    tool: str,
    *,
    config: Path,
    db: Path,
    port: int,
    confdir: Path,
    tls_port: int = 0,
    fallback: str = "http://127.0.0.1:9",
    extra: Sequence[str] = (),
) -> list[str]:
    """Return the command line that runs the gateway under `tool` (mitmdump or mitmweb).

    `fallback` is the reverse-mode target. The gateway responds to every request itself
    or routes it to an API's endpoint. With the lazy connection strategy, mitmproxy
    does not connect to the target in advance, so nothing needs to listen there.
    A `tls_port` of 0 opens no second listener.
    """
    modes = ["--mode", f"reverse:{fallback}@{port}"]
    if tls_port:
        modes += ["--mode", f"reverse:{fallback}@{tls_port}"]
    return [
        str(tool_path(tool)),
        "-s",
        str(ADDON),
        *modes,
        "--set",
        "listen_host=127.0.0.1",
        "--set",
        f"confdir={confdir}",
        "--set",
        "connection_strategy=lazy",
        "--set",
        f"gateway_config={config}",
        "--set",
        f"gateway_db={db}",
        *extra,
    ]


def web_options(web_port: int, open_browser: bool = True) -> list[str]:
    """Return the mitmweb options: its port, the Comment column, the browser setting."""
    return [
        "--set",
        f"web_port={web_port}",
        "--set",
        f"web_columns={WEB_COLUMNS}",
        "--set",
        f"web_open_browser={'true' if open_browser else 'false'}",
    ]


def prepare_store(config_path: Path, db: Path, token_file: Path) -> str:
    """Subscribe the demo application to every API of the config; write a new token."""
    config = load_config(config_path)
    db.parent.mkdir(parents=True, exist_ok=True)
    with Registry(db, create=True) as registry:
        registry.create_application(APPLICATION)
        for api in config.apis:
            registry.subscribe(APPLICATION, api.name, api.version, tier="Gold")
        token = registry.issue_token(APPLICATION, validity=TOKEN_VALIDITY)
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.unlink(missing_ok=True)
    descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    return token


def _curl_lines(config_path: Path, port: int, token: str) -> list[str]:
    """Return a curl command per API, with the tutorial's `Custom` header.

    `token` is the token itself or a shell expression that reads it.
    """
    config = load_config(config_path)
    authorization = f'"Authorization: Bearer {token}"'
    return [
        f'  curl -i -H {authorization} -H "Custom: Bearer 1234" '
        f"http://127.0.0.1:{port}{api.full_context}"
        for api in config.apis
    ]


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def backend_port_warning(config: GatewayConfig, backend_port: int) -> str | None:
    """Return a warning when no API endpoint of `config` points at the backend port."""
    endpoints = [
        endpoint
        for api in config.apis
        for endpoint in (api.endpoint, api.sandbox_endpoint)
        if endpoint is not None
    ]
    if not endpoints or any(
        endpoint.host in LOCAL_HOSTS and endpoint.port == backend_port
        for endpoint in endpoints
    ):
        return None
    named = ", ".join(sorted({endpoint.url for endpoint in endpoints}))
    return (
        f"warning: the tutorial backend starts on port {backend_port}, but no API "
        f"endpoint in {config.path} points at it (endpoints: {named}), so calls "
        "fail with code 101503 (backend unreachable). Edit the 'endpoint' of your "
        f"API in {config.path} to http://127.0.0.1:{backend_port}/, or start "
        "without --backend-port."
    )


def build_parser(tool: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m demo.{'web' if tool == 'mitmweb' else 'run'}",
        description=f"Run the demo gateway under {tool} with the tutorial backend.",
    )
    parser.add_argument(
        "--config",
        default="gateway.yaml",
        help="gateway YAML file (default: gateway.yaml)",
    )
    parser.add_argument(
        "--state",
        default=".run",
        help="folder for the token file (default: .run)",
    )
    parser.add_argument(
        "--db",
        help="the gateway's SQLite file (default: gateway.db beside the config)",
    )
    parser.add_argument(
        "--confdir",
        default=".mitmproxy",
        help="mitmproxy's confdir (default: .mitmproxy)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"gateway port (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--tls-port",
        type=int,
        default=DEFAULT_TLS_PORT,
        help=f"second gateway port, for HTTPS; 0 opens none (default: {DEFAULT_TLS_PORT})",
    )
    parser.add_argument(
        "--backend-port",
        type=int,
        default=DEFAULT_BACKEND_PORT,
        help="tutorial backend port; 0 starts no backend "
        f"(default: {DEFAULT_BACKEND_PORT}). The config is not changed: point the "
        "API's 'endpoint' in the config file at this port too, or the launcher warns "
        "and calls fail with 101503",
    )
    if tool == "mitmweb":
        parser.add_argument(
            "--web-port",
            type=int,
            default=DEFAULT_WEB_PORT,
            help=f"mitmweb's port (default: {DEFAULT_WEB_PORT})",
        )
        parser.add_argument(
            "--no-browser", action="store_true", help="do not open a browser on mitmweb"
        )
    return parser


def _start_backend(port: int):
    try:
        server = make_server(port)
    except OSError as e:
        raise SystemExit(
            f"cannot start the tutorial backend on 127.0.0.1:{port}: {e.strerror}; "
            "stop whatever uses that port, or pass --backend-port"
        ) from None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _relay(process: subprocess.Popen, on_line) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        on_line(line)
    sys.stdout.flush()


class _Stop:
    """Whether the user asked the launcher to stop (Ctrl-C or SIGTERM)."""

    requested = False


def _interrupt(signum: int, frame: object) -> None:
    _Stop.requested = True
    raise KeyboardInterrupt


def _exit_status(returncode: int) -> int:
    """Return the launcher's exit status for the tool's return code.

    After a requested stop the tool's status is the signal's, which is no failure.
    A negative code (killed by a signal) becomes the shell's 128 + signal number.
    """
    if _Stop.requested:
        return 0
    return returncode if returncode >= 0 else 128 - returncode


def main(tool: str, argv: Sequence[str] | None = None) -> int:
    """Run the demo gateway under `tool` until Ctrl-C or SIGTERM; return its status."""
    args = build_parser(tool).parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    config_path = Path(args.config)
    state = Path(args.state)
    db = Path(args.db) if args.db else default_database(config_path)
    token_file = state / "token"

    if run_check(config_path) != 0:
        return 1
    token = prepare_store(config_path, db, token_file)
    if args.backend_port:
        warning = backend_port_warning(load_config(config_path), args.backend_port)
        if warning:
            print(warning, file=sys.stderr, flush=True)
    backend = _start_backend(args.backend_port) if args.backend_port else None
    if tool == "mitmweb":
        extra = web_options(args.web_port, not args.no_browser)
    else:
        # The gateway logs one line per request; mitmproxy's own flow lines would repeat it.
        extra = ["--set", "flow_detail=0"]
    command = gateway_command(
        tool,
        config=config_path,
        db=db,
        port=args.port,
        tls_port=args.tls_port,
        confdir=Path(args.confdir),
        extra=extra,
    )

    announced = False

    def on_line(line: str) -> None:
        nonlocal announced
        if match := WEB_LISTENING.search(line):
            print(f"\n==> mitmweb: {match.group(1)}\n", flush=True)
        elif (match := PROXY_LISTENING.search(line)) and not announced:
            announced = True
            port = int(match.group(2))
            tls = f" and https://127.0.0.1:{args.tls_port}/" if args.tls_port else ""
            print(f"\n==> gateway: http://127.0.0.1:{port}/{tls}", flush=True)
            if tool == "mitmdump":
                shown_token = token
                print(f"==> token of {APPLICATION}: {token}  (also in {token_file})")
            else:
                shown_token = f"$(cat {shlex.quote(str(token_file))})"
                print(f"==> token of {APPLICATION} in {token_file}")
            print(
                "==> try:",
                *_curl_lines(config_path, port, shown_token),
                "==> a wrong token gets 401 with code 900901, and the backend is not called",
                sep="\n",
                flush=True,
            )
            print(flush=True)

    if backend is not None:
        print(f"tutorial backend at http://127.0.0.1:{args.backend_port}/", flush=True)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _relay(process, on_line)
        return _exit_status(process.wait())
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        try:
            return _exit_status(process.wait(timeout=10))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return 1
    finally:
        if backend is not None:
            backend.shutdown()
            backend.server_close()
