"""The platform secret (``SAAS_SECRET_KEY``) and what is derived from it: OAuth signing
keys are sealed with it, login cookies and file download links signed with keys from it.

Several secrets may be configured, newest first, so that the secret can rotate the way
the backup keys do: the first one seals, every configured one opens what it sealed
(each sealed value names its secret by a fingerprint). Keys for different purposes are
derived with HKDF, never used raw, so one purpose's key says nothing about another's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Fixed so that development data dirs and tests keep working across restarts; never
# accepted in production (SAAS_SECRET_KEY is required there).
DEVELOPMENT_SECRET = "development-only-secret-never-use-in-production"
SEAL_VERSION = "v1"
NONCE_BYTES = 12


class SealError(Exception):
    """A sealed value that cannot be opened."""


class UnknownSecret(SealError):
    """Sealed with a secret that is not configured: a configuration mistake (a secret
    dropped from SAAS_SECRET_KEY too early), not something to repair by replacing data."""


class NotOpenable(SealError):
    """Sealed with a configured secret, but altered or made for another owner (the
    associated data differs: a tenant's schema restored as another tenant)."""


def derive(secret: str, purpose: str, length: int = 32) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=b"saas-platform", info=purpose.encode()
    ).derive(secret.encode())


def fingerprint(secret: str) -> str:
    """Names a secret without revealing anything usable about it."""
    return hashlib.sha256(derive(secret, "fingerprint")).hexdigest()[:12]


@dataclass(frozen=True)
class SecretRing:
    secrets: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.secrets or not all(self.secrets):
            raise ValueError("at least one non-empty secret is needed")

    @cached_property
    def _by_fingerprint(self) -> dict[str, str]:
        return {fingerprint(secret): secret for secret in self.secrets}

    def key(self, purpose: str) -> bytes:
        """The current secret's key for ``purpose`` (signing cookies, ...)."""
        return derive(self.secrets[0], purpose)

    def keys(self, purpose: str) -> list[bytes]:
        """Every secret's key for ``purpose``, newest first (to check what older ones made)."""
        return [derive(secret, purpose) for secret in self.secrets]

    def seal(self, plaintext: bytes, *, purpose: str, associated: str) -> str:
        """AES-256-GCM under the current secret's key for ``purpose``; ``associated``
        binds the value to its owner (e.g. tenant and key id): moved elsewhere, it no
        longer opens."""
        secret = self.secrets[0]
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(derive(secret, purpose)).encrypt(nonce, plaintext, associated.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{SEAL_VERSION}.{fingerprint(secret)}.{body}"

    def open(self, value: str, *, purpose: str, associated: str) -> bytes:
        version, _, rest = value.partition(".")
        secret_id, _, body = rest.partition(".")
        if version != SEAL_VERSION:
            raise NotOpenable(f"unknown seal version {version[:8]!r}")
        secret = self._by_fingerprint.get(secret_id)
        if secret is None:
            raise UnknownSecret(
                f"sealed with secret {secret_id[:12]!r}, which is not configured in SAAS_SECRET_KEY"
            )
        try:
            raw = base64.urlsafe_b64decode(body)
            return AESGCM(derive(secret, purpose)).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated.encode()
            )
        except (InvalidTag, ValueError, binascii.Error):
            raise NotOpenable("the sealed value was altered or belongs elsewhere") from None
