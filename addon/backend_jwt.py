"""The backend JWT (`X-JWT-Assertion`) that WSO2 adds during authentication.

As carbon-apimgt's `AbstractAPIMgtGatewayJWTGenerator` and `APIMgtGatewayJWTGeneratorImpl`
build it:

- header `{"typ":"JWT","alg":"RS256","x5t":...,"kid":...}`, where `x5t` is the
  URL-safe base64 (with padding) of the hex SHA-1 thumbprint of the signing certificate
  and `kid` is `x5t` followed by `_RS256`;
- claims `iss` = `wso2.org/products/am`, `exp`, `iat`, `jti` and, under the claim dialect
  (`http://wso2.org/claims/`), subscriber, applicationid, applicationname,
  applicationtier, apiname, apicontext, version, tier, keytype, usertype
  (`Application_User`), enduser, enduserTenantId and applicationUUId; a JWT access
  token's own claims are copied too, except iss, sub, aud, exp, nbf, iat, jti,
  application, tierInfo and subscribedAPIs;
- each part encoded with the standard base64 alphabet without padding (`encoding:
  base64`, WSO2's default, so `+` and `/` can appear), or URL-safe (`base64url`);
- signed with SHA256withRSA (RS256) by the gateway's key.

The header is set at authentication time, so sequences can read or remove it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

from .auth import AuthResult
from .config import ApiConfig
from .errors import ConfigError
from .settings import BackendJwtSettings

ISSUER = "wso2.org/products/am"
EXCLUDED_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "application",
        "tierInfo",
        "subscribedAPIs",
    }
)


class BackendJwtSigner:
    """Signs backend JWTs with a key and certificate read once, at load."""

    def __init__(self, settings: BackendJwtSettings) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        self.settings = settings
        key_path, cert_path = settings.signing_key, settings.certificate
        for path, what in ((key_path, "signing key"), (cert_path, "certificate")):
            if path is None or not Path(path).is_file():
                raise ConfigError(
                    f"backend JWT {what} {path} does not exist; create it with "
                    "'python -m addon keys create' or turn gateway_backend_jwt off",
                    file=str(path),
                )
        assert key_path is not None and cert_path is not None
        try:
            self._key = serialization.load_pem_private_key(
                key_path.read_bytes(), password=None
            )
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except ValueError as e:
            raise ConfigError(
                f"cannot read the backend JWT key or certificate: {e}"
            ) from None
        der = certificate.public_bytes(serialization.Encoding.DER)
        thumbprint = hashlib.sha1(der).hexdigest()  # noqa: S324 - WSO2's x5t, not security
        x5t = base64.urlsafe_b64encode(thumbprint.encode("ascii")).decode("ascii")
        header = {"typ": "JWT", "alg": "RS256", "x5t": x5t, "kid": f"{x5t}_RS256"}
        self._header = self._encode(json.dumps(header, separators=(",", ":")).encode())

    def _encode(self, data: bytes) -> str:
        if self.settings.encoding == "base64url":
            encoded = base64.urlsafe_b64encode(data)
        else:
            encoded = base64.b64encode(data)
        return encoded.decode("ascii").rstrip("=")

    def claims(self, auth: AuthResult, api: ApiConfig, now: float) -> dict[str, Any]:
        record = auth.record
        dialect = self.settings.claim_dialect.rstrip("/") + "/"
        end_user = auth.end_user or record.application_owner
        if "@" not in end_user:
            end_user += "@carbon.super"
        issued = int(now)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "exp": issued + self.settings.ttl,
            "iat": issued,
            "jti": str(uuid.uuid4()),
            "sub": end_user,
            dialect + "subscriber": record.application_owner,
            dialect + "applicationid": str(record.application_id),
            dialect + "applicationname": record.application_name,
            dialect + "applicationtier": record.application_tier,
            dialect + "apiname": api.name,
            dialect + "apicontext": api.full_context,
            dialect + "version": api.version,
            dialect + "tier": record.subscription_tier or "Unlimited",
            dialect + "keytype": record.key_type or "PRODUCTION",
            dialect + "usertype": "Application_User",
            dialect + "enduser": end_user,
            dialect + "enduserTenantId": "-1234",
            dialect + "applicationUUId": record.application_uuid,
        }
        for name, value in auth.claims.items():
            if name not in EXCLUDED_CLAIMS and name not in claims:
                claims[name] = value
        return claims

    def sign(self, auth: AuthResult, api: ApiConfig, now: float | None = None) -> str:
        """Return the backend JWT for the caller `auth` of `api`."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        claims = self.claims(auth, api, time.time() if now is None else now)
        body = self._encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
        assertion = f"{self._header}.{body}"
        signature = self._key.sign(
            assertion.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{assertion}.{self._encode(signature)}"
