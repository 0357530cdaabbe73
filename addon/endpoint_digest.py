"""Endpoint security `digest`: the Authorization header for a backend's Digest challenge.

Facts from API Manager's API template (`velocity_template.xml`) and carbon-apimgt's
`DigestAuthMediator`:

- The resource's in-sequence first sends the request, body included, to the endpoint
  with `<call>`. The mediator reads `WWW-Authenticate` of that response and builds
  `Authorization: Digest ...`; then the request is sent again with it.
- The challenge is split on "Digest", then on ", ". `realm` and `nonce` are required.
  A `qop` other than `auth` or `auth-int` (such as "auth,auth-int") counts as `auth`,
  and an `algorithm` other than `MD5` or `MD5-sess` counts as `MD5`.
- HA1 = MD5(user:realm:password), or for MD5-sess MD5(HA1:nonce:cnonce). HA2 =
  MD5(method:uri), or for auth-int MD5(method:uri:MD5(body)). The response is
  MD5(HA1:nonce:nc:cnonce:qop:HA2) with a qop, else MD5(HA1:nonce:HA2).
- `uri` is the endpoint's path followed by REST_URL_POSTFIX (the query included), nc is
  always 00000001 (the count lives in the message), and cnonce is a random 32-bit
  number written as 16 hex digits. Later versions send 32 random bytes as 64 hex digits.
- The header lists `username`, `realm`, `nonce`, `uri`, then `qop`, `nc`, `cnonce` with
  a qop, `algorithm` when the challenge named one, `response`, and `opaque` exactly as
  the challenge wrote it.
- A challenge that is not Digest leaves the header unset, so the template's property
  mediator sends an empty `Authorization`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Challenge:
    """The parts of a `WWW-Authenticate: Digest ...` challenge that the response uses."""

    realm: str
    nonce: str
    qop: str | None
    # As written in the challenge, quotes included: it is echoed unchanged.
    opaque: str | None
    algorithm: str | None


def parse_challenge(header: str) -> Challenge | None:
    """Return the Digest challenge in a WWW-Authenticate value, or None if there is none.

    Raises ValueError when a Digest challenge lacks `realm` or `nonce`.
    """
    _, found, rest = header.partition("Digest")
    if not found or not rest.strip():
        return None
    values: dict[str, str] = {}
    for item in rest.split(", "):
        key, equals, value = item.partition("=")
        if equals:
            values[key.strip()] = value.strip()
    if "realm" not in values or "nonce" not in values:
        raise ValueError(f"the Digest challenge {header!r} has no realm or nonce")
    qop = _unquote(values.get("qop"))
    if qop not in (None, "auth", "auth-int"):
        qop = "auth"
    algorithm = _unquote(values.get("algorithm"))
    if algorithm not in (None, "MD5", "MD5-sess"):
        algorithm = "MD5"
    return Challenge(
        realm=_unquote(values["realm"]) or "",
        nonce=_unquote(values["nonce"]) or "",
        qop=qop,
        opaque=values.get("opaque"),
        algorithm=algorithm,
    )


def authorization(
    challenge: Challenge,
    username: str,
    password: str,
    method: str,
    uri: str,
    body: bytes,
    client_nonce: str | None = None,
) -> str:
    """Return the `Authorization: Digest ...` value computed for `challenge`."""
    cnonce = client_nonce or f"{secrets.randbits(32):016x}"
    nonce_count = "00000001"
    ha1 = _md5(f"{username}:{challenge.realm}:{password}")
    if challenge.algorithm == "MD5-sess":
        ha1 = _md5(f"{ha1}:{challenge.nonce}:{cnonce}")
    if challenge.qop == "auth-int":
        ha2 = _md5(f"{method}:{uri}:{hashlib.md5(body).hexdigest()}")
    else:
        ha2 = _md5(f"{method}:{uri}")
    if challenge.qop is not None:
        response = _md5(
            f"{ha1}:{challenge.nonce}:{nonce_count}:{cnonce}:{challenge.qop}:{ha2}"
        )
    else:
        response = _md5(f"{ha1}:{challenge.nonce}:{ha2}")

    parts = [
        f'username="{username}"',
        f'realm="{challenge.realm}"',
        f'nonce="{challenge.nonce}"',
        f'uri="{uri}"',
    ]
    if challenge.qop is not None:
        parts += [f"qop={challenge.qop}", f"nc={nonce_count}", f'cnonce="{cnonce}"']
    if challenge.algorithm is not None:
        parts.append(f"algorithm={challenge.algorithm}")
    parts.append(f'response="{response}"')
    if challenge.opaque is not None:
        parts.append(f"opaque={challenge.opaque}")
    return "Digest " + ", ".join(parts)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _unquote(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value
