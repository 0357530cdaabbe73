"""Authenticate the caller as WSO2's APIAuthenticationHandler does, one credential kind at a time.

The API's `security` list picks the authenticators, tried in WSO2's priority order:
OAuth (the `Authorization` header, or the API's own `auth_header`: opaque tokens and
self-contained JWT access tokens), then basic authentication of users, then API keys.
The first that accepts the caller wins. When no authenticator found a credential the
code is 900902. Otherwise the first real failure decides the code. A resource with auth type None skips them all: the
caller is anonymous, its tier is Unauthenticated and its headers pass untouched.

Outcomes and codes (WSO2 4.x): no credential 900902, an unknown, expired or revoked
credential 900901 (both 401), a valid credential of an application not subscribed to the
API 900908 (403), a BLOCKED subscription (or PROD_ONLY_BLOCKED with a production key)
900907 and an ON_HOLD or REJECTED one 900909 (both 401), a token without any of the
resource's scopes 900910 (403), a store failure 900900 (500).

Each credential kind lives in its own module (`credentials_oauth`, `credentials_jwt`,
`credentials_basic`, `credentials_apikey`); this module holds what they share.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .config import ApiConfig
from .context import MessageContext
from .credentials import fingerprint_of_hash, token_hash
from .errors import GatewayError
from .resources import Resource
from .settings import KeyManager
from .store import StoreUnavailable, TokenRecord, TokenStore

AUTH_HEADER = "Authorization"

UNCLASSIFIED_FAILURE = "900900"
INVALID_CREDENTIALS = "900901"
MISSING_CREDENTIALS = "900902"
INCORRECT_TOKEN_TYPE = "900905"
API_BLOCKED = "900907"
RESOURCE_FORBIDDEN = "900908"
SUBSCRIPTION_INACTIVE = "900909"
INVALID_SCOPE = "900910"

MESSAGES = {
    UNCLASSIFIED_FAILURE: "Unclassified Authentication Failure",
    INVALID_CREDENTIALS: "Invalid Credentials",
    MISSING_CREDENTIALS: "Missing Credentials",
    INCORRECT_TOKEN_TYPE: "Incorrect Access Token Type is provided",
    API_BLOCKED: "The requested API is temporarily blocked",
    RESOURCE_FORBIDDEN: "Resource forbidden ",
    SUBSCRIPTION_INACTIVE: "The subscription to the API is inactive",
    INVALID_SCOPE: "The access token does not allow you to access the requested resource",
}

# WSO2's GatewayUtils sends 403 for these codes, 500 for 900900 and 401 for every
# other auth failure.
FORBIDDEN_CODES = frozenset({"900906", RESOURCE_FORBIDDEN, INVALID_SCOPE, "900914"})

# APISecurityConstants adds a fixed sentence to the description of a few codes.
DESCRIPTION_SUFFIX = {
    INVALID_CREDENTIALS: "Make sure you have provided the correct security credentials",
    "900906": "Check the API documentation and add a proper REST resource path to the "
    "invocation URL",
}

REALM = 'realm="WSO2 API Manager"'
CHALLENGES = {
    "oauth2": f"Bearer {REALM}",
    "basic_auth": f"Basic {REALM}",
    "api_key": f"API Key {REALM}",
}
# WSO2's authenticator priorities: OAuth 10, basic auth 20, API key 30.
SCHEME_ORDER = ("oauth2", "basic_auth", "api_key")

logger = logging.getLogger(__name__)

# Messages of store failures already logged, so that a broken store logs each once.
_reported_store_errors: set[str] = set()


def status_of(code: str) -> int:
    if code == UNCLASSIFIED_FAILURE:
        return 500
    return 403 if code in FORBIDDEN_CODES else 401


class AuthFailure(GatewayError):
    """An authentication failure: WSO2's code, texts, status and `WWW-Authenticate` realms."""

    def __init__(self, code: str, detail: str, *, message: str | None = None) -> None:
        message = (
            MESSAGES.get(code, MESSAGES[UNCLASSIFIED_FAILURE])
            if message is None
            else message
        )
        suffix = DESCRIPTION_SUFFIX.get(code)
        description = f"{detail}. {suffix}" if suffix else detail
        super().__init__(code, message, description, status_of(code))
        self.challenges: tuple[str, ...] = ()

    def describe_to(self, ctx: MessageContext) -> None:
        """Set the properties WSO2's GatewayUtils.handleAuthFailure sets."""
        ctx.properties["ERROR_CODE"] = self.code
        ctx.properties["ERROR_MESSAGE"] = self.message
        ctx.properties["ERROR_DETAIL"] = self.description
        ctx.properties["HTTP_RESPONSE_STATUS_CODE"] = self.status


def access_failure(api: ApiConfig, code: str) -> AuthFailure:
    """Build the opaque-token failure of OAuthAuthenticator, whose text names the API."""
    message = MESSAGES[code]
    detail = (
        f"Access failure for API: {api.full_context}, version: {api.version} "
        f"status: ({code}) - {message}"
    )
    return AuthFailure(code, detail)


def missing_credentials(
    api: ApiConfig | None = None, profile: str = "4.x"
) -> AuthFailure:
    auth_header = api.auth_header if api else AUTH_HEADER
    if profile == "3.x":
        api_key_part = "'apikey: API_KEY'"
    else:
        api_key_part = f"'{api.api_key_header if api else 'ApiKey'} : API_KEY'"
    detail = (
        "Invalid Credentials. Make sure your API invocation call has a header: "
        f"'{auth_header} : Bearer ACCESS_TOKEN' or '{auth_header} : Basic ACCESS_TOKEN' "
        f"or {api_key_part}"
    )
    failure = AuthFailure(MISSING_CREDENTIALS, detail)
    return failure


def invalid_credentials(api: ApiConfig) -> AuthFailure:
    return access_failure(api, INVALID_CREDENTIALS)


def resource_forbidden(api: ApiConfig) -> AuthFailure:
    return access_failure(api, RESOURCE_FORBIDDEN)


def store_failure() -> AuthFailure:
    return AuthFailure(
        UNCLASSIFIED_FAILURE,
        "The gateway could not read the application store; see the gateway log",
    )


@dataclass(slots=True)
class BearerToken:
    """The token found in an Authorization value and what remains of the value."""

    # Not frozen: a frozen dataclass sets each field through object.__setattr__, which
    # makes building one per request cost several times as much.
    token: str | None
    remaining: str


def extract_bearer(value: str) -> BearerToken:
    """Find the bearer token in an Authorization header value, WSO2's way.

    The value is split on commas; each part is split on spaces; in a part of two or more
    words, the word after `Bearer` (any case) is the token, surrounding quotes removed.
    The parts that carried a token are taken out; the others are joined back with commas,
    so `Bearer <app token>,Basic <x>` reaches the backend as `Basic <x>`.
    """
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


def leave_other_parts(ctx: MessageContext, header_name: str, remaining: str) -> None:
    """Take the credential's part out of a header, keeping its other parts, as WSO2 does."""
    if remaining.strip():
        ctx.headers.set(header_name, remaining)
        ctx.headers.remove_excess(header_name)
    else:
        ctx.headers.remove(header_name, excess=True)


def _strip_quotes(word: str) -> str:
    if word.startswith('"') or word.endswith('"'):
        word = word.replace('"', "")
    return word.strip()


@dataclass(slots=True)
class AuthResult:
    """The caller: the application behind the credential and its subscription."""

    # Not frozen, for the reason given on BearerToken.
    record: TokenRecord
    fingerprint: str
    kind: str = "oauth"
    scopes: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict)
    consumer_key: str = ""
    end_user: str = ""
    throttle_id: str = ""

    @property
    def anonymous(self) -> bool:
        return self.kind == "none"


@dataclass(slots=True)
class AuthRequest:
    """The inputs of an authenticator besides the message context."""

    # Not frozen, for the reason given on BearerToken.
    api: ApiConfig
    resource: Resource
    store: TokenStore
    now: float
    key_managers: tuple[KeyManager, ...] = ()
    keep_auth_header: bool = False
    profile: str = "4.x"


class Authenticator(Protocol):
    """One credential kind: returns a result, None when its credential is absent, or raises."""

    scheme: str

    def authenticate(
        self, ctx: MessageContext, request: AuthRequest
    ) -> AuthResult | None: ...


def lookup_by_hash(
    ctx: MessageContext, secret: str, lookup: Any
) -> tuple[TokenRecord | None, str]:
    """Look a credential up by its SHA-256; return the record and the credential's fingerprint.

    A store failure is 900900: the gateway fails closed.
    """
    digest = token_hash(secret)
    shown = fingerprint_of_hash(digest)
    ctx.properties["gateway.token_fingerprint"] = shown
    try:
        return lookup(digest), shown
    except sqlite3.Error as e:
        ctx.record("auth", f"store lookup failed: {e}")
        # The store logs a missing or replaced file itself (StoreUnavailable).
        if not isinstance(e, StoreUnavailable) and str(e) not in _reported_store_errors:
            # Each distinct failure is logged once; the 500 responses point here.
            _reported_store_errors.add(str(e))
            logger.error("gateway: the application store failed a lookup: %s", e)
        raise store_failure() from e


def check_subscription(record: TokenRecord, key_type: str, fail: Any) -> None:
    """Raise `fail(code)` unless the subscription lets `key_type` through."""
    state = record.subscription_state
    if state is None:
        raise fail(RESOURCE_FORBIDDEN)
    if state == "BLOCKED" or (
        state == "PROD_ONLY_BLOCKED" and key_type == "PRODUCTION"
    ):
        raise fail(API_BLOCKED)
    if state in ("ON_HOLD", "REJECTED"):
        raise fail(SUBSCRIPTION_INACTIVE)


def has_required_token_type(resource: Resource, user_token: bool) -> bool:
    """Return whether the token's type suits the resource's auth type (hasTokenRequiredAuthLevel).

    A resource of auth type Application takes application tokens only, one of auth type
    Application User takes user tokens only, and the others take both.
    """
    if resource.auth_type == "Application":
        return not user_token
    if resource.auth_type == "Application User":
        return user_token
    return True


def has_scope(resource: Resource, scopes: tuple[str, ...]) -> bool:
    """Return True unless the resource has scopes and the token has none of them."""
    return not resource.scopes or any(scope in scopes for scope in resource.scopes)


def client_address(ctx: MessageContext) -> str:
    """Return the client's address as WSO2's GatewayUtils.getClientIp picks it.

    That is the first `X-Forwarded-For` entry, else the connection's address.
    """
    forwarded = ctx.headers.get("X-Forwarded-For")
    client = ""
    if isinstance(forwarded, str) and forwarded.strip():
        client = forwarded.split(",")[0].strip()
    return client or str(ctx.properties.get("REMOTE_ADDR", ""))


def anonymous(ctx: MessageContext) -> AuthResult:
    """Build the caller of a resource with auth type None, as handleNoAuthentication does.

    The throttling key is the client address (see client_address).
    """
    record = unsubscribed_caller("anonymous", "anonymous")
    return AuthResult(
        record, "-", kind="none", end_user="anonymous", throttle_id=client_address(ctx)
    )


def unsubscribed_caller(application_name: str, owner: str) -> TokenRecord:
    """Build the record of a caller without a subscription: tier Unauthenticated, PRODUCTION."""
    return TokenRecord(
        application_id=0,
        application_name=application_name,
        application_tier="Unlimited",
        application_owner=owner,
        key_type="PRODUCTION",
        scopes=(),
        issued_at=0,
        expires_at=0,
        revoked=False,
        subscription_tier="Unauthenticated",
        subscription_state="UNBLOCKED",
    )


# The authenticators for each `security` list, built once: they keep no state.
_authenticators: dict[tuple[str, ...], tuple[Authenticator, ...]] = {}


def authenticators_for(api: ApiConfig) -> tuple[Authenticator, ...]:
    found = _authenticators.get(api.security)
    if found is not None:
        return found
    from .credentials_apikey import ApiKeyAuthenticator
    from .credentials_basic import BasicAuthenticator
    from .credentials_oauth import OAuthAuthenticator

    kinds = {
        "oauth2": OAuthAuthenticator,
        "basic_auth": BasicAuthenticator,
        "api_key": ApiKeyAuthenticator,
    }
    built = tuple(kinds[scheme]() for scheme in SCHEME_ORDER if scheme in api.security)
    _authenticators[api.security] = built
    return built


def challenges_for(api: ApiConfig) -> tuple[str, ...]:
    """Return the realms of the API's authenticators, the internal-key one first as in WSO2."""
    return (f"Internal API Key {REALM}",) + tuple(
        CHALLENGES[scheme] for scheme in SCHEME_ORDER if scheme in api.security
    )


def authenticate(
    ctx: MessageContext,
    api: ApiConfig,
    store: TokenStore,
    now: float | None = None,
    *,
    resource: Resource | None = None,
    key_managers: tuple[KeyManager, ...] = (),
    keep_auth_header: bool = False,
    profile: str = "4.x",
) -> AuthResult:
    """Authenticate the caller of `api`, or raise AuthFailure with WSO2's code and texts."""
    resource = resource or api.resources[0]
    if not resource.needs_auth:
        result = anonymous(ctx)
        ctx.record(
            "auth",
            f"resource {resource.target} has auth type None: caller is anonymous",
        )
        return result

    request = AuthRequest(
        api,
        resource,
        store,
        time.time() if now is None else now,
        key_managers,
        keep_auth_header,
        profile,
    )
    failure: AuthFailure | None = None
    for authenticator in authenticators_for(api):
        try:
            result = authenticator.authenticate(ctx, request)
        except AuthFailure as e:
            failure = failure or e
            continue
        if result is not None:
            return result
    if failure is None:
        ctx.record("auth", f"no credential found: {MISSING_CREDENTIALS}")
        failure = missing_credentials(api, profile)
    failure.challenges = challenges_for(api)
    failure.describe_to(ctx)
    raise failure
