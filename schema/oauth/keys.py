"""The signing key ring of a tenant, in the tenant's own schema.

Keys are RSA-2048 for RS256 (verifying costs about 50 us here, cheaper than EdDSA on
this CPU). Each key is in one state:

- ``next``: published in the JWKS, not signing yet; it exists so that every resource
  server has it cached before the first token it signs arrives (``PUBLISH_LEAD``).
- ``current``: signs every new token; exactly one (a partial unique index).
- ``retired``: published until its last token has expired (``remove_after``), then
  deleted.

Private keys are sealed with AES-256-GCM under a key derived from the platform secret,
bound to the tenant and the key id: a key copied into another tenant (a schema restored
under a new name) does not open there, and that tenant gets a fresh key instead.

Every process keeps each tenant's keys for ``KEY_CACHE_TTL``, so a verification is a
dictionary lookup plus the signature check; an unknown ``kid`` reloads them, at most once
per ``MISS_RELOAD_INTERVAL`` per tenant, so a stream of forged kids cannot turn into a
stream of queries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from joserfc.jwk import RSAKey
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from schema.audit.service import record
from schema.core.secrets import NotOpenable
from schema.oauth.config import KEY_CACHE_TTL, PUBLISH_LEAD, oauth_config
from schema.oauth.models import KeyState, SigningKey
from tenants.backends import TENANT_ALIAS
from tenants.records import TenantRecord
from tenants.scope import current_tenant

log = logging.getLogger("saas.oauth.keys")

ALGORITHM = "RS256"
RSA_BITS = 2048
SEAL_PURPOSE = "oauth-signing-key"
MISS_RELOAD_INTERVAL = 5.0  # seconds


@dataclass(frozen=True, slots=True)
class Signer:
    kid: str
    key: RSAKey


@dataclass(slots=True)
class _Ring:
    """One tenant's published keys as this process last read them."""

    verifiers: dict[str, RSAPublicKey]
    jwks: list[dict[str, Any]]
    current: SigningKey | None
    loaded_at: float
    signer: Signer | None = None  # the current key, opened on first use
    miss_checked_at: float = field(default=0.0)


_rings: dict[str, _Ring] = {}  # tenant id -> its keys


def forget(tenant_id: str) -> None:
    """Drop this process's copy of a tenant's keys (after changing them here)."""
    _rings.pop(tenant_id, None)


def _now() -> datetime:
    return datetime.now(UTC)


def _associated(tenant_id: str, kid: str) -> str:
    return f"oauth-signing-key:{tenant_id}:{kid}"


def _published() -> Q:
    return Q(remove_after__isnull=True) | Q(remove_after__gt=_now())


async def _load(tenant_id: str) -> _Ring:
    rows = await SigningKey.filter(_published()).order_by("created_at", "id")
    ring = _Ring(
        verifiers={row.kid: _public_key(row.public_jwk) for row in rows},
        jwks=[row.public_jwk for row in rows],
        current=next((row for row in rows if row.state == KeyState.CURRENT), None),
        loaded_at=time.monotonic(),
    )
    _rings[tenant_id] = ring
    return ring


async def _ring(tenant_id: str) -> _Ring:
    ring = _rings.get(tenant_id)
    if ring is None or time.monotonic() - ring.loaded_at > KEY_CACHE_TTL.total_seconds():
        ring = await _load(tenant_id)
    return ring


def _public_key(jwk: dict[str, Any]) -> RSAPublicKey:
    key = RSAKey.import_key(jwk).public_key
    assert isinstance(key, RSAPublicKey)
    return key


async def verification_key(kid: str) -> RSAPublicKey | None:
    """The current tenant's published key ``kid``, or None."""
    tenant_id = current_tenant().id
    ring = await _ring(tenant_id)
    key = ring.verifiers.get(kid)
    if key is None:
        now = time.monotonic()
        if now - max(ring.loaded_at, ring.miss_checked_at) >= MISS_RELOAD_INTERVAL:
            ring.miss_checked_at = now  # before awaiting: concurrent misses skip the reload
            key = (await _load(tenant_id)).verifiers.get(kid)
    return key


async def published_jwks() -> dict[str, list[dict[str, Any]]]:
    """The current tenant's JWK Set: next, current and retired keys still in use."""
    return {"keys": list((await _ring(current_tenant().id)).jwks)}


async def current_signer() -> Signer:
    """The key that signs the current tenant's tokens now. A tenant without a usable
    current key (created before OAuth existed, or restored as another tenant) gets one."""
    tenant = current_tenant()
    ring = await _ring(tenant.id)
    if ring.signer is None:
        ring.signer = _usable_signer(tenant.id, ring)
    if ring.signer is None:
        await install_current_key(tenant)
        ring = await _load(tenant.id)
        ring.signer = _usable_signer(tenant.id, ring)
    if ring.signer is None:
        raise RuntimeError(f"tenant {tenant.slug!r} has no usable signing key")
    return ring.signer


def _usable_signer(tenant_id: str, ring: _Ring) -> Signer | None:
    if ring.current is None:
        return None
    try:
        return _open(tenant_id, ring.current)
    except NotOpenable:
        log.warning("tenant %s: signing key %s does not open here", tenant_id, ring.current.kid)
        return None


def _open(tenant_id: str, row: SigningKey) -> Signer:
    pem = oauth_config().secrets.open(
        row.private_key, purpose=SEAL_PURPOSE, associated=_associated(tenant_id, row.kid)
    )
    return Signer(row.kid, RSAKey.import_key(pem))


async def _generate(tenant_id: str, state: KeyState, now: datetime) -> SigningKey:
    """A new key, not saved yet. RSA generation takes tens of milliseconds: off the loop."""
    key = await asyncio.to_thread(RSAKey.generate_key, RSA_BITS, None, True)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": ALGORITHM}
    sealed = oauth_config().secrets.seal(
        key.as_pem(private=True), purpose=SEAL_PURPOSE, associated=_associated(tenant_id, kid)
    )
    return SigningKey(
        kid=kid,
        state=state,
        algorithm=ALGORITHM,
        public_jwk=public,
        private_key=sealed,
        created_at=now,
        activated_at=now if state == KeyState.CURRENT else None,
    )


async def provision_signing_key(tenant: TenantRecord) -> None:
    """Provisioning hook: the first key is part of the tenant's creation (recorded in the
    registry's tenant events), not an event of the tenant's audit trail."""
    await install_current_key(tenant, audited=False)


async def install_current_key(tenant: TenantRecord, *, audited: bool = True) -> None:
    """Make a current key unless a usable one exists (the provisioning hook, and the
    repair of a tenant without one). A current key that does not open in this tenant
    is retired and unpublished at once: it signed nothing here."""
    now = _now()
    fresh = await _generate(tenant.id, KeyState.CURRENT, now)
    try:
        async with in_transaction(TENANT_ALIAS):
            current = await SigningKey.filter(state=KeyState.CURRENT).select_for_update().first()
            if current is not None:
                try:
                    _open(tenant.id, current)
                    return  # another process installed one meanwhile
                except NotOpenable:
                    await SigningKey.filter(id=current.id, state=KeyState.CURRENT).update(
                        state=KeyState.RETIRED, retired_at=now, remove_after=now
                    )
            await fresh.save()
            if audited:
                await record(
                    "signingKeyInstall",
                    targets=[f"SigningKey:{fresh.kid}"],
                    summary={"kid": fresh.kid},
                )
    except IntegrityError:
        pass  # another process's current key won the unique index: use that one
    finally:
        forget(tenant.id)


@dataclass(frozen=True, slots=True)
class Rotation:
    """What one rotation did."""

    published: str | None = None  # a new next key
    promoted: str | None = None  # the next key that became current
    retired: str | None = None  # the current key it replaced
    removed: tuple[str, ...] = ()  # retired keys whose tokens have all expired


async def rotate_keys(*, force: bool = False) -> Rotation:
    """Keep the current tenant's ring turning. Removes retired keys past their time;
    publishes a next key when there is none; promotes the next key once the current one
    has served ``key_rotation_interval`` and the next one has been published for
    ``PUBLISH_LEAD``. ``force`` promotes now (a leaked key): a next key made on the
    spot may then reach resource servers only when they reload on its unknown kid.
    Idempotent, and safe to run in several processes at once."""
    tenant = current_tenant()
    now = _now()
    removed = await _remove_expired(now)
    published = None
    rows = await SigningKey.filter(state__in=[KeyState.CURRENT, KeyState.NEXT]).order_by("id")
    current = next((r for r in rows if r.state == KeyState.CURRENT), None)
    upcoming = next((r for r in rows if r.state == KeyState.NEXT), None)
    if current is None:
        await install_current_key(tenant)
        return Rotation(removed=removed)
    if upcoming is None:
        upcoming = await _publish_next(tenant.id, now)
        published = upcoming.kid
    due = current.activated_at is None or (
        current.activated_at + oauth_config().key_rotation_interval <= now
    )
    ready = upcoming.created_at + PUBLISH_LEAD <= now
    if not (force or (due and ready)):
        forget(tenant.id)
        return Rotation(published=published, removed=removed)
    if not await _promote(current, upcoming, now):
        forget(tenant.id)
        return Rotation(published=published, removed=removed)  # another process did it
    published = (await _publish_next(tenant.id, now)).kid
    forget(tenant.id)
    return Rotation(
        published=published, promoted=upcoming.kid, retired=current.kid, removed=removed
    )


async def _publish_next(tenant_id: str, now: datetime) -> SigningKey:
    row = await _generate(tenant_id, KeyState.NEXT, now)
    async with in_transaction(TENANT_ALIAS):
        await row.save()
        await record("signingKeyPublish", targets=[f"SigningKey:{row.kid}"], summary={})
    return row


async def _promote(current: SigningKey, upcoming: SigningKey, now: datetime) -> bool:
    """Retire ``current`` and promote ``upcoming`` in one transaction, each only from
    the state we read (compare-and-swap): a concurrent rotation makes this a no-op."""
    remove_after = now + oauth_config().retired_key_lifetime
    try:
        async with in_transaction(TENANT_ALIAS):
            retired = await SigningKey.filter(id=current.id, state=KeyState.CURRENT).update(
                state=KeyState.RETIRED, retired_at=now, remove_after=remove_after
            )
            promoted = await SigningKey.filter(id=upcoming.id, state=KeyState.NEXT).update(
                state=KeyState.CURRENT, activated_at=now
            )
            if retired != 1 or promoted != 1:
                raise _Raced()
            await record(
                "signingKeyRotate",
                targets=[f"SigningKey:{upcoming.kid}", f"SigningKey:{current.kid}"],
                summary={"current": upcoming.kid, "retired": current.kid},
            )
    except (_Raced, IntegrityError):
        return False
    return True


class _Raced(Exception):
    """Rolls the promotion back: another process changed the ring first."""


async def _remove_expired(now: datetime) -> tuple[str, ...]:
    gone = await SigningKey.filter(state=KeyState.RETIRED, remove_after__lte=now).values_list(
        "kid", flat=True
    )
    if gone:
        await SigningKey.filter(kid__in=list(gone)).delete()
    return tuple(str(kid) for kid in gone)
