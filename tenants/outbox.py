"""The outbox: the only way to ask for background work.

A service calls ``enqueue()`` inside its own transaction; the row commits (or rolls
back) with the change that needs the job. After the outermost tenant scope exits, the
tenant is hinted to the relay (``workers/relay.py``), which claims committed rows and
sends them to Dramatiq. Nothing is sent before its data is committed, and nothing
committed is lost when a process dies: unsent and stale rows are found again.

Platform jobs that belong to no tenant (the registry's backup, scheduler fan-outs) use
the same row shape in the shared store (``tenants.models.PlatformJob``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

# Only the module: Tortoise collects every model class a models module exposes, and the
# registry's models must not join the tenant app.
from tenants import models as registry
from tenants.backends import SHARED_ALIAS, TENANT_ALIAS
from tenants.models import JobStatus, OutboxRow
from tenants.records import TenantRecord
from tenants.scope import after_scope_exit

QUEUES = ("critical", "default", "webhooks", "maintenance")
log = logging.getLogger("saas.outbox")
_Row = TypeVar("_Row", bound=OutboxRow)

__all__ = [
    "QUEUES",
    "JobOutbox",
    "JobStatus",
    "enqueue",
    "enqueue_platform",
    "set_outbox_listener",
    "signal_pending",
]


class JobOutbox(OutboxRow):
    class Meta:
        app = "tenant"
        table = "job_outbox"


# The relay installs this to learn about fresh rows at once (same process); other
# processes find them through the registry's hint table and the periodic sweep.
_listener: Callable[[TenantRecord], Any] | None = None


def set_outbox_listener(listener: Callable[[TenantRecord], Any] | None) -> None:
    global _listener
    _listener = listener


async def _signal(tenant: TenantRecord) -> None:
    # Runs after the caller's data committed: a failure here must not turn the caller's
    # success into an error. The relay's sweep finds the rows without the hint.
    try:
        hint = registry.OutboxHint
        await hint.bulk_create(
            [hint(tenant_id=tenant.id, hinted_at=datetime.now(UTC))],
            on_conflict=["tenant_id"],
            update_fields=["hinted_at"],
        )
    except Exception:
        log.warning("outbox hint for %s not written; the sweep will find it", tenant.slug,
                    exc_info=True)  # fmt: skip
    if _listener is not None:
        _listener(tenant)


def _check(actor: str, queue: str, args: dict[str, Any]) -> str:
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}: one of {', '.join(QUEUES)}")
    if not actor or len(actor) > 100:
        raise ValueError("actor name must be 1-100 characters")
    return orjson.dumps(args).decode()


async def _insert(
    model: type[_Row], alias: str, dedupe_key: str | None, **fields: Any
) -> _Row | None:
    """One outbox row, or None when a row with ``dedupe_key`` exists already."""
    if dedupe_key is not None and await model.exists(dedupe_key=dedupe_key):
        return None
    try:
        # A savepoint: a duplicate key must not abort the caller's transaction.
        async with in_transaction(alias):
            return await model.create(dedupe_key=dedupe_key, **fields)
    except IntegrityError:
        if dedupe_key is None:
            raise
        return None  # a concurrent caller created it first


async def enqueue(
    actor: str,
    args: dict[str, Any] | None = None,
    *,
    queue: str = "default",
    dedupe_key: str | None = None,
    delay: timedelta = timedelta(0),
) -> JobOutbox | None:
    """Write a job row in the current tenant's store, in the caller's transaction.

    With ``dedupe_key``, a second job with the same key is not created (returns None):
    how periodic work runs once per period however many schedulers ask for it.
    """
    payload = _check(actor, queue, args or {})
    row = await _insert(
        JobOutbox,
        TENANT_ALIAS,
        dedupe_key,
        actor=actor,
        queue=queue,
        args=payload,
        not_before=datetime.now(UTC) + delay,
    )
    if row is not None:
        signal_pending()
    return row


def signal_pending() -> None:
    """Tell the relays about this tenant's new rows once the scope's transactions end."""
    after_scope_exit(_signal)


async def enqueue_platform(
    actor: str,
    args: dict[str, Any] | None = None,
    *,
    queue: str = "maintenance",
    dedupe_key: str | None = None,
) -> registry.PlatformJob | None:
    """A job of no tenant, in the shared store. With ``dedupe_key`` it is created at most
    once, whoever asks (the scheduler's exactly-once per period)."""
    payload = _check(actor, queue, args or {})
    return await _insert(
        registry.PlatformJob,
        SHARED_ALIAS,
        dedupe_key,
        actor=actor,
        queue=queue,
        args=payload,
        not_before=datetime.now(UTC),
    )
