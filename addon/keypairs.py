"""Key pairs for the local key manager and the backend JWT, made by `keys create`.

WSO2 signs its JWT access tokens and backend JWTs with the `wso2carbon` key of its
keystore. The command line makes the same kind of pair beside the config file:
`keys/<name>.key` (RSA 2048 private key, PKCS#8 PEM, readable by the owner only) and
`keys/<name>.crt` (a self-signed certificate for CN=localhost). The gateway verifies
tokens with the certificate and signs backend JWTs with the key.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path


def key_paths(folder: Path, name: str) -> tuple[Path, Path]:
    return folder / f"{name}.key", folder / f"{name}.crt"


def create_key_pair(
    folder: Path, name: str, *, force: bool = False
) -> tuple[Path, Path]:
    """Write a new private key and self-signed certificate; return their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key_path, cert_path = key_paths(folder, name)
    if not force and (key_path.exists() or cert_path.exists()):
        raise FileExistsError(
            f"{key_path} or {cert_path} already exists; use --force to replace"
        )
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "WSO2 gateway emulator"),
        ]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def load_private_key(path: Path):  # noqa: ANN201 - a cryptography private key
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(path.read_bytes(), password=None)
