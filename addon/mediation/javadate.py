"""Format the current time with a Java SimpleDateFormat pattern, as SYSTEM_DATE does.

Letters follow java.text.SimpleDateFormat in the English locale: `G y Y M L w W D d F E
u a H k K h m s S z Z X`, text in single quotes is literal and `''` is a quote. The
time zone is the gateway's local one. Without a pattern Java uses its default short
format, `M/d/yy, h:mm a`.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

DEFAULT_PATTERN = "M/d/yy, h:mm a"

_FIELD = re.compile(r"'([^']*)'|([A-Za-z])\2*|(.)", re.DOTALL)
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()


@lru_cache(maxsize=64)
def _compile(pattern: str) -> tuple[tuple[str, str], ...]:
    parts: list[tuple[str, str]] = []
    for match in _FIELD.finditer(pattern):
        quoted, letter, other = match.group(1), match.group(2), match.group(3)
        if quoted is not None:
            parts.append(("text", quoted if quoted else "'"))
        elif letter is not None:
            parts.append(("field", match.group(0)))
        else:
            parts.append(("text", other))
    return tuple(parts)


def _offset(now: dt.datetime, colon: bool) -> str:
    offset = now.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return (
        f"{sign}{hours:02d}:{minutes:02d}"
        if colon
        else f"{sign}{hours:02d}{minutes:02d}"
    )


def _field(field: str, now: dt.datetime) -> str:
    letter, count = field[0], len(field)
    if letter in "yY":
        return f"{now.year % 100:02d}" if count == 2 else str(now.year).zfill(count)
    if letter in "ML":
        if count >= 4:
            return _MONTHS[now.month - 1]
        if count == 3:
            return _MONTHS[now.month - 1][:3]
        return str(now.month).zfill(count)
    if letter == "d":
        return str(now.day).zfill(count)
    if letter == "D":
        return str(now.timetuple().tm_yday).zfill(count)
    if letter == "E":
        name = _DAYS[now.weekday()]
        return name if count >= 4 else name[:3]
    if letter == "u":
        return str(now.isoweekday()).zfill(count)
    if letter == "a":
        return "AM" if now.hour < 12 else "PM"
    if letter == "H":
        return str(now.hour).zfill(count)
    if letter == "k":
        return str(now.hour or 24).zfill(count)
    if letter == "K":
        return str(now.hour % 12).zfill(count)
    if letter == "h":
        return str(now.hour % 12 or 12).zfill(count)
    if letter == "m":
        return str(now.minute).zfill(count)
    if letter == "s":
        return str(now.second).zfill(count)
    if letter == "S":
        return str(now.microsecond // 1000).zfill(count)
    if letter == "z":
        return now.tzname() or "UTC"
    if letter == "Z":
        return _offset(now, colon=False)
    if letter == "X":
        if (now.utcoffset() or dt.timedelta(0)) == dt.timedelta(0):
            return "Z"
        text = _offset(now, colon=count >= 3)
        return text[:3] if count == 1 else text
    if letter == "G":
        return "AD"
    if letter == "w":
        return str(now.isocalendar()[1]).zfill(count)
    if letter == "W":
        return str((now.day - 1) // 7 + 1).zfill(count)
    if letter == "F":
        return str((now.day - 1) // 7 + 1).zfill(count)
    raise ValueError(f"illegal pattern character {letter!r}")


def check_pattern(pattern: str) -> None:
    """Raise ValueError when `pattern` contains a letter that SimpleDateFormat rejects."""
    now = dt.datetime.now().astimezone()
    for kind, value in _compile(pattern):
        if kind == "field":
            _field(value, now)


def format_java_date(pattern: str | None, now: dt.datetime | None = None) -> str:
    """Return `now` (default: the current local time) formatted with `pattern`.

    Raises ValueError for a letter SimpleDateFormat rejects, as Java does.
    """
    moment = now or dt.datetime.now().astimezone()
    parts = _compile(pattern or DEFAULT_PATTERN)
    return "".join(
        value if kind == "text" else _field(value, moment) for kind, value in parts
    )
