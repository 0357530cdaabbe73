"""Gateway-wide settings of gateway.yaml, named after WSO2's deployment.toml sections.

- `cors` is `[apim.cors]`;
- `key_managers` lists the token issuers whose self-contained JWT access tokens the
  gateway validates locally (WSO2's key managers with their certificates or JWKS);
- `backend_jwt` is `[apim.jwt]`, the `X-JWT-Assertion` the gateway adds when the
  `gateway_backend_jwt` option is on;
- `limits` and `correlation` are the gateway's own guards at the edge.

Paths in the file are relative to the file. Keys are read once, at load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .endpoint_oauth import OAuthSecurity, parse_oauth_security
from .errors import ConfigError
from .fields import FieldReader, line_of

DEFAULT_KEY_NAME = "wso2carbon"
DEFAULT_ISSUER = "https://localhost:9443/oauth2/token"

# [apim.cors] as WSO2 4.x ships it in deployment.toml.
DEFAULT_ALLOW_ORIGINS = ("*",)
DEFAULT_ALLOW_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS")
DEFAULT_ALLOW_HEADERS = (
    "authorization",
    "Access-Control-Allow-Origin",
    "Content-Type",
    "SOAPAction",
    "apikey",
    "Internal-Key",
)

CORS_FIELDS = (
    "enable",
    "allow_origins",
    "allow_methods",
    "allow_headers",
    "allow_credentials",
    "expose_headers",
)


@dataclass(frozen=True, slots=True)
class CorsSettings:
    """Allowed origins, methods and headers; per API they override the global ones."""

    enable: bool = True
    allow_origins: tuple[str, ...] = DEFAULT_ALLOW_ORIGINS
    allow_methods: tuple[str, ...] = DEFAULT_ALLOW_METHODS
    allow_headers: tuple[str, ...] = DEFAULT_ALLOW_HEADERS
    allow_credentials: bool = False
    expose_headers: tuple[str, ...] = ()


def parse_cors(file: str, raw: Any, owner: str, base: CorsSettings) -> CorsSettings:
    """Read a `cors` mapping; unset fields keep the values of `base`."""
    if raw is None:
        return base
    reader = FieldReader(file, raw, owner, CORS_FIELDS)
    methods = tuple(
        m.upper() for m in reader.string_list("allow_methods", base.allow_methods)
    )
    return CorsSettings(
        enable=reader.boolean("enable", base.enable),
        allow_origins=reader.string_list("allow_origins", base.allow_origins),
        allow_methods=methods,
        allow_headers=reader.string_list("allow_headers", base.allow_headers),
        allow_credentials=reader.boolean("allow_credentials", base.allow_credentials),
        expose_headers=reader.string_list("expose_headers", base.expose_headers),
    )


# Key managers ---------------------------------------------------------------------

KEY_MANAGER_FIELDS = (
    "name",
    "issuer",
    "certificate",
    "jwks",
    "algorithms",
    "consumer_key_claim",
    "scopes_claim",
    "clock_skew",
)
# Asymmetric algorithms only: a shared secret would let anyone holding the
# verification key mint tokens, and mixing HMAC with public keys invites key confusion.
SUPPORTED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
)


@dataclass(frozen=True, slots=True)
class KeyManager:
    """A token issuer: its `iss`, the keys that verify its tokens and how to read them."""

    name: str
    issuer: str
    algorithms: tuple[str, ...]
    keys: tuple[tuple[str | None, Any], ...]
    consumer_key_claim: str = "azp"
    scopes_claim: str = "scope"
    clock_skew: int = 0
    source: str = ""

    def keys_for(self, kid: str | None) -> list[Any]:
        """Return the verification keys to try: the one named by `kid`, or all of them."""
        if kid is not None:
            named = [key for key_id, key in self.keys if key_id == kid]
            if named:
                return named
        return [key for _, key in self.keys]


def _resolve(base: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base / path


def load_public_key(path: Path) -> Any:
    """Read a PEM certificate or public key and return the public key object."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    data = path.read_bytes()
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def load_jwks(path: Path) -> list[tuple[str | None, Any]]:
    """Read a JWKS file and return (kid, public key) pairs."""
    import jwt

    document = json.loads(path.read_text(encoding="utf-8"))
    keys = []
    for entry in document.get("keys", []):
        jwk = jwt.PyJWK(entry)
        keys.append((entry.get("kid"), jwk.key))
    if not keys:
        raise ValueError("contains no keys")
    return keys


def default_key_managers(base: Path) -> tuple[KeyManager, ...]:
    """The resident key manager, when `keys create` has made its certificate."""
    certificate = base / "keys" / f"{DEFAULT_KEY_NAME}.crt"
    if not certificate.is_file():
        return ()
    return (
        KeyManager(
            "Resident Key Manager",
            DEFAULT_ISSUER,
            ("RS256",),
            ((None, load_public_key(certificate)),),
            source=str(certificate),
        ),
    )


def parse_key_managers(file: str, base: Path, raw: Any) -> tuple[KeyManager, ...]:
    """Read `key_managers`; without the section, use the resident key manager if present."""
    if raw is None:
        return default_key_managers(base)
    if not isinstance(raw, list):
        raise ConfigError("'key_managers' must be a list", file=file, line=line_of(raw))
    managers: list[KeyManager] = []
    for index, entry in enumerate(raw, start=1):
        owner = f"key_managers[{index}]"
        reader = FieldReader(file, entry, owner, KEY_MANAGER_FIELDS)
        issuer = reader.string("issuer", required=True)
        name = reader.string("name", issuer)
        algorithms = reader.string_list("algorithms", ("RS256",))
        for algorithm in algorithms:
            if algorithm not in SUPPORTED_ALGORITHMS:
                raise reader.error(
                    "algorithms",
                    f"contains {algorithm!r}; accepted: {', '.join(SUPPORTED_ALGORITHMS)}",
                )
        keys: list[tuple[str | None, Any]] = []
        for kind in ("certificate", "jwks"):
            value = reader.string(kind)
            if value is None:
                continue
            path = _resolve(base, value)
            try:
                if kind == "certificate":
                    keys.append((None, load_public_key(path)))
                else:
                    keys.extend(load_jwks(path))
            except FileNotFoundError:
                raise reader.error(
                    kind,
                    f"names {value!r}, which does not exist; create a key pair with "
                    "'python -m addon keys create'",
                ) from None
            except Exception as e:  # noqa: BLE001 - any failure to parse the key file
                raise reader.error(
                    kind, f"names {value!r}, which cannot be read: {e}"
                ) from None
        if not keys:
            raise reader.error(
                "certificate", "or 'jwks' is needed to verify the issuer's tokens"
            )
        if any(m.issuer == issuer for m in managers):
            raise reader.error(
                "issuer", f"{issuer!r} is already used by another key manager"
            )
        managers.append(
            KeyManager(
                name,
                issuer,
                algorithms,
                tuple(keys),
                reader.string("consumer_key_claim", "azp"),
                reader.string("scopes_claim", "scope"),
                reader.integer("clock_skew", 0, minimum=0),
                source=f"{file}:{line_of(entry)}",
            )
        )
    return tuple(managers)


# Backend JWT ------------------------------------------------------------------------

BACKEND_JWT_FIELDS = (
    "header",
    "signing_key",
    "certificate",
    "encoding",
    "ttl",
    "claim_dialect",
)


@dataclass(frozen=True, slots=True)
class BackendJwtSettings:
    """`[apim.jwt]`: where the gateway's backend JWT goes and what signs it."""

    header: str = "X-JWT-Assertion"
    signing_key: Path | None = None
    certificate: Path | None = None
    encoding: str = "base64"
    ttl: int = 900
    claim_dialect: str = "http://wso2.org/claims"


def parse_backend_jwt(file: str, base: Path, raw: Any) -> BackendJwtSettings:
    default_key = base / "keys" / f"{DEFAULT_KEY_NAME}.key"
    default_cert = base / "keys" / f"{DEFAULT_KEY_NAME}.crt"
    if raw is None:
        return BackendJwtSettings(signing_key=default_key, certificate=default_cert)
    reader = FieldReader(file, raw, "backend_jwt", BACKEND_JWT_FIELDS)
    key = reader.string("signing_key")
    cert = reader.string("certificate")
    return BackendJwtSettings(
        header=reader.string("header", "X-JWT-Assertion"),
        signing_key=_resolve(base, key) if key else default_key,
        certificate=_resolve(base, cert) if cert else default_cert,
        encoding=reader.choice("encoding", ("base64", "base64url"), "base64"),
        ttl=reader.integer("ttl", 900, minimum=1),
        claim_dialect=reader.string("claim_dialect", "http://wso2.org/claims"),
    )


# Edge limits and correlation ----------------------------------------------------------

LIMIT_FIELDS = ("max_header_bytes", "max_header_count", "max_body_bytes")


@dataclass(frozen=True, slots=True)
class Limits:
    """Guards applied before anything reads the request."""

    max_header_bytes: int = 65536
    max_header_count: int = 100
    max_body_bytes: int = 10 * 1024 * 1024


def parse_limits(file: str, raw: Any) -> Limits:
    if raw is None:
        return Limits()
    reader = FieldReader(file, raw, "limits", LIMIT_FIELDS)
    default = Limits()
    return Limits(
        reader.integer("max_header_bytes", default.max_header_bytes, minimum=1024),
        reader.integer("max_header_count", default.max_header_count, minimum=8),
        reader.integer("max_body_bytes", default.max_body_bytes, minimum=0),
    )


CORRELATION_FIELDS = ("header", "accept_from_client")


@dataclass(frozen=True, slots=True)
class CorrelationSettings:
    """The correlation id header (Synapse's `activityid`) and whether a client may set it."""

    header: str = "activityid"
    accept_from_client: bool = True


def parse_correlation(file: str, raw: Any) -> CorrelationSettings:
    if raw is None:
        return CorrelationSettings()
    reader = FieldReader(file, raw, "correlation", CORRELATION_FIELDS)
    return CorrelationSettings(
        reader.string("header", "activityid"),
        reader.boolean("accept_from_client", True),
    )


# Endpoint security ----------------------------------------------------------------------

ENDPOINT_SECURITY_FIELDS = ("type", "username", "password", "password_env")


@dataclass(frozen=True, slots=True)
class EndpointSecurity:
    """Gateway-to-backend credentials of `basic` or `digest` endpoint security."""

    type: str
    username: str
    password: str = field(repr=False)


def parse_endpoint_security(
    file: str, owner: str, raw: Any
) -> EndpointSecurity | OAuthSecurity | None:
    if raw is None:
        return None
    if isinstance(raw, dict) and raw.get("type") == "oauth":
        return parse_oauth_security(file, owner, raw)
    reader = FieldReader(
        file, raw, f"{owner} endpoint_security", ENDPOINT_SECURITY_FIELDS
    )
    kind = reader.choice("type", ("basic", "digest", "oauth"), "basic")
    username = reader.string("username", required=True)
    password = reader.secret("password")
    if ":" in username:
        raise reader.error(
            "username", "must not contain ':' (Basic credentials split on it)"
        )
    return EndpointSecurity(kind, username, password)
