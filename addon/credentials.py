"""Token hashing, fingerprints and generation.

The store keeps the SHA-256 of each token, never the token. Logs, flow comments and the
command line show a fingerprint: the first 8 hex digits of that hash, which identifies a
token among a few without revealing it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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


# PBKDF2-SHA256 for basic-auth passwords is slow on purpose, because a stored hash must
# resist guessing. The gateway remembers each check in memory, so the cost falls on
# the first request with each user and password.
PASSWORD_SCHEME = "pbkdf2_sha256"
PASSWORD_ITERATIONS = 200_000


def hash_password(password: str, *, iterations: int = PASSWORD_ITERATIONS) -> str:
    """Return `scheme$iterations$salt$hash` for `password`, with a new random salt.

    Raises ValueError for a password with a NUL character.
    """
    if "\x00" in password:
        raise ValueError("a password must not contain NUL characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return "$".join(
        (
            PASSWORD_SCHEME,
            str(iterations),
            base64.b64encode(salt).decode("ascii"),
            base64.b64encode(digest).decode("ascii"),
        )
    )


def verify_password(password: str, stored: str) -> bool:
    """Return whether `password` matches a hash made by `hash_password`.

    A password with NUL never matches: HMAC pads its key with zero bytes, so PBKDF2
    would take `pw` and `pw\\0` for the same password.
    """
    if "\x00" in password:
        return False
    try:
        scheme, iterations, salt, expected = stored.split("$")
        if scheme != PASSWORD_SCHEME:
            return False
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations)
        )
        return hmac.compare_digest(digest, base64.b64decode(expected))
    except ValueError:
        return False
