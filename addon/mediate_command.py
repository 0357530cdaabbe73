"""`python -m addon mediate SEQUENCE ...`: run a sequence on a request, without a backend.

It prints what the gateway would send to the backend (or the response, when the
sequence answers by itself or fails) and the trace: each mediator with its file and
line and what it changed. Credentials are masked in headers and trace alike. When the
request path falls under an API of the config, the message properties the gateway sets
before the in-sequence (REST_URL_POSTFIX, SYNAPSE_REST_API...) are set the same way,
and the endpoint URL is shown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import dispatch
from .config import GatewayConfig, load_config
from .context import MessageContext
from .errors import ConfigError
from .headers import TransportHeaders
from .mediation.base import Sequence, shown_value
from .mediation.library import SequenceLibrary, load_sequence_file
from .mediation.payload import Payload
from .mediation.runner import Answered, LocalResponse, mediate_request
from .mediation.transport import request_changes
from .mediation_flow import format_trace
from .pipeline import _set_api_properties, check_headers
from .route import backend_url


class MediateError(Exception):
    """Bad input for the mediate command; reported in one line with exit status 2."""


def add_parser(groups: Any, common: argparse.ArgumentParser) -> None:
    """Add the `mediate` command to the CLI's sub-parsers."""
    parser = groups.add_parser(
        "mediate",
        parents=[common],
        help="run a sequence on a request without a backend and show the result and trace",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "sequence", help="sequence name (from the sequences folder) or an XML file"
    )
    parser.add_argument("--method", default="GET", help="request method (default: GET)")
    parser.add_argument(
        "--path", default="/", help="request path with query (default: /)"
    )
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header; repeat for more",
    )
    parser.add_argument(
        "--body", help="request body: @FILE reads a file, anything else is the body"
    )


def _headers(items: list[str]) -> TransportHeaders:
    fields = []
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise MediateError(f"--header {item!r} is not 'Name: value'")
        fields.append((name.strip().encode("latin-1"), value.strip().encode("latin-1")))
    return TransportHeaders.from_fields(fields)


def _body(text: str | None) -> bytes:
    if text is None:
        return b""
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_bytes()
        except OSError as e:
            raise MediateError(f"--body {text}: {e.strerror}") from None
    return text.encode("utf-8")


def _load(config_path: Path, sequences: Path | None) -> GatewayConfig | None:
    if not config_path.is_file():
        return None
    return load_config(config_path, sequences)


def _library_and_sequence(
    name: str, config: GatewayConfig | None
) -> tuple[SequenceLibrary, Sequence]:
    path = Path(name)
    if config is not None:
        library = config.sequences
    else:
        folder = path.parent if path.suffix == ".xml" else Path("sequences")
        library, errors = SequenceLibrary.load(folder)
        if errors:
            raise errors[0]
    if path.suffix == ".xml" and path.is_file():
        return library, load_sequence_file(path, library)
    sequence = library.get(name)
    if sequence is None:
        known = ", ".join(sorted(library.by_name)) or "none"
        raise MediateError(
            f"sequence {name!r} not found in {library.folder} (found: {known})"
        )
    return library, sequence


def _print_headers(headers: TransportHeaders) -> None:
    for name, value in headers:
        if isinstance(value, str):
            print(f"{name}: {_unquoted(shown_value(name, value))}")
        else:
            print(f"# {name} is a {type(value).__name__}, not a string: not sent")
    for name, value in headers.excess:
        print(f"{name}: {_unquoted(shown_value(name, value))}")


def _unquoted(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def _print_body(body: bytes) -> None:
    if body:
        print()
        print(body.decode("utf-8", "replace"))


def _print_response(response: LocalResponse) -> None:
    print(f"== response ({response.outcome}) ==")
    print(f"HTTP {response.status}")
    _print_headers(response.headers)
    _print_body(response.body)


def _print_request(
    ctx: MessageContext, config: GatewayConfig | None, api_url: str | None
) -> None:
    method = str(ctx.axis2.get("HTTP_METHOD") or "POST")
    postfix = ctx.axis2.get("REST_URL_POSTFIX")
    check_headers(ctx)
    changes = request_changes(ctx, method)
    print("== request to the backend ==")
    target = (
        api_url
        if api_url is not None
        else (postfix if isinstance(postfix, str) else "")
    )
    print(f"{method} {target or '/'}")
    headers = ctx.headers.copy()
    if changes.content_type:
        headers.set("Content-Type", changes.content_type)
    if changes.host:
        headers.set("Host", changes.host)
    _print_headers(headers)
    _print_body(ctx.payload.raw if changes.body is None else changes.body)


def run(args: argparse.Namespace) -> int:
    """Run the mediate command; return the exit status."""
    config_path = Path(getattr(args, "config", "gateway.yaml"))
    try:
        config = _load(config_path, None)
        library, sequence = _library_and_sequence(args.sequence, config)
        headers = _headers(args.header)
        body = _body(args.body)
    except (ConfigError, MediateError) as e:
        print(f"python -m addon mediate: {e}", file=sys.stderr)
        return 2

    method = args.method.upper()
    ctx = MessageContext(headers=headers, method=method, to=args.path)
    content_type = headers.get("Content-Type")
    ctx.payload = Payload(body, content_type if isinstance(content_type, str) else None)
    api = None
    match = dispatch.select_api(config, args.path) if config is not None else None
    if match is not None:
        api = match.api
        _set_api_properties(ctx, api, args.path, match.postfix)
        ctx.record("dispatch", f"API {api.label}, postfix {match.postfix!r}")
    else:
        ctx.axis2["REST_URL_POSTFIX"] = args.path
        ctx.record("dispatch", f"no API of the config matches {args.path}; postfix is the whole path")
        print(
            f"python -m addon mediate: no API of the config matches {args.path}; "
            "the sequence runs without API properties",
            file=sys.stderr,
        )
    failed = False
    try:
        mediate_request(
            ctx,
            sequence,
            library,
            api.fault_sequence if api else None,
            api.out_sequence if api else None,
        )
        postfix = ctx.axis2.get("REST_URL_POSTFIX")
        endpoint = (api.endpoint or api.sandbox_endpoint) if api else None
        api_url = (
            backend_url(endpoint, postfix if isinstance(postfix, str) else None)
            if endpoint
            else None
        )
        _print_request(ctx, config, api_url)
    except Answered as e:
        _print_response(e.response)
    except Exception as e:  # the dry run reports any failure, with the trace so far
        print(f"== failed: {e} ==")
        failed = True
    print()
    print("== trace ==")
    print(format_trace([step.as_dict() for step in ctx.trace]))
    return 1 if failed else 0
