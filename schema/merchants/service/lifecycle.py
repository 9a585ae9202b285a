"""The one way a merchant's status changes, and the history it leaves.

``transition()`` checks the action against the state machine (``schema.merchants.status``),
applies it with a compare-and-swap on ``Merchant.version`` (two concurrent changes
cannot both apply: the second gets CONFLICT), writes the history event and the audit
record, all in the caller's transaction. ``note()`` records a decision that does not
change the status (a claim, a document replaced after approval).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from schema.audit.service import record
from schema.core.errors import fail
from schema.core.principal import Principal
from schema.merchants.errors import Code
from schema.merchants.models import Merchant, MerchantEvent
from schema.merchants.status import TRANSITIONS, Action, MerchantStatus, targets


def merchant_ref(merchant_id: int) -> str:
    """How the audit trail names a merchant."""
    return f"Merchant:{merchant_id}"


def operation_of(action: Action | str) -> str:
    """The audit operation of an action (``request_information``:
    ``merchantRequestInformation``)."""
    return "merchant" + "".join(part.title() for part in str(action).split("_"))


def cannot(merchant: Merchant, what: str) -> Exception:
    """INVALID_TRANSITION: ``merchant``'s status does not allow ``what`` (``change its
    profile``)."""
    return fail(
        (), Code.INVALID_TRANSITION, f"a merchant that is {merchant.status.value} cannot {what}"
    )


def refused_transition(merchant: Merchant, action: Action) -> Exception:
    return cannot(merchant, f"be moved by {action.value}")


async def change(merchant: Merchant, **fields: Any) -> None:
    """Write ``fields`` if nobody changed the merchant since it was read (CONFLICT
    otherwise), bumping its version; the instance is updated to match."""
    now = datetime.now(UTC)
    fields = {**fields, "version": merchant.version + 1, "updated_at": now}
    updated = await Merchant.filter(id=merchant.id, version=merchant.version).update(**fields)
    if not updated:
        raise fail((), Code.CONFLICT, "the merchant changed meanwhile: reload it and try again")
    for name, value in fields.items():
        setattr(merchant, name, value)


async def transition(
    merchant: Merchant,
    action: Action,
    actor: Principal,
    *,
    to: MerchantStatus | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Merchant:
    """Move ``merchant`` by ``action`` (to ``to``, when the action allows several
    targets), also writing ``fields``; INVALID_TRANSITION when its status does not allow
    it. Runs in the caller's transaction."""
    allowed = targets(action, merchant.status)
    new = to if to is not None else TRANSITIONS.get((action, merchant.status))
    if new not in allowed:
        raise refused_transition(merchant, action)
    before = merchant.status
    await change(merchant, status=new, status_changed_at=datetime.now(UTC), **fields)
    await _remember(merchant, str(action), actor, before, new, reason, details)
    return merchant


async def note(
    merchant: Merchant,
    action: str,
    actor: Principal,
    *,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record a decision about ``merchant`` that leaves its status as it is."""
    await _remember(merchant, action, actor, None, None, reason, details)


async def _remember(
    merchant: Merchant,
    action: str,
    actor: Principal,
    before: MerchantStatus | None,
    after: MerchantStatus | None,
    reason: str | None,
    details: Mapping[str, Any] | None,
) -> None:
    await MerchantEvent.create(
        merchant_id=merchant.id,
        action=action,
        from_status=before,
        to_status=after,
        actor=actor.subject,
        actor_user_id=actor.user_id,
        reason=reason,
        details=dict(details or {}),
        created_at=datetime.now(UTC),
    )
    summary: dict[str, Any] = {"reason": reason, **(details or {})}
    if after is not None:
        summary |= {"from": before, "to": after}
    await record(operation_of(action), targets=[merchant_ref(merchant.id)], summary=summary)
