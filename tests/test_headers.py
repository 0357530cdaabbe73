"""The transport-header map: folded reads and the one-pass field list to send."""

from __future__ import annotations

from mitmproxy import http

from addon.headers import TransportHeaders


def fields(*pairs: tuple[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((n.encode(), v.encode()) for n, v in pairs)


CASES = [
    fields(("Content-Type", "text/plain")),
    fields(("content-type", "a"), ("X", "1"), ("Content-Type", "b")),
    fields(("X", "1")),
    fields(("Content-Type", ""), ("content-type", "")),
]


def test_joined_matches_mitmproxy_get():
    """A client header reads the same through the map as through mitmproxy's Headers."""
    for case in CASES:
        headers = TransportHeaders.from_fields(case)

        assert headers.joined("Content-Type") == http.Headers(case).get("Content-Type")


def test_to_fields_replacing_matches_copy_and_edit():
    """One pass gives the fields that copy, remove, set and to_fields would give."""
    case = fields(
        ("Host", "client"),
        ("User-Agent", "curl"),
        ("Accept", "*/*"),
        ("date", "today"),
        ("user-agent", "again"),
        ("X-Dup", "1"),
        ("X-Dup", "2"),
    )
    headers = TransportHeaders.from_fields(case)
    headers.set("X-Typed", 5)
    expected = headers.copy()
    for name in ("User-Agent", "Date", "Server"):
        expected.remove(name, excess=True)
    expected.set("User-Agent", "Synapse")
    expected.set("Host", "backend:80")

    result = headers.to_fields_replacing(
        frozenset({"user-agent", "date", "server"}),
        {"host": "backend:80"},
        ("User-Agent", "Synapse"),
    )

    assert result == expected.to_fields()
    assert result[-2] == (b"User-Agent", b"Synapse")


def test_to_fields_replacing_typed_value():
    """A typed Host that a mediator left in the map is still replaced and sent."""
    headers = TransportHeaders.from_fields(fields(("Host", "client"), ("X", "1")))
    headers.set("Host", 5)
    expected = headers.copy()
    expected.remove("User-Agent", excess=True)
    expected.set("User-Agent", "Synapse")
    expected.set("Host", "backend:80")

    result = headers.to_fields_replacing(
        frozenset({"user-agent"}), {"host": "backend:80"}, ("User-Agent", "Synapse")
    )

    assert result == expected.to_fields()
    assert (b"Host", b"backend:80") in result
