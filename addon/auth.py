"""Authenticate the caller's access token as WSO2's OAuth authenticator does.

How WSO2 reads the token (carbon-apimgt `OAuthAuthenticator`): the header value is
split on commas; each part is split on spaces; in a part of two or more words, the word
after `Bearer` is the token (surrounding double quotes removed). The parts that carried
a token are taken out of the header and the other parts are joined back with commas and
forwarded, so `Bearer <app token>,Basic <backend credential>` reaches the backend as
`Basic <backend credential>`. The header goes away when nothing remains.

The outcomes and their codes (WSO2 4.x): no token at all is 900902, an unknown,
expired or revoked token is 900901 (both 401), and a valid token whose application is
not subscribed to the API is 900908 (403).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from .config import ApiConfig
from .context import MessageContext
from .credentials import fingerprint_of_hash, token_hash
from .errors import GatewayError
from .store import TokenRecord, TokenStore

AUTH_HEADER = "Authorization"

INVALID_CREDENTIALS = "900901"
MISSING_CREDENTIALS = "900902"
RESOURCE_FORBIDDEN = "900908"
UNCLASSIFIED_FAILURE = "900900"


@dataclass(frozen=True, slots=True)
class BearerToken:
    """The token found in an Authorization value and what remains of the value."""

    token: str | None
    remaining: str


def extract_bearer(value: str) -> BearerToken:
    """Find the bearer token in an Authorization header value, WSO2's way."""
    token = None
    remaining = []
    for part in value.split(","):
        words = part.split(" ")
        found_in_part = None
        if len(words) > 1:
            after_bearer = False
            for word in words:
                word = word.strip()
                if not word:
                    continue
                if word.lower() == "bearer":
                    after_bearer = True
                elif after_bearer:
                    found_in_part = _strip_quotes(word)
        if found_in_part is None:
            remaining.append(part)
        else:
            token = found_in_part
    return BearerToken(token, ",".join(remaining).strip())


def _strip_quotes(word: str) -> str:
    if word.startswith('"') or word.endswith('"'):
        word = word.replace('"', "")
    return word.strip()


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Who called: the application behind a valid token and its subscription."""

    record: TokenRecord
    fingerprint: str


def _access_failure(api: ApiConfig, code: str, message: str) -> str:
    return (
        f"Access failure for API: {api.full_context}, version: {api.version} "
        f"status: ({code}) - {message}"
    )


def missing_credentials() -> GatewayError:
    return GatewayError(
        MISSING_CREDENTIALS,
        "Missing Credentials",
        "Invalid Credentials. Make sure your API invocation call has a header: "
        "'Authorization : Bearer ACCESS_TOKEN' or 'Authorization : Basic ACCESS_TOKEN' "
        "or 'ApiKey : API_KEY'",
        401,
    )


def invalid_credentials(api: ApiConfig) -> GatewayError:
    message = "Invalid Credentials"
    return GatewayError(
        INVALID_CREDENTIALS,
        message,
        _access_failure(api, INVALID_CREDENTIALS, message)
        + ". Make sure you have provided the correct security credentials",
        401,
    )


def resource_forbidden(api: ApiConfig) -> GatewayError:
    message = "Resource forbidden "
    return GatewayError(
        RESOURCE_FORBIDDEN, message, _access_failure(api, RESOURCE_FORBIDDEN, message), 403
    )


def store_failure() -> GatewayError:
    return GatewayError(
        UNCLASSIFIED_FAILURE,
        "Unclassified Authentication Failure",
        "The gateway could not read the application store; see the gateway log",
        500,
    )


def authenticate(
    ctx: MessageContext, api: ApiConfig, store: TokenStore, now: float | None = None
) -> AuthResult:
    """Validate the token in `ctx`'s Authorization header and remove it from the header.

    Raises GatewayError with WSO2's code when the caller may not call `api`.
    """
    header = ctx.headers.get(AUTH_HEADER)
    if not isinstance(header, str):
        ctx.record("auth", f"no {AUTH_HEADER} header: {MISSING_CREDENTIALS}")
        raise missing_credentials()

    bearer = extract_bearer(header)
    if bearer.token is None:
        ctx.record("auth", f"no Bearer token in {AUTH_HEADER}: {MISSING_CREDENTIALS}")
        raise missing_credentials()

    digest = token_hash(bearer.token)
    fingerprint = fingerprint_of_hash(digest)
    ctx.properties["gateway.token_fingerprint"] = fingerprint
    try:
        record = store.lookup(digest, api.name, api.version)
    except sqlite3.Error as e:
        ctx.record("auth", f"store lookup failed: {e}")
        raise store_failure() from e

    moment = time.time() if now is None else now
    if record is None:
        reason = "unknown token"
    elif record.revoked:
        reason = "revoked token"
    elif record.is_expired(moment):
        reason = "expired token"
    else:
        reason = None
    if reason is not None:
        ctx.record("auth", f"{reason} {fingerprint}: {INVALID_CREDENTIALS}")
        raise invalid_credentials(api)

    assert record is not None
    if record.subscription_state is None:
        ctx.record(
            "auth",
            f"application {record.application_name} is not subscribed to {api.label}: "
            f"{RESOURCE_FORBIDDEN}",
        )
        raise resource_forbidden(api)

    _remove_token(ctx, bearer)
    ctx.record(
        "auth",
        f"token {fingerprint} of application {record.application_name} "
        f"({record.key_type}, tier {record.subscription_tier}) accepted",
    )
    return AuthResult(record, fingerprint)


def _remove_token(ctx: MessageContext, bearer: BearerToken) -> None:
    """Take the token out of the Authorization header, as WSO2 does by default."""
    if bearer.remaining:
        ctx.headers.set(AUTH_HEADER, bearer.remaining)
        ctx.headers.remove_excess(AUTH_HEADER)
    else:
        ctx.headers.remove(AUTH_HEADER, excess=True)
