"""OAuth access tokens in the `Authorization` header (or the API's `auth_header`).

WSO2's OAuthAuthenticator guesses the token kind from its shape: a token with exactly
three dot-separated parts is a self-contained JWT, validated locally; anything else is an
opaque token, looked up by its SHA-256 in the store. After a successful check the token
leaves the header (other comma-separated parts stay) unless the gateway keeps the
header outbound (WSO2's `enable_outbound_auth_header`, here the option
`gateway_outbound_auth_header`).
"""

from __future__ import annotations

from .auth import (
    INCORRECT_TOKEN_TYPE,
    INVALID_CREDENTIALS,
    INVALID_SCOPE,
    AuthFailure,
    AuthRequest,
    AuthResult,
    access_failure,
    check_subscription,
    extract_bearer,
    has_required_token_type,
    has_scope,
    leave_other_parts,
    lookup_by_hash,
)
from .context import MessageContext
from .credentials_jwt import looks_like_jwt, validate_jwt


class OAuthAuthenticator:
    """Bearer tokens: opaque ones from the store, JWT ones against the key managers."""

    scheme = "oauth2"

    def authenticate(
        self, ctx: MessageContext, request: AuthRequest
    ) -> AuthResult | None:
        header_name = request.api.auth_header
        header = ctx.headers.get(header_name)
        if not isinstance(header, str):
            ctx.record("auth", f"no {header_name} header")
            return None
        bearer = extract_bearer(header)
        if bearer.token is None:
            ctx.record("auth", f"no Bearer token in {header_name}")
            return None

        # WSO2 takes the token out as soon as it has read it, so it is gone even from
        # the headers an error response echoes.
        if not request.keep_auth_header:
            leave_other_parts(ctx, header_name, bearer.remaining)
        else:
            ctx.record(
                "auth", f"{header_name} kept outbound (gateway_outbound_auth_header)"
            )

        if looks_like_jwt(bearer.token):
            return validate_jwt(ctx, request, bearer.token)
        return _validate_opaque(ctx, request, bearer.token)


def _validate_opaque(
    ctx: MessageContext, request: AuthRequest, token: str
) -> AuthResult:
    api = request.api
    record, fingerprint = lookup_by_hash(
        ctx, token, lambda digest: request.store.lookup(digest, api.name, api.version)
    )

    if record is None:
        reason = "unknown token"
    elif record.revoked:
        reason = "revoked token"
    elif record.is_expired(request.now):
        reason = "expired token"
    else:
        reason = None
    if reason is not None:
        ctx.record("auth", f"{reason} {fingerprint}: {INVALID_CREDENTIALS}")
        raise access_failure(api, INVALID_CREDENTIALS)
    assert record is not None

    def fail(code: str) -> AuthFailure:
        ctx.record(
            "auth",
            f"application {record.application_name}, subscription "
            f"{record.subscription_state or 'none'} to {api.label}: {code}",
        )
        return access_failure(api, code)

    # The key manager checks the token type before the subscription.
    if not has_required_token_type(request.resource, bool(record.user_name)):
        kind = "user" if record.user_name else "application"
        ctx.record(
            "auth",
            f"{kind} token {fingerprint} on a resource of auth type "
            f"{request.resource.auth_type}: {INCORRECT_TOKEN_TYPE}",
        )
        raise access_failure(api, INCORRECT_TOKEN_TYPE)
    check_subscription(record, record.key_type, fail)
    if not has_scope(request.resource, record.scopes):
        raise fail(INVALID_SCOPE)

    user = f", user {record.user_name}" if record.user_name else ""
    ctx.record(
        "auth",
        f"opaque token {fingerprint} of application {record.application_name} "
        f"({record.key_type}, tier {record.subscription_tier}{user}) accepted",
    )
    return AuthResult(
        record,
        fingerprint,
        kind="oauth",
        scopes=record.scopes,
        end_user=record.user_name or record.application_owner,
        throttle_id=str(record.application_id),
    )
