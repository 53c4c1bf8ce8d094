"""Encryption of cached OAuth/session tokens (only ciphertext reaches the state file)."""

from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"mlconnector token cache"
_NONCE = 12


def _aead(secret: bytes | str, cache_key: str) -> AESGCM:
    if isinstance(secret, str):
        secret = secret.encode()
    if not secret:
        raise ValueError("the token cache needs a non-empty secret to derive its key from")
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=cache_key.encode(), info=_INFO
    ).derive(secret)
    return AESGCM(key)


def _aad(system: str, cache_key: str) -> bytes:
    # Binds a ciphertext to its row: a blob copied to another (system, cache_key) won't decrypt.
    return f"{system}\x00{cache_key}".encode()


def seal(system: str, cache_key: str, secret: bytes | str, token: dict) -> bytes:
    nonce = os.urandom(_NONCE)
    plain = json.dumps(token, separators=(",", ":")).encode()
    return nonce + _aead(secret, cache_key).encrypt(nonce, plain, _aad(system, cache_key))


def open_sealed(system: str, cache_key: str, secret: bytes | str, blob: bytes) -> dict | None:
    """The token, or None when the blob cannot be decrypted with this secret."""
    if len(blob) <= _NONCE:
        return None
    try:
        plain = _aead(secret, cache_key).decrypt(blob[:_NONCE], blob[_NONCE:], _aad(system, cache_key))
    except InvalidTag:
        return None
    try:
        value = json.loads(plain)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
