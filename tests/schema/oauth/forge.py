"""Tokens built by hand, byte by byte, with cryptography: what an attacker can send.

Nothing here goes through the code under test, so a forged token is exactly what the
test says it is (joserfc itself refuses to make some of them, e.g. ``alg: none``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_input(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(orjson.dumps(header))}.{b64(orjson.dumps(claims))}"


def rs256(header: dict[str, Any], claims: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    message = signing_input(header, claims)
    signature = key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{message}.{b64(signature)}"


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    message = signing_input(header, claims)
    return f"{message}.{b64(hmac.new(secret, message.encode(), hashlib.sha256).digest())}"


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{signing_input(header, claims)}."


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header, claims and the signature segment of a compact JWS."""
    header, claims, signature = token.split(".")
    return orjson.loads(unb64(header)), orjson.loads(unb64(claims)), signature


def with_claims(token: str, **changes: Any) -> str:
    """The same header and signature over edited claims (the signature no longer fits)."""
    header, claims, signature = parts(token)
    return f"{signing_input(header, {**claims, **changes})}.{signature}"


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
