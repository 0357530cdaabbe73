"""Masking of credentials carried in query strings, for logs, traces and flow metadata.

A client may send its credential in the query (`?apikey=K`, `?access_token=T`). The
request target then reaches every place that shows a path: the per-request log line,
the trace's dispatch and route steps, the flow comment and `flow.metadata`, which
saved flows keep. `mask_query_credentials` replaces the value of every
credential parameter in a text with `****`, wherever a query occurs in it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

MASK = "****"

# Parameter names whose values are credentials, compared without regard to case.
# `apikey` is the query parameter WSO2's ApiKeyAuthenticator reads.
CREDENTIAL_PARAMETERS = frozenset(
    {
        "apikey",
        "api_key",
        "api-key",
        "key",
        "access_token",
        "id_token",
        "refresh_token",
        "token",
        "client_secret",
        "password",
        "passwd",
        "secret",
        "signature",
        "sig",
    }
)

# Other names that mark a credential, such as `x_api_key` or `session_token`.
_CREDENTIAL_NAME_PARTS = re.compile(
    r"token|secret|passw|api[-_]?key|signature|credential", re.IGNORECASE
)

# One `name=value` pair of a query: it follows `?` or `&`, and the value ends at the
# next `&`, whitespace, quote or `#`, so the pattern also works inside free text such
# as a trace step's summary.
_QUERY_PAIR = re.compile(
    r"(?P<lead>[?&])(?P<name>[^=&?#\s'\"]+)=(?P<value>[^&#\s'\"]*)"
)


def is_credential_parameter(name: str) -> bool:
    """Return whether the value of query parameter `name` is a credential.

    `name` may be percent-encoded.
    """
    decoded = unquote_plus(name).strip().lower()
    return (
        decoded in CREDENTIAL_PARAMETERS
        or _CREDENTIAL_NAME_PARTS.search(decoded) is not None
    )


def _masked_pair(match: re.Match[str]) -> str:
    if not match["value"] or not is_credential_parameter(match["name"]):
        return match[0]
    return f"{match['lead']}{match['name']}={MASK}"


def mask_query_credentials(text: str) -> str:
    """Return `text` with the value of each credential query parameter masked.

    `text` is a path, a REST_URL_POSTFIX, a URL, or free text that contains one. Text
    without `?` is returned as it is.
    """
    if "?" not in text:
        return text
    return _QUERY_PAIR.sub(_masked_pair, text)


def query_credential_values(target: str) -> list[str]:
    """Return the values of the credential parameters in the query of `target`.

    Each value is returned both as sent and percent-decoded, so that the trace can
    blank out a copy a mediator made under another name.
    """
    values: list[str] = []
    for match in _QUERY_PAIR.finditer(target.partition("#")[0]):
        if match["value"] and is_credential_parameter(match["name"]):
            raw = match["value"]
            values.append(raw)
            decoded = unquote_plus(raw)
            if decoded != raw:
                values.append(decoded)
    return values
