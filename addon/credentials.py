"""Token hashing, fingerprints and generation.

The store keeps the SHA-256 of each token, never the token. Logs, flow comments and the
command line show a fingerprint: the first 8 hex digits of that hash, which identifies a
token among a few without revealing it.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid


def token_hash(token: str) -> str:
    """Return the hex SHA-256 of `token`, the key the store uses for it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def fingerprint_of_hash(digest: str) -> str:
    """Return the short, printable fingerprint of a stored token hash."""
    return "sha256:" + digest[:8]


def fingerprint(token: str) -> str:
    """Return the short, printable fingerprint of `token`."""
    return fingerprint_of_hash(token_hash(token))


def new_opaque_token() -> str:
    """Return a new opaque access token in the UUID shape WSO2's key manager issues."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


_CONSUMER_KEY_ALPHABET = string.ascii_letters + string.digits + "_"


def new_consumer_key() -> str:
    """Return a new consumer key in the 28-character shape WSO2's key manager issues."""
    return "".join(secrets.choice(_CONSUMER_KEY_ALPHABET) for _ in range(28))


def new_api_key() -> str:
    """Return a new opaque API key: 32 random bytes, URL-safe base64 without dots.

    Without dots the gateway can never mistake it for a JWT.
    """
    return secrets.token_urlsafe(32)
