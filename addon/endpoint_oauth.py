"""Endpoint security `oauth`: the gateway gets a token for the backend from a token URL.

Facts from carbon-apimgt's `OAuthMediator`, `OAuthTokenGenerator` and `OAuthClient`
(the gateway's OAuth endpoint security, API Manager 3.2 to 4.x):

- The token request is a POST to the token URL with `Authorization: Basic
  base64(client_id:client_secret)` (the client is never authenticated in the body),
  `Content-Type: application/x-www-form-urlencoded` and the body
  `grant_type=client_credentials`, or `grant_type=password&username=...&password=...`,
  followed by each custom parameter as `&name=value`.
- Only status 200 is a success. The JSON response must contain `access_token`; it may
  contain `refresh_token` and `expires_in` (seconds).
- The token is cached per endpoint and reused while more than one second of its
  lifetime is left. After that, the next request refreshes it with
  `grant_type=refresh_token&refresh_token=...` when the response had a refresh token, or
  makes a new grant. A response without `expires_in` is not cached.
- The mediator then sets `Authorization: Bearer <token>` in the transport headers, after
  the API's mediation, so it replaces what the client or a sequence put there.
- When no token can be got, the mediator logs the error and the request goes on to the
  backend without a new `Authorization`: the client gets the backend's response.

Differences, on purpose: the form body is URL-encoded, because WSO2 appends the values
as they are, which breaks on `&` or `=` in a password. A failed refresh drops the cached
token so that the next request makes a new grant, where WSO2 keeps retrying the refresh.

Hardening: the token request follows no redirect and ignores proxy variables of the
environment, so the client secret goes to the configured URL only. An `access_token`
that is empty or has characters other than visible ASCII counts as no token, so that
no CR, LF or NUL from the token endpoint reaches the backend's headers. Requests that
waited for a fetch that failed share its failure instead of each trying again. A
`token_url` with `user:password@` is rejected at load, so that no password reaches the
log or the trace, which both show the token URL.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from .fields import FieldReader

logger = logging.getLogger(__name__)

OAUTH_FIELDS = (
    "type",
    "grant_type",
    "token_url",
    "client_id",
    "client_secret",
    "client_secret_env",
    "username",
    "password",
    "password_env",
    "scopes",
    "custom_parameters",
)
GRANT_TYPES = ("client_credentials", "password")

# Seconds of lifetime below which a cached token is not used (OAuthTokenGenerator).
MIN_REMAINING_SECONDS = 1.0

# Seconds to wait for the token endpoint.
TOKEN_TIMEOUT = 10.0

# Form fields that the gateway writes itself, so custom parameters may not replace them.
RESERVED_PARAMETERS = frozenset(
    {"grant_type", "username", "password", "refresh_token", "scope"}
)

# A token must be visible ASCII to go into a header (RFC 6750's b64token is narrower).
_TOKEN_TEXT = re.compile(r"[\x21-\x7e]+")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into an error, so that the client secret never follows one."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


# No proxies from the environment and no redirects: the secret goes to the token URL only.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class TokenError(Exception):
    """Failure to get a token from the token endpoint, with the reason as message."""


@dataclass(slots=True)
class CachedToken:
    """A token from the token endpoint and how long it may be used."""

    access_token: str
    valid_until: float | None
    refresh_token: str | None = None

    def usable(self, now: float) -> bool:
        return (
            self.valid_until is not None
            and self.valid_until - now > MIN_REMAINING_SECONDS
        )


class TokenCache:
    """The cached token of one API's endpoint security, and the lock of its fetches.

    Concurrent requests that find no usable token wait for one fetch instead of each
    making their own.
    """

    def __init__(self) -> None:
        self.token: CachedToken | None = None
        self.lock = asyncio.Lock()
        # The failure of the last fetch and when it ended, for requests that waited.
        self.failure: TokenError | None = None
        self.failed_at = 0.0


@dataclass(frozen=True, slots=True)
class OAuthSecurity:
    """Endpoint security `oauth`: where and how the gateway gets the backend's token."""

    type: str
    grant_type: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    custom_parameters: tuple[tuple[str, str], ...] = ()
    cache: TokenCache = field(default_factory=TokenCache, compare=False, repr=False)

    def form(self, refresh_token: str | None = None) -> dict[str, str]:
        """Return the form fields of a token request, in WSO2's order."""
        if refresh_token is not None:
            fields = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        elif self.grant_type == "password":
            assert self.username is not None and self.password is not None
            fields = {
                "grant_type": "password",
                "username": self.username,
                "password": self.password,
            }
        else:
            fields = {"grant_type": "client_credentials"}
        if self.scopes:
            fields["scope"] = " ".join(self.scopes)
        fields.update(self.custom_parameters)
        return fields


def parse_oauth_security(file: str, owner: str, raw: Any) -> OAuthSecurity:
    """Read an `endpoint_security` mapping of `type: oauth`.

    Raises ConfigError naming the file, line and field.
    """
    reader = FieldReader(file, raw, f"{owner} endpoint_security", OAUTH_FIELDS)
    grant_type = reader.choice("grant_type", GRANT_TYPES, "client_credentials")
    token_url = reader.string("token_url", required=True)
    parts = urllib.parse.urlsplit(token_url)
    if parts.username is not None or parts.password is not None:
        # The URL is not echoed, because its password would land in the error output.
        raise reader.error(
            "token_url",
            "contains user:password@ credentials; remove them and set client_id and "
            "client_secret (or client_secret_env), which the gateway sends as Basic "
            "client authentication",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise reader.error(
            "token_url", f"{token_url!r} is not an http:// or https:// URL with a host"
        )
    client_id = reader.string("client_id", required=True)
    client_secret = reader.secret("client_secret")

    username = password = None
    if grant_type == "password":
        username = reader.string("username", required=True)
        password = reader.secret("password")
    else:
        for name in ("username", "password", "password_env"):
            if reader.has(name):
                raise reader.error(name, "applies to grant_type: password only")

    custom = reader.raw("custom_parameters") or {}
    if not isinstance(custom, dict) or not all(
        isinstance(key, str) and isinstance(value, (str, int, float))
        and not isinstance(value, bool)
        for key, value in custom.items()
    ):
        raise reader.error(
            "custom_parameters", "must be a mapping of names to strings or numbers"
        )
    reserved = sorted(RESERVED_PARAMETERS.intersection(custom))
    if reserved:
        raise reader.error(
            "custom_parameters",
            f"sets {', '.join(reserved)}, which the gateway writes itself; "
            "use grant_type, username, password and scopes instead",
        )
    return OAuthSecurity(
        type="oauth",
        grant_type=grant_type,
        token_url=token_url,
        client_id=client_id,
        client_secret=client_secret,
        username=username,
        password=password,
        scopes=reader.string_list("scopes"),
        custom_parameters=tuple((key, str(value)) for key, value in custom.items()),
    )


async def get_token(security: OAuthSecurity) -> tuple[str, bool]:
    """Return a token for the backend and whether it came from the cache.

    Raises TokenError when the token endpoint gives none. The request runs in a
    thread, so mitmproxy's event loop goes on serving other flows meanwhile.
    """
    cache = security.cache
    cached = cache.token
    if cached is not None and cached.usable(time.time()):
        return cached.access_token, True
    waiting_since = time.monotonic()
    async with cache.lock:
        if cache.failure is not None and cache.failed_at >= waiting_since:
            # The fetch this request waited for failed, so it gets the same error.
            raise cache.failure
        cached = cache.token
        if cached is not None and cached.usable(time.time()):
            return cached.access_token, True
        refresh = cached.refresh_token if cached is not None else None
        try:
            token = await asyncio.to_thread(request_token, security, refresh)
        except TokenError as e:
            cache.token = None
            cache.failure = e
            cache.failed_at = time.monotonic()
            raise
        cache.failure = None
        cache.token = token if token.valid_until is not None else None
        return token.access_token, False


def request_token(security: OAuthSecurity, refresh_token: str | None) -> CachedToken:
    """POST a token request to the token URL and return the token.

    Raises TokenError when the response contains no usable token.
    """
    credentials = f"{security.client_id}:{security.client_secret}".encode()
    body = urllib.parse.urlencode(security.form(refresh_token)).encode("ascii")
    request = urllib.request.Request(
        security.token_url,
        data=body,
        method="POST",
        headers={
            "Authorization": "Basic " + base64.b64encode(credentials).decode("ascii"),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )

    started = time.time()
    try:
        with _OPENER.open(request, timeout=TOKEN_TIMEOUT) as reply:
            status = reply.status
            text = reply.read()
    except urllib.error.HTTPError as e:
        raise TokenError(f"the token URL returned status {e.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise TokenError(f"the token URL could not be reached: {reason}") from None
    except http.client.HTTPException as e:
        raise TokenError(
            f"the token URL sent a response that is not HTTP: {e!r}"
        ) from None
    if status != 200:
        raise TokenError(f"the token URL returned status {status}")

    try:
        document = json.loads(text)
    except ValueError:
        raise TokenError("the token URL returned a body that is not JSON") from None
    if not isinstance(document, dict) or not isinstance(
        document.get("access_token"), str
    ):
        raise TokenError("the token URL returned no access_token")
    if not _TOKEN_TEXT.fullmatch(document["access_token"]):
        raise TokenError(
            "the token URL returned an access_token that is empty or has characters "
            "other than visible ASCII"
        )

    valid_until = None
    expires_in = document.get("expires_in")
    if expires_in is not None:
        try:
            valid_until = started + float(expires_in)
        except (TypeError, ValueError):
            raise TokenError(
                f"the token URL returned an invalid expires_in: {expires_in!r}"
            ) from None
    refresh = document.get("refresh_token")
    return CachedToken(
        document["access_token"],
        valid_until,
        refresh if isinstance(refresh, str) else None,
    )
