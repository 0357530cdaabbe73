"""Self-contained JWT access tokens for testing, shaped like those WSO2's key manager issues.

Claims: `sub` (the application owner), `aut` (`APPLICATION`), `aud` and `azp` and
`client_id` (the application's consumer key for the key type), `scope` (space-separated,
`default` when none is asked for), `iss`, `iat`, `nbf`, `exp` and a random `jti`. The
header carries `kid` and `x5t` from the signing certificate when there is one.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from pathlib import Path

import jwt

from .keypairs import load_private_key
from .store import Registry


def certificate_thumbprint(certificate: Path) -> str | None:
    """Return WSO2's `x5t` for a PEM certificate, or None when there is none."""
    if not certificate.is_file():
        return None
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha1(der).hexdigest()  # noqa: S324 - a thumbprint, not security
    return base64.urlsafe_b64encode(digest.encode("ascii")).decode("ascii")


def issue_jwt(
    registry: Registry,
    application: str,
    *,
    signing_key: Path,
    issuer: str,
    key_type: str = "PRODUCTION",
    scopes: tuple[str, ...] = (),
    validity: int = 3600,
    user: str | None = None,
    now: float | None = None,
) -> str:
    """Sign and return a JWT access token for `application`, of which the store keeps no copy.

    With `user` it is a user token of that end user (`aut` APPLICATION_USER), else an
    application token whose subject is the application owner.
    """
    consumer_key = registry.consumer_key(application, key_type)
    owner = registry.application_owner(application)
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": user or owner,
        "aut": "APPLICATION_USER" if user else "APPLICATION",
        "aud": consumer_key,
        "nbf": issued,
        "azp": consumer_key,
        "scope": " ".join(scopes) if scopes else "default",
        "iss": issuer,
        "exp": issued + validity,
        "iat": issued,
        "jti": str(uuid.uuid4()),
        "client_id": consumer_key,
    }
    headers = {"typ": "JWT"}
    x5t = certificate_thumbprint(signing_key.with_suffix(".crt"))
    if x5t is not None:
        headers.update({"x5t": x5t, "kid": x5t})
    return jwt.encode(
        claims, load_private_key(signing_key), algorithm="RS256", headers=headers
    )
