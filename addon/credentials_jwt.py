"""Self-contained JWT access tokens, validated locally as WSO2's JWTValidator does.

Order of the checks, each failure being 900901 unless noted:

1. revocation by `jti` (the store's `revoked_jwts`), answered with the text
   `Invalid JWT token`;
2. the issuer (`iss`) must be one of the configured key managers;
3. the signature, with that key manager's keys and only the algorithms its config
   lists (never the token's own choice), then `exp` (required) and `nbf` with the key
   manager's clock skew;
4. the application, found by the consumer key in the `azp` claim (configurable); a
   token naming no consumer key is 900908;
5. the subscription (900908/900907/900909, with WSO2's JWT-path text) and the
   resource's scopes (900910).
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from typing import Any

import jwt

from .auth import (
    INVALID_CREDENTIALS,
    INVALID_SCOPE,
    RESOURCE_FORBIDDEN,
    AuthFailure,
    AuthRequest,
    AuthResult,
    check_subscription,
    has_scope,
    store_failure,
)
from .context import MessageContext
from .credentials import fingerprint
from .settings import KeyManager

SUBSCRIPTION_FAILED = (
    "User is NOT authorized to access the Resource. API Subscription validation failed."
)

# Claim values that mark an API key or an internal key: never accepted as access tokens.
_NOT_ACCESS_TOKENS = ("apiKey", "InternalKey")


def looks_like_jwt(token: str) -> bool:
    """WSO2's rule: a token with a dot and exactly three dot-separated parts is a JWT."""
    return token.count(".") == 2


def _invalid(
    ctx: MessageContext, reason: str, text: str = "Invalid Credentials"
) -> AuthFailure:
    ctx.record("auth", f"JWT rejected: {reason}: {INVALID_CREDENTIALS}")
    return AuthFailure(INVALID_CREDENTIALS, text)


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the header and claims of `token` without checking anything (for routing only).

    Plain base64url and JSON: PyJWT then parses the token once, to verify it.
    """
    try:
        header_part, claims_part, _ = token.split(".")
        header = json.loads(_b64decode(header_part))
        claims = json.loads(_b64decode(claims_part))
    except (ValueError, UnicodeDecodeError, binascii.Error, RecursionError) as e:
        raise jwt.DecodeError(f"invalid JWT segments: {e}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise jwt.DecodeError("the JWT header and payload must be JSON objects")
    return header, claims


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify(token: str, manager: KeyManager, kid: str | None) -> dict[str, Any]:
    """Verify `token` against `manager`'s keys; raise a PyJWT error when none accepts it."""
    error: Exception = jwt.InvalidSignatureError("no key")
    for key in manager.keys_for(kid):
        try:
            return jwt.decode(
                token,
                key,
                algorithms=list(manager.algorithms),
                issuer=manager.issuer,
                leeway=manager.clock_skew,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.InvalidSignatureError as e:
            error = e
    raise error


def validate_jwt(ctx: MessageContext, request: AuthRequest, token: str) -> AuthResult:
    api = request.api
    shown = fingerprint(token)
    ctx.properties["gateway.token_fingerprint"] = shown
    try:
        header, unverified = decode_unverified(token)
    except jwt.PyJWTError as e:
        raise _invalid(ctx, f"not a readable JWT ({e})") from None

    jti = unverified.get("jti")
    try:
        revoked = isinstance(jti, str) and request.store.jwt_revoked(jti)
    except sqlite3.Error as e:
        ctx.record("auth", f"store lookup failed: {e}")
        raise store_failure() from e
    if revoked:
        raise _invalid(ctx, f"jti of {shown} is revoked", "Invalid JWT token")

    issuer = unverified.get("iss")
    manager = next((m for m in request.key_managers if m.issuer == issuer), None)
    if manager is None:
        known = ", ".join(m.issuer for m in request.key_managers) or "none configured"
        raise _invalid(ctx, f"issuer {issuer!r} is not a key manager ({known})")
    if header.get("alg") not in manager.algorithms:
        raise _invalid(
            ctx,
            f"algorithm {header.get('alg')!r} not in {', '.join(manager.algorithms)}",
        )
    try:
        claims = verify(token, manager, header.get("kid"))
    except jwt.ExpiredSignatureError:
        raise _invalid(ctx, f"{shown} expired") from None
    except jwt.ImmatureSignatureError:
        raise _invalid(ctx, f"{shown} not valid yet (nbf)") from None
    except jwt.PyJWTError as e:
        raise _invalid(
            ctx, f"{shown} failed verification with {manager.name}: {e}"
        ) from None
    if claims.get("token_type") in _NOT_ACCESS_TOKENS:
        raise _invalid(
            ctx, f"{shown} is an API key or internal key, not an access token"
        )

    consumer_key = claims.get(manager.consumer_key_claim) or claims.get("client_id")
    if not isinstance(consumer_key, str):
        ctx.record("auth", f"JWT names no consumer key: {RESOURCE_FORBIDDEN}")
        raise AuthFailure(RESOURCE_FORBIDDEN, "Resource forbidden ")
    try:
        record = request.store.lookup_consumer_key(consumer_key, api.name, api.version)
    except sqlite3.Error as e:
        ctx.record("auth", f"store lookup failed: {e}")
        raise store_failure() from e

    def fail(code: str) -> AuthFailure:
        ctx.record("auth", f"JWT {shown}: subscription validation failed: {code}")
        return AuthFailure(code, SUBSCRIPTION_FAILED)

    if record is None:
        ctx.record("auth", f"consumer key of {shown} belongs to no application")
        raise fail(RESOURCE_FORBIDDEN)
    check_subscription(record, record.key_type, fail)

    scopes = _scopes(claims.get(manager.scopes_claim))
    if not has_scope(request.resource, scopes):
        ctx.record("auth", f"JWT {shown} lacks the scopes of {request.resource.target}")
        raise AuthFailure(
            INVALID_SCOPE,
            f"User is NOT authorized to access the Resource: {request.resource.target}. "
            "Scope validation failed.",
        )

    ctx.record(
        "auth",
        f"JWT {shown} from {manager.name} of application {record.application_name} "
        f"({record.key_type}, tier {record.subscription_tier}) accepted",
    )
    return AuthResult(
        record,
        shown,
        kind="jwt",
        scopes=scopes,
        claims=claims,
        consumer_key=consumer_key,
        end_user=_end_user(claims, record.application_owner),
        throttle_id=str(record.application_id),
    )


def _end_user(claims: dict[str, Any], owner: str) -> str:
    """Return the end user as WSO2's gateway derives it from the `aut` claim.

    An application token's end user is the application owner, a user token's is its
    subject; both get the tenant. Without `aut` the subject is taken as it is.
    """
    kind = claims.get("aut")
    if kind == "APPLICATION":
        return f"{owner}@carbon.super"
    subject = str(claims.get("sub") or owner)
    if kind == "APPLICATION_USER" and "@" not in subject:
        return f"{subject}@carbon.super"
    return subject


def _scopes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()
