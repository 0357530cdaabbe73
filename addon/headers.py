"""The transport-header map that Synapse mediators read and write.

Facts from Synapse's pass-through transport that this map reproduces:

- Names are compared without regard to case, and a header keeps the spelling it was
  first seen with, even when a mediator later sets it under another spelling.
- When a request carries a header more than once, the first value goes into the map and
  the others are kept aside as excess headers, which are sent on unchanged. Mediators
  only see and change the first value.
- A value that is not a string (a typed property such as INTEGER or BOOLEAN put into
  transport scope) stays in the map but is not sent.

Header order on the wire here is the order of insertion; Synapse's own map iterates in
case-insensitive alphabetical order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

_UNSAFE = re.compile(r"[\r\n\0]")


class TransportHeaders:
    """A case-insensitive header map that keeps first spellings and excess duplicates."""

    __slots__ = ("_items", "excess")

    def __init__(self) -> None:
        self._items: dict[str, list[Any]] = {}
        self.excess: list[tuple[str, str]] = []

    @classmethod
    def from_fields(cls, fields: Iterable[tuple[bytes, bytes]]) -> TransportHeaders:
        """Build the map from raw (name, value) pairs, as mitmproxy stores them."""
        headers = cls()
        items = headers._items
        for raw_name, raw_value in fields:
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            key = name.lower()
            if key in items:
                headers.excess.append((name, value))
            else:
                items[key] = [name, value]
        return headers

    def get(self, name: str) -> Any:
        """Return the value of `name`, or None when the header is absent."""
        item = self._items.get(name.lower())
        return None if item is None else item[1]

    def set(self, name: str, value: Any) -> None:
        """Set `name`, keeping the spelling of an existing header."""
        key = name.lower()
        item = self._items.get(key)
        if item is None:
            self._items[key] = [name, value]
        else:
            item[1] = value

    def joined(self, name: str) -> str | None:
        """Return the values of `name` joined by ", ", as mitmproxy's Headers.get does.

        Returns None when the header is absent. Unlike `get`, it folds the excess
        occurrences in, so it reads a client header as mitmproxy would.
        """
        item = self._items.get(name.lower())
        if not self.excess:
            return None if item is None else item[1]
        values = self.values(name)
        return ", ".join(values) if values else None

    def remove(self, name: str, *, excess: bool = False) -> None:
        """Remove `name`; with `excess`, also drop its duplicate occurrences."""
        self._items.pop(name.lower(), None)
        if excess and self.excess:
            self.remove_excess(name)

    def remove_excess(self, name: str) -> None:
        """Drop the duplicate occurrences of `name`, keeping the first."""
        key = name.lower()
        self.excess = [(n, v) for n, v in self.excess if n.lower() != key]

    def drop_unsafe(self) -> list[str]:
        """Remove every header whose value holds CR, LF or NUL; return their names.

        On the wire such a value would end the header line early and inject others.
        """
        unsafe = [
            name
            for name, value in self._items.values()
            if isinstance(value, str) and _UNSAFE.search(value)
        ]
        for name in unsafe:
            self._items.pop(name.lower(), None)
        excess = [(n, v) for n, v in self.excess if _UNSAFE.search(v)]
        if excess:
            self.excess = [(n, v) for n, v in self.excess if not _UNSAFE.search(v)]
            unsafe.extend(n for n, _ in excess)
        return unsafe

    def clear(self) -> None:
        """Drop every header, duplicates included."""
        self._items.clear()
        self.excess = []

    def count(self, name: str) -> int:
        """Return how many times `name` occurs, duplicates included."""
        key = name.lower()
        found = 1 if key in self._items else 0
        return found + sum(1 for n, _ in self.excess if n.lower() == key)

    def values(self, name: str) -> list[str]:
        """Return every value of `name`, the first one first."""
        key = name.lower()
        first = self._items.get(key)
        values = [first[1]] if first is not None else []
        values.extend(v for n, v in self.excess if n.lower() == key)
        return values

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for name, value in self._items.values():
            yield name, value

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> TransportHeaders:
        """Return an independent copy."""
        other = TransportHeaders()
        other._items = {k: [n, v] for k, (n, v) in self._items.items()}
        other.excess = list(self.excess)
        return other

    def to_fields(self) -> list[tuple[bytes, bytes]]:
        """Return the headers to send: string values only, then the excess ones."""
        fields = [
            (name.encode("latin-1"), value.encode("latin-1", "replace"))
            for name, value in self._items.values()
            if isinstance(value, str)
        ]
        fields.extend(
            (name.encode("latin-1"), value.encode("latin-1", "replace"))
            for name, value in self.excess
        )
        return fields

    def to_fields_replacing(
        self,
        dropped: frozenset[str],
        replaced: dict[str, str],
        appended: tuple[str, str],
    ) -> list[tuple[bytes, bytes]]:
        """Return the fields to send after a transport's own changes, in one pass.

        The result equals `to_fields` on an edited copy. The copy loses each
        lower-case name in `dropped` with its excess occurrences. Then each present
        header among the lower-case names in `replaced` gets its new value, and
        `appended` is set. The name of `appended` must be in `dropped`, so that it
        goes at the end as a new header.
        """
        fields = []
        for key, (name, value) in self._items.items():
            if key in dropped:
                continue
            # Replaced first: a typed value that `replaced` names is sent as a string.
            value = replaced.get(key, value)
            if not isinstance(value, str):
                continue
            fields.append((name.encode("latin-1"), value.encode("latin-1", "replace")))
        name, value = appended
        fields.append((name.encode("latin-1"), value.encode("latin-1", "replace")))
        fields.extend(
            (name.encode("latin-1"), value.encode("latin-1", "replace"))
            for name, value in self.excess
            if name.lower() not in dropped
        )
        return fields

    def as_dict(self) -> dict[str, Any]:
        """Return the map as a plain dict of first spellings to values."""
        return {name: value for name, value in self._items.values()}
