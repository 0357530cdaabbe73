"""The trace of one flow as plain data, and its text for mitmweb and the commands.

The gateway keeps one dict per flow in `flow.metadata["gateway"]`. It records the API
elected, the caller (application, key type, tier, token fingerprint), the outcome with
its WSO2 code, the backend URL and each step the message context recorded. It also
records the header difference between what the client sent and what the backend
received. The dict contains only strings, numbers, lists and dicts, so saved flows
keep it.

mitmweb shows a flow's comment but not its metadata, so `render` turns the dict into the
text of `flow.comment` and `annotate` sets the mark of the outcome.

Secrets: a header whose name marks a credential shows as its scheme, `****` and a
fingerprint of the credential, so the same value can be followed from one header to
another without being shown. The fingerprint is an HMAC-SHA-256 under a random key of
this process (`hmac:` and 8 hex digits): an unsalted hash of a short secret such as
`1234` could be reversed by trying every value, from any saved flow. So a header's
fingerprint matches within one gateway process only, and never the `sha256:` token
fingerprints of the store, the log and `apps list`. Values of those headers are also
blanked out of every step summary, in case a mediator copied one into a property of
another name.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from secrets import token_bytes
from typing import Any

from mitmproxy import http

from . import outcomes
from .context import MessageContext, is_secret_header, mask
from .pipeline import Outcome
from .query_masking import mask_query_credentials, query_credential_values

# Values shorter than this are not blanked out of step summaries: they would match too
# much ordinary text.
MIN_REDACTED_LENGTH = 4

HeaderFields = Iterable[tuple[bytes, bytes]]

# The key of the header-value fingerprints; new in every gateway process.
_FINGERPRINT_KEY = token_bytes(32)

# An HMAC that has absorbed the key. Copying it per value costs about 1.2 µs against
# 1.7 µs for `hmac.new`, which sets up the key anew (Python 3.11, this project's
# 2-core x86_64 VM).
_FINGERPRINT_HMAC = hmac.new(_FINGERPRINT_KEY, digestmod=hashlib.sha256)

# Left out of the header difference. mitmproxy's reverse mode replaces the client's Host
# with the reverse target's before any hook runs, so the client's value is unknown, and
# the backend always gets its own address.
_NOT_COMPARED = frozenset({"host"})


def credential_part(value: str) -> str:
    """Return the credential in a header value: the part after a scheme, or all."""
    scheme, sep, rest = value.partition(" ")
    if sep and scheme.isalpha() and rest.strip():
        return rest.strip()
    return value


def value_fingerprint(value: str) -> str:
    """Return the keyed fingerprint of a header value, stable within this process."""
    digest = _FINGERPRINT_HMAC.copy()
    digest.update(value.encode("utf-8"))
    return "hmac:" + digest.hexdigest()[:8]


def masked(name: str, value: str) -> str:
    """Return header `name`'s value as the trace shows it."""
    if not is_secret_header(name):
        return value
    return _masked_secret(value, {})


def _masked_secret(value: str, fingerprints: dict[str, str]) -> str:
    """Mask a secret header value, caching its fingerprint in `fingerprints`."""
    if not value:
        return ""
    credential = credential_part(value)
    fingerprint = fingerprints.get(credential)
    if fingerprint is None:
        fingerprint = fingerprints[credential] = value_fingerprint(credential)
    return f"{mask(value)} ({fingerprint})"


@functools.lru_cache(maxsize=1024)
def _decoded_name(raw_name: bytes) -> tuple[str, str]:
    """Return a raw header name decoded and its lower-case key.

    Clients send the same few names on every request, so each is decoded once.
    """
    name = raw_name.decode("latin-1")
    return name, name.lower()


def _field_name(raw_name: bytes) -> tuple[str, str, bool]:
    """Return a raw header name decoded, its lower-case key, and whether it is secret.

    Whether a name is secret depends on the loaded configs, so it is not cached here.
    """
    name, key = _decoded_name(raw_name)
    return name, key, is_secret_header(name)


def _grouped(fields: HeaderFields) -> dict[str, tuple[str, bool, list[bytes]]]:
    """Group raw values by lower-case name, keeping each name's first spelling.

    The values stay bytes: latin-1 maps bytes to text one to one, so comparing the
    bytes gives the same result as comparing the text, and only the values that are
    shown get decoded.
    """
    groups: dict[str, tuple[str, bool, list[bytes]]] = {}
    for raw_name, raw_value in fields:
        name, key, secret = _field_name(raw_name)
        if key in _NOT_COMPARED:
            continue
        group = groups.get(key)
        if group is None:
            groups[key] = (name, secret, [raw_value])
        else:
            group[2].append(raw_value)
    return groups


def _shown_values(
    secret: bool, values: list[bytes], fingerprints: dict[str, str]
) -> list[str]:
    """Decode `values` and mask them as `masked` does, reusing `fingerprints`."""
    if not secret:
        return [raw_value.decode("latin-1") for raw_value in values]
    return [
        _masked_secret(raw_value.decode("latin-1"), fingerprints)
        for raw_value in values
    ]


def header_diff(client: HeaderFields, backend: HeaderFields) -> list[dict[str, Any]]:
    """Return the headers removed, added or changed between two header lists, but Host.

    Each entry is `{"name", "change", "client", "backend"}` with every value masked
    as `masked` does; a header that occurs several times lists all its values.
    """
    before = _grouped(client)
    after = _grouped(backend)
    # A credential often occurs twice (a header moved to another name keeps its
    # value), and its keyed fingerprint is the costly part of masking it.
    fingerprints: dict[str, str] = {}
    changes: list[dict[str, Any]] = []
    for key, (name, secret, values) in before.items():
        found = after.get(key)
        if found is None:
            change, new_values = "removed", []
        elif found[2] != values:
            change, new_values = "changed", found[2]
        else:
            continue
        changes.append(
            {
                "name": name,
                "change": change,
                "client": _shown_values(secret, values, fingerprints),
                "backend": _shown_values(secret, new_values, fingerprints),
            }
        )
    for key, (name, secret, values) in after.items():
        if key not in before:
            changes.append(
                {
                    "name": name,
                    "change": "added",
                    "client": [],
                    "backend": _shown_values(secret, values, fingerprints),
                }
            )
    return changes


def secret_values(*header_lists: HeaderFields, targets: Iterable[str] = ()) -> set[str]:
    """Return the credentials to blank out of the trace.

    They are the values of credential headers, with and without their scheme, and the
    values of credential query parameters in the request `targets`.
    """
    found: set[str] = set()
    for target in targets:
        for value in query_credential_values(target):
            if len(value) >= MIN_REDACTED_LENGTH:
                found.add(value)
    for fields in header_lists:
        for raw_name, raw_value in fields:
            if not _field_name(raw_name)[2]:
                continue
            value = raw_value.decode("latin-1")
            for secret in (value, credential_part(value)):
                if len(secret) >= MIN_REDACTED_LENGTH:
                    found.add(secret)
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace each of `secrets` in `text` with `****`, longest first."""
    return _redact_ordered(text, _longest_first(secrets))


def _longest_first(secrets: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(secrets, key=len, reverse=True))


def _redact_ordered(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "****")
    return text


def describe(
    state: dict[str, Any],
    ctx: MessageContext,
    outcome: Outcome,
    secrets: Iterable[str] = (),
) -> None:
    """Copy what the pipeline decided for one request into `state`."""
    if outcome.api is not None:
        state["api"] = outcome.api.label
        state["context"] = outcome.api.full_context
    token = ctx.properties.get("gateway.token_fingerprint")
    if token:
        state["token"] = token
    if outcome.auth is not None:
        record = outcome.auth.record
        state["application"] = record.application_name
        state["key_type"] = record.key_type
        state["tier"] = record.subscription_tier
    state["trace"] = trace_steps(ctx, secrets)


def trace_steps(
    ctx: MessageContext, secrets: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Return the trace of `ctx` as plain data, with the secret values blanked out.

    Credential query parameters are masked in every summary, also when their values
    are too short to be in `secrets`.
    """
    hidden = _longest_first(secrets)
    steps = []
    for step in ctx.trace:
        entry = step.as_dict()
        summary = entry["summary"]
        if hidden:
            summary = _redact_ordered(summary, hidden)
        entry["summary"] = mask_query_credentials(summary)
        steps.append(entry)
    return steps


@dataclass(slots=True)
class ShownSteps:
    """Redacted trace steps of a message and the inputs they were built from."""

    steps: list[dict[str, Any]]
    step_count: int
    trace_length: int
    header_lists: tuple[HeaderFields, ...]
    targets: tuple[str, ...]


def remember_steps(
    ctx: MessageContext,
    steps: list[dict[str, Any]],
    header_lists: tuple[HeaderFields, ...],
    targets: tuple[str, ...],
) -> None:
    """Store `steps` on `ctx` with the header lists and targets that redacted them."""
    ctx.shown_steps = ShownSteps(
        steps, len(steps), len(ctx.trace), header_lists, targets
    )


def client_side(
    ctx: MessageContext, client: Any
) -> tuple[HeaderFields, tuple[str, ...]]:
    """Return the client's header fields and request target, for redacting a trace.

    `client` is the flow's remembered client request. When it has dropped out of that
    memory (a slow backend and many newer flows), the lists kept with the request
    hook's steps stand in for it, so the client's secrets are still blanked.
    """
    if client is not None:
        return client.fields, (client.path,)
    shown = ctx.shown_steps
    if shown is not None and shown.header_lists:
        return shown.header_lists[0], shown.targets
    return (), ()


def redacted_steps(
    ctx: MessageContext,
    header_lists: tuple[HeaderFields, ...],
    targets: tuple[str, ...],
) -> list[dict[str, Any]]:
    """Return `ctx`'s trace steps with the secrets of these headers and targets blanked.

    When the trace has no new step and the header lists are the very objects the
    kept steps were built from, the kept list is returned, because recomputing it
    would give an equal list. The header lists are compared by identity, which is
    enough because mitmproxy keeps the fields in an immutable tuple and replaces the
    tuple when the headers change.
    """
    shown = ctx.shown_steps
    if (
        shown is not None
        and shown.trace_length == len(ctx.trace)
        and shown.step_count == len(shown.steps)
        and shown.targets == targets
        and len(shown.header_lists) == len(header_lists)
        and all(a is b for a, b in zip(shown.header_lists, header_lists))
    ):
        return shown.steps
    steps = trace_steps(ctx, secret_values(*header_lists, targets=targets))
    remember_steps(ctx, steps, header_lists, targets)
    return steps


def _headline(state: dict[str, Any]) -> str:
    outcome = state.get("outcome", "-")
    details = []
    if "code" in state:
        details.append(f"{state['code']} {state.get('message', '')}".rstrip())
    if "status" in state:
        source = "backend status" if outcome == outcomes.FORWARDED else "status"
        details.append(f"{source} {state['status']}")
    if outcome == outcomes.BACKEND_FAILURE and state.get("error"):
        details.append(state["error"])
    return f"{outcome}: {', '.join(details)}" if details else outcome


def _who(state: dict[str, Any]) -> str | None:
    parts = []
    if "application" in state:
        parts.append(f"application {state['application']}")
    if state.get("key_type"):
        parts.append(f"key type {state['key_type']}")
    if state.get("tier"):
        parts.append(f"tier {state['tier']}")
    if "token" in state:
        parts.append(f"token {state['token']}")
    return " · ".join(parts) if parts else None


def _header_lines(changes: list[dict[str, Any]]) -> list[str]:
    lines = []
    for change in changes:
        name = change["name"]
        client = ", ".join(change["client"])
        backend = ", ".join(change["backend"])
        if change["change"] == "removed":
            lines.append(f"  - {name}: {client}")
        elif change["change"] == "added":
            lines.append(f"  + {name}: {backend}")
        else:
            lines.append(f"  ~ {name}: {client} -> {backend}")
    return lines


def _step_line(step: dict[str, Any]) -> str:
    line = f"  {step['stage']}: {step['summary']}"
    if step.get("file"):
        line += f"  [{step['file']}:{step['line']}]"
    return line


def render(state: dict[str, Any]) -> str:
    """Return the readable text of a flow's trace, as its comment shows it."""
    lines = [_headline(state)]
    where = []
    if "api" in state:
        where.append(f"API {state['api']}")
    if "config_generation" in state:
        where.append(f"config generation {state['config_generation']}")
    if where:
        lines.append(" · ".join(where))
    who = _who(state)
    if who:
        lines.append(who)
    if "backend" in state:
        method = state.get("backend_method")
        lines.append(
            f"backend: {method} {state['backend']}"
            if method
            else f"backend: {state['backend']}"
        )
    changes = state.get("headers")
    if changes:
        lines.append("headers, client -> backend:")
        lines.extend(_header_lines(changes))
    steps = state.get("trace")
    if steps:
        lines.append("steps:")
        lines.extend(_step_line(step) for step in steps)
    return "\n".join(lines)


def annotate(flow: http.HTTPFlow, state: dict[str, Any]) -> None:
    """Set the flow's comment to the rendered trace and its mark to the outcome's."""
    flow.comment = render(state)
    flow.marked = outcomes.MARKS.get(state.get("outcome", ""), ":question:")
