"""GraphQL face of sanctions and appeals (``service.sanctions``).

- ``merchantWarn``, ``merchantSuspend``, ``merchantRemove``, ``merchantSanctionLift``,
  ``merchantOffboardComplete``: ``merchants:sanction`` covering the merchant.
- ``merchantSanctionAppeal``: those who manage the merchant (its owner, or
  ``merchants:manage`` covering it).
- ``merchantAppealDecide`` and the ``merchantAppeals`` queue (oldest first):
  ``merchants:review`` covering the merchant; the decider is neither the sanction's
  issuer nor anyone of the merchant.
- The merchant's sanctions and their appeals are on the ``Merchant`` node.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from schema.core.errors import fail
from schema.core.mutations import mutation_types
from schema.core.nodes import register_node, row_id_of
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import authenticated, limit_to_merchants, principal_of, requires
from schema.core.principal import Principal
from schema.idempotency.api import CODES as IDEMPOTENCY_CODES
from schema.idempotency.api import IdempotencyKeyArgument, idempotent, rows_of
from schema.merchants.api.common import (
    MERCHANTS_REVIEW,
    MERCHANTS_SANCTION,
    is_owner,
    managed_merchant,
    may_see,
    merchant_for,
    tenant_side,
)
from schema.merchants.api.related import (
    AppealNode,
    SanctionNode,
    fetch_row,
    merchant_row,
    sanction_node,
)
from schema.merchants.api.types import MerchantNode, merchant_result
from schema.merchants.errors import Code
from schema.merchants.models import Appeal, AppealDecision, Merchant, Sanction, SanctionKind
from schema.merchants.service import sanctions

_TEXT = (Code.REQUIRED, Code.TOO_LONG, Code.INVALID)
_MOVE = (*_TEXT, Code.NOT_FOUND, Code.INVALID_TRANSITION, Code.CONFLICT)


LIFT = mutation_types(
    "merchantSanctionLift",
    (*_MOVE, Code.NOT_IN_FORCE, Code.SELF_NOT_ALLOWED),
    merchant=MerchantNode,
    sanction=SanctionNode,
)
OFFBOARD = mutation_types("merchantOffboardComplete", _MOVE, merchant=MerchantNode)
APPEAL = mutation_types(
    "merchantSanctionAppeal",
    (
        *_TEXT,
        Code.NOT_FOUND,
        Code.NOT_OWNER,
        Code.NOT_IN_FORCE,
        Code.ALREADY_APPEALED,
        *IDEMPOTENCY_CODES,
    ),
    appeal=AppealNode,
)
DECIDE = mutation_types(
    "merchantAppealDecide",
    (*_TEXT, Code.NOT_FOUND, Code.ALREADY_DECIDED, Code.SELF_NOT_ALLOWED, Code.CONFLICT),
    merchant=MerchantNode,
    appeal=AppealNode,
)


async def _appeal_node(row: Appeal) -> AppealNode:
    return AppealNode.from_model(row, await Sanction.get(id=row.sanction_id))


async def _sanction_node(row: Sanction) -> SanctionNode:
    return sanction_node(row, await Appeal.get_or_none(sanction_id=row.id))


async def _sanction_result(row: Sanction) -> dict[str, Any]:
    merchant = await Merchant.get(id=row.merchant_id)
    return {"sanction": await _sanction_node(row), **await merchant_result(merchant)}


async def _appeal_result(row: Appeal) -> dict[str, Any]:
    return {"appeal": await _appeal_node(row)}


async def _decision_result(row: Appeal) -> dict[str, Any]:
    merchant = await Merchant.get(id=row.merchant_id)
    return {**await _appeal_result(row), **await merchant_result(merchant)}


def _checked_by(
    principal: Principal, permission: str, field: str
) -> Callable[[str], Awaitable[Merchant]]:
    return lambda gid: merchant_for(principal, gid, permission, field=field)


async def _fetch_sanction(key: str, context: Any) -> SanctionNode | None:
    row = await fetch_row(Sanction, key, context, may_see)
    return await _sanction_node(row) if row is not None else None


async def _fetch_appeal(key: str, context: Any) -> AppealNode | None:
    row = await fetch_row(Appeal, key, context, may_see)
    return await _appeal_node(row) if row is not None else None


register_node("MerchantSanction", _fetch_sanction)
register_node("MerchantAppeal", _fetch_appeal)


def _issuing(kind: SanctionKind, name: str, description: str) -> Any:
    """The mutation ``name`` issuing sanctions of ``kind``: ``merchantWarn``,
    ``merchantSuspend`` and ``merchantRemove`` differ only in these."""
    types = mutation_types(
        name, (*_MOVE, *IDEMPOTENCY_CODES), merchant=MerchantNode, sanction=SanctionNode
    )

    async def issue(
        info: strawberry.Info,
        id: strawberry.ID,
        reason: str,
        evidence: list[str] | None = None,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> Any:
        async def call() -> Sanction:
            principal = principal_of(info.context)
            merchant = await merchant_for(principal, id, MERCHANTS_SANCTION)
            return await sanctions.issue(principal, merchant, kind, reason, evidence or ())

        request = {"id": id, "reason": reason, "evidence": evidence}
        return await idempotent(
            info, types, idempotency_key, request, call, _sanction_result, rows_of(Sanction)
        )

    issue.__annotations__["return"] = types.payload
    return strawberry.mutation(
        resolver=issue, permission_classes=[requires(MERCHANTS_SANCTION)], description=description
    )


@strawberry.input(name="MerchantAppealFilter")
class AppealFilter:
    decided: bool | None = strawberry.field(
        default=None, description="Only decided (true) or waiting (false) appeals."
    )
    merchant_id: strawberry.ID | None = None


@strawberry.type
class SanctionsQuery:
    @strawberry.field(
        permission_classes=[requires(MERCHANTS_REVIEW)],
        description="Appeals against sanctions, oldest first (the queue to decide).",
    )
    async def merchant_appeals(
        self,
        info: strawberry.Info,
        filter: AppealFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AppealNode]:
        principal = principal_of(info.context)
        query = limit_to_merchants(Appeal.all(), principal, MERCHANTS_REVIEW)
        if filter is not None and filter.decided is not None:
            query = query.filter(decision__isnull=not filter.decided)
        if filter is not None and filter.merchant_id is not None:
            query = query.filter(merchant_id=row_id_of(filter.merchant_id, "Merchant") or 0)
        return await paginate(
            query.prefetch_related("sanction"),
            PageRequest(first=first, after=after),
            lambda row: AppealNode.from_model(row, row.sanction),
        )


@strawberry.type
class SanctionsMutation:
    merchant_warn = _issuing(
        SanctionKind.WARNING,
        "merchantWarn",
        "Warn a merchant, with the reason and evidence; its owner is mailed.",
    )
    merchant_suspend = _issuing(
        SanctionKind.SUSPENSION,
        "merchantSuspend",
        "Suspend a merchant, with the reason and evidence: it stops trading until "
        "reinstated; its owner is mailed.",
    )
    merchant_remove = _issuing(
        SanctionKind.REMOVAL,
        "merchantRemove",
        "Remove a merchant, with the reason and evidence: offboarding begins (what it is "
        "owed is still paid); its owner is mailed.",
    )

    @strawberry.mutation(
        permission_classes=[requires(MERCHANTS_SANCTION)],
        description="End a sanction in force; the merchant goes back to where the "
        "sanctions still in force leave it.",
    )
    async def merchant_sanction_lift(
        self, info: strawberry.Info, sanction_id: strawberry.ID, reason: str
    ) -> LIFT.payload:
        async def lift() -> Sanction:
            principal = principal_of(info.context)
            row, merchant = await merchant_row(
                Sanction, "MerchantSanction", sanction_id, "sanction_id",
                _checked_by(principal, MERCHANTS_SANCTION, "sanction_id"),
            )  # fmt: skip
            return await sanctions.lift(principal, merchant, row, reason)

        return await LIFT.run(lift(), _sanction_result)

    @strawberry.mutation(
        permission_classes=[requires(MERCHANTS_SANCTION)],
        description="Close the offboarding of a removed merchant: it is offboarded for good.",
    )
    async def merchant_offboard_complete(
        self, info: strawberry.Info, id: strawberry.ID, reason: str
    ) -> OFFBOARD.payload:
        async def complete() -> Merchant:
            principal = principal_of(info.context)
            merchant = await merchant_for(principal, id, MERCHANTS_SANCTION)
            return await sanctions.complete_offboarding(principal, merchant, reason)

        return await OFFBOARD.run(complete(), merchant_result)

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Appeal against a sanction in force of a merchant you manage: once "
        "per sanction.",
    )
    async def merchant_sanction_appeal(
        self,
        info: strawberry.Info,
        sanction_id: strawberry.ID,
        statement: str,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> APPEAL.payload:
        async def appeal() -> Appeal:
            principal = principal_of(info.context)
            row, merchant = await merchant_row(
                Sanction, "MerchantSanction", sanction_id, "sanction_id",
                lambda gid: managed_merchant(principal, gid, field="sanction_id"),
            )  # fmt: skip
            if tenant_side(principal, merchant) and not is_owner(principal, merchant):
                # The one appeal is the merchant's to make, not its tenant's staff's.
                raise fail("sanction_id", Code.NOT_OWNER, "only the merchant's side appeals")
            return await sanctions.appeal(principal, merchant, row, statement)

        request = {"sanction_id": sanction_id, "statement": statement}
        return await idempotent(
            info, APPEAL, idempotency_key, request, appeal, _appeal_result, rows_of(Appeal)
        )

    @strawberry.mutation(
        permission_classes=[requires(MERCHANTS_REVIEW)],
        description="Uphold or overturn an appeal; you must not have issued the sanction "
        "nor belong to the merchant. Overturned, the sanction ends and the merchant is "
        "restored where the state machine allows.",
    )
    async def merchant_appeal_decide(
        self,
        info: strawberry.Info,
        appeal_id: strawberry.ID,
        decision: AppealDecision,
        reason: str,
    ) -> DECIDE.payload:
        async def decide() -> Appeal:
            principal = principal_of(info.context)
            row, merchant = await merchant_row(
                Appeal, "MerchantAppeal", appeal_id, "appeal_id",
                _checked_by(principal, MERCHANTS_REVIEW, "appeal_id"),
            )  # fmt: skip
            return await sanctions.decide(principal, merchant, row, decision, reason)

        return await DECIDE.run(decide(), _decision_result)


QUERIES: list[type] = [SanctionsQuery]
MUTATIONS: list[type] = [SanctionsMutation]
TYPES: list[type] = [SanctionNode, AppealNode]
