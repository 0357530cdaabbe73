"""API keys in the API's key header (`ApiKey` by default) or the `apikey` query parameter.

As WSO2's ApiKeyAuthenticator does: the header is read first (names compare without
regard to case, so `apikey` works too) and always removed before forwarding; without
it, the `apikey` query parameter is read and taken out of `REST_URL_POSTFIX`. API keys
carry no scopes, so resource scopes are not checked for them.

The keys here are opaque and stored as SHA-256 hashes, the model of WSO2 4.7's
API-bound keys; earlier releases signed API keys as JWTs.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from .auth import (
    INVALID_CREDENTIALS,
    AuthFailure,
    AuthRequest,
    AuthResult,
    check_subscription,
    lookup_by_hash,
)
from .context import MessageContext
from .credentials_jwt import SUBSCRIPTION_FAILED

QUERY_PARAMETER = "apikey"


def query_values(postfix: str, name: str = QUERY_PARAMETER) -> list[str]:
    """Return every value of query parameter `name` in a REST_URL_POSTFIX."""
    query = postfix.partition("?")[2]
    values = []
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if sep and unquote_plus(key) == name:
            values.append(unquote_plus(value))
    return values


def remove_query_parameter(postfix: str, name: str = QUERY_PARAMETER) -> str:
    """Remove every `name=...` pair from the query of a REST_URL_POSTFIX."""
    path, sep, query = postfix.partition("?")
    if not sep:
        return postfix
    kept = [
        pair
        for pair in query.split("&")
        if not (pair.partition("=")[1] and unquote_plus(pair.partition("=")[0]) == name)
    ]
    kept = [pair for pair in kept if pair]
    return path + ("?" + "&".join(kept) if kept else "")


class ApiKeyAuthenticator:
    """API keys from the store, by hash."""

    scheme = "api_key"

    def authenticate(
        self, ctx: MessageContext, request: AuthRequest
    ) -> AuthResult | None:
        api = request.api
        key = ctx.headers.get(api.api_key_header)
        if isinstance(key, str):
            ctx.headers.remove(api.api_key_header, excess=True)
            where = f"header {api.api_key_header}"
        else:
            postfix = ctx.axis2.get("REST_URL_POSTFIX")
            values = query_values(postfix) if isinstance(postfix, str) else []
            if not values or not values[0].strip():
                ctx.record(
                    "auth", f"no {api.api_key_header} header or apikey query parameter"
                )
                return None
            key = values[0]
            ctx.axis2["REST_URL_POSTFIX"] = remove_query_parameter(postfix)
            where = "query parameter apikey"
        key = key.strip()

        record, shown = lookup_by_hash(
            ctx, key, lambda digest: request.store.lookup_api_key(digest, api.name, api.version)
        )
        if record is None or record.revoked or record.is_expired(request.now):
            reason = (
                "unknown"
                if record is None
                else "revoked"
                if record.revoked
                else "expired"
            )
            ctx.record(
                "auth", f"{reason} API key {shown} in {where}: {INVALID_CREDENTIALS}"
            )
            raise AuthFailure(INVALID_CREDENTIALS, "Invalid Credentials")

        def fail(code: str) -> AuthFailure:
            ctx.record(
                "auth", f"API key {shown}: subscription validation failed: {code}"
            )
            return AuthFailure(code, SUBSCRIPTION_FAILED)

        check_subscription(record, record.key_type, fail)
        ctx.record(
            "auth",
            f"API key {shown} ({where}) of application {record.application_name} "
            f"({record.key_type}, tier {record.subscription_tier}) accepted",
        )
        return AuthResult(
            record,
            shown,
            kind="api_key",
            end_user=record.application_owner,
            throttle_id=str(record.application_id),
        )
