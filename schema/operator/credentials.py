"""The platform operator's API keys: issued, rotated, disabled, and checked per request.

A key is ``sop_`` and 256 random bits (``secrets.token_urlsafe(32)``), shown once when it
is issued; the registry keeps only its SHA-256. A slow password hash (argon2) exists to
make guessing a *low-entropy* secret from its hash expensive; nobody can enumerate 2^256
keys whatever the hash costs, so one SHA-256 is as safe here and lets a request find its
operator with one indexed lookup by hash (no per-request argon2, nothing compared in
Python whose timing could leak how much of a key was right).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from schema.core.errors import DomainError, FieldError
from tenants.backends import SHARED_ALIAS
from tenants.models import Operator, OperatorStatus

KEY_PREFIX = "sop_"
SHOWN_PREFIX = len(KEY_PREFIX) + 8  # what listings show of a key: 48 of its random bits
MAX_KEY_LENGTH = 100  # longer bearer values are refused unhashed
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,99}$")
# last_used_at is written at most this often per operator: not a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """An operator and its new key: the only time the key exists outside its holder."""

    operator: Operator
    key: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _key_fields(key: str) -> dict[str, object]:
    return {
        "key_prefix": key[:SHOWN_PREFIX],
        "key_hash": hash_key(key),
        "key_created_at": datetime.now(UTC),
    }


def _refused(code: str, message: str) -> DomainError:
    return DomainError([FieldError(("name",), code, message)])


async def create_operator(name: str, *, created_by: str) -> IssuedKey:
    name = name.strip().lower()
    if not NAME_RE.fullmatch(name):
        raise _refused(
            "NAME_INVALID", "an operator name is 1-100 characters of a-z, 0-9 and . _ @ -"
        )
    key = _new_key()
    try:
        async with in_transaction(SHARED_ALIAS):
            operator = await Operator.create(name=name, created_by=created_by, **_key_fields(key))
    except IntegrityError:
        raise _refused("NAME_TAKEN", f"an operator named {name!r} exists") from None
    return IssuedKey(operator, key)


async def _get(name: str) -> Operator:
    operator = await Operator.get_or_none(name=name.strip().lower())
    if operator is None:
        raise _refused("NOT_FOUND", f"no operator named {name[:100]!r}")
    return operator


async def rotate_key(name: str) -> IssuedKey:
    """A new key for an active operator; the old one stops working at once."""
    operator = await _get(name)
    if operator.status != OperatorStatus.ACTIVE:
        raise _refused("DISABLED", f"operator {operator.name!r} is disabled")
    key = _new_key()
    for attribute, value in _key_fields(key).items():
        setattr(operator, attribute, value)
    await operator.save(update_fields=["key_prefix", "key_hash", "key_created_at"])
    return IssuedKey(operator, key)


async def disable_operator(name: str) -> Operator:
    """Its key stops working at once. Kept (not deleted): past actions name it."""
    operator = await _get(name)
    updated = await Operator.filter(id=operator.id, status=OperatorStatus.ACTIVE).update(
        status=OperatorStatus.DISABLED, disabled_at=datetime.now(UTC)
    )
    if updated != 1:
        raise _refused("DISABLED", f"operator {operator.name!r} is already disabled")
    return await _get(name)


async def list_operators() -> list[Operator]:
    return await Operator.all().order_by("name")


async def authenticate(key: str) -> Operator | None:
    """The active operator holding ``key``, or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_LENGTH:
        return None
    operator = await Operator.get_or_none(key_hash=hash_key(key), status=OperatorStatus.ACTIVE)
    if operator is None:
        return None
    now = datetime.now(UTC)
    if operator.last_used_at is None or now - operator.last_used_at >= LAST_USED_RESOLUTION:
        operator.last_used_at = now
        await Operator.filter(id=operator.id).update(last_used_at=now)
    return operator
