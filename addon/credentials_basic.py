"""Basic authentication of callers, as WSO2's BasicAuthAuthenticator does it.

An API whose `security` lists `basic_auth` accepts `Authorization: Basic
base64(user:password)` (or the API's `auth_header`). Facts from the authenticator:

- The header is split on commas; the part whose first word is exactly `Basic` (with
  that case) carries the credential. The other parts survive, joined with commas, and
  the Basic part leaves the header before the password is checked, unless the gateway
  keeps the header outbound.
- A part that is not base64, or decodes to text without a `:`, is 900901. The user
  name may carry the tenant, `alice@carbon.super`; any other tenant is 900908.
- A wrong password or an unknown user is 900901 with the description
  `Invalid Credentials`.
- Scopes bind to roles. A resource with scopes admits the caller through one scope that
  the API defines and that binds no role or one of the user's roles, compared without
  regard to case. Otherwise the code is 900910, `Scope validation failed`.
  Every user also has the role `Internal/everyone`, as in WSO2's user store.
- The caller has no application and no subscription: the application is
  `BasicAuthApplication`, the tier `Unauthenticated`, the key type PRODUCTION, and the
  user name is both the end user and the throttling key.

Users live in the store with a salted PBKDF2 hash of their password
(`python -m addon users add`). Verifying such a hash is slow by design, so the outcome
of each check is remembered in memory. The key is the stored hash and an HMAC of the
password under a key of this process. So a changed password or a removed user is seen
on the next request, and the cache never contains a password.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import secrets
import sqlite3

from .auth import (
    INVALID_CREDENTIALS,
    INVALID_SCOPE,
    RESOURCE_FORBIDDEN,
    AuthFailure,
    AuthRequest,
    AuthResult,
    leave_other_parts,
    store_failure,
    unsubscribed_caller,
)
from .context import MessageContext
from .credentials import verify_password
from .tracing import value_fingerprint

SEGMENT_SCHEME = "Basic"
TENANT = "carbon.super"
APPLICATION_NAME = "BasicAuthApplication"
EVERYONE_ROLE = "Internal/everyone"
# The number of remembered password checks beyond which the cache starts over.
CACHE_LIMIT = 1024

_CACHE_KEY = secrets.token_bytes(32)
# (user name, stored password hash, HMAC of a password) -> whether they matched.
_checked: dict[tuple[str, str, bytes], bool] = {}


class BasicAuthenticator:
    """The authenticator of store users by name and password, with roles for scopes."""

    scheme = "basic_auth"

    def authenticate(
        self, ctx: MessageContext, request: AuthRequest
    ) -> AuthResult | None:
        header_name = request.api.auth_header
        header = ctx.headers.get(header_name)
        if not isinstance(header, str) or SEGMENT_SCHEME not in header:
            ctx.record("auth", f"no Basic credentials in {header_name}")
            return None
        segment, remaining = split_basic(header)
        if segment is None:
            ctx.record("auth", f"no Basic credentials in {header_name}")
            return None
        if not request.keep_auth_header:
            leave_other_parts(ctx, header_name, remaining)

        credentials = decode(segment)
        if credentials is None:
            ctx.record(
                "auth",
                "Basic credentials are not base64 user:password: "
                f"{INVALID_CREDENTIALS}",
            )
            raise invalid()
        name, password = credentials
        user, tenant = tenant_user(name)
        if tenant != TENANT:
            ctx.record(
                "auth",
                f"user {name} is of tenant {tenant}, not {TENANT}: "
                f"{RESOURCE_FORBIDDEN}",
            )
            raise AuthFailure(RESOURCE_FORBIDDEN, "Resource forbidden ")
        try:
            record = request.store.lookup_user(user)
        except sqlite3.Error as e:
            ctx.record("auth", f"store lookup failed: {e}")
            raise store_failure() from e
        if record is None:
            # A caller may have typed the password as the user name: show a fingerprint.
            shown = value_fingerprint(user)
            ctx.record("auth", f"unknown user ({shown}): {INVALID_CREDENTIALS}")
            raise invalid()
        if not _password_matches(user, password, record.password_hash):
            ctx.record("auth", f"wrong password for user {user}: {INVALID_CREDENTIALS}")
            raise invalid()

        roles = record.roles + (EVERYONE_ROLE,)
        if not scopes_allow(request, roles):
            ctx.record(
                "auth",
                f"user {user} (roles {', '.join(roles)}) has no role of the scopes "
                f"{', '.join(request.resource.scopes)}: {INVALID_SCOPE}",
            )
            raise AuthFailure(INVALID_SCOPE, "Scope validation failed")

        end_user = f"{user}@{TENANT}"
        # The log and the trace name the user where other kinds show a fingerprint.
        ctx.properties["gateway.token_fingerprint"] = f"user:{end_user}"
        ctx.record(
            "auth", f"basic auth user {end_user} accepted (tier Unauthenticated)"
        )
        return AuthResult(
            unsubscribed_caller(APPLICATION_NAME, end_user),
            f"user:{end_user}",
            kind="basic",
            end_user=end_user,
            throttle_id=end_user,
        )


def split_basic(value: str) -> tuple[str | None, str]:
    """Return the `Basic ...` part of an Authorization value and the other parts."""
    segment = None
    remaining = []
    for part in value.split(","):
        part = part.strip()
        if part.split(" ")[0] == SEGMENT_SCHEME:
            segment = part
        else:
            remaining.append(part)
    return segment, ",".join(remaining)


def decode(segment: str) -> tuple[str, str] | None:
    """Return the user name and password of a `Basic ...` part, or None if malformed."""
    encoded = segment[len(SEGMENT_SCHEME) + 1 :].strip()
    try:
        text = binascii.a2b_base64(encoded.encode("ascii"), strict_mode=True).decode(
            "utf-8"
        )
    except (binascii.Error, UnicodeError, ValueError):
        return None
    name, sep, password = text.partition(":")
    if not sep:
        return None
    return name, password


def tenant_user(name: str) -> tuple[str, str]:
    """Split `alice@tenant` into the user and the tenant (carbon.super if none)."""
    user, sep, tenant = name.rpartition("@")
    if not sep:
        return name, TENANT
    return user, tenant


def scopes_allow(request: AuthRequest, roles: tuple[str, ...]) -> bool:
    """Return whether the user's roles pass one of the elected resource's scopes."""
    required = request.resource.scopes
    if not required:
        return True
    bound = dict(request.api.scope_roles)
    user_roles = {role.lower() for role in roles}
    for scope in required:
        if scope not in bound:
            continue
        scope_roles = bound[scope]
        if not scope_roles or any(role.lower() in user_roles for role in scope_roles):
            return True
    return False


def invalid() -> AuthFailure:
    return AuthFailure(INVALID_CREDENTIALS, "Invalid Credentials")


def _password_matches(user: str, password: str, stored: str) -> bool:
    """Return whether `password` is the user's, checking each password once.

    PBKDF2 takes tens of milliseconds on the event loop, so wrong passwords are
    remembered too, as WSO2's invalid-username cache does: repeating one costs nothing.
    """
    mark = hmac.new(_CACHE_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    key = (user, stored, mark)
    matches = _checked.get(key)
    if matches is None:
        matches = verify_password(password, stored)
        if len(_checked) >= CACHE_LIMIT:
            _checked.clear()
        _checked[key] = matches
    return matches
