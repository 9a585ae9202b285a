"""GraphQL face of the cooperation agreement (``service.agreements``).

- ``merchantAgreementPublish``: ``merchants:configure``.
- ``merchantAgreement``: any signed-in user (an applicant reads the agreement before
  they hold any role); ``merchantAgreements``, every version: ``merchants:read`` (the
  published texts belong to no one merchant, so a grant limited to one shows them all).
- ``merchantAgreementAccept``: the merchant's owner alone; the request's source address
  is recorded with the acceptance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from schema.core.mutations import mutation_types
from schema.core.nodes import Node, register_node, row_id, to_global_id
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import (
    authenticated,
    ensure_authenticated,
    principal_of,
    requires,
    requires_tenant_wide,
)
from schema.idempotency.api import CODES as IDEMPOTENCY_CODES
from schema.idempotency.api import IdempotencyKeyArgument, idempotent, rows_of
from schema.merchants.api.common import MERCHANTS_CONFIGURE, MERCHANTS_READ, owned_merchant
from schema.merchants.api.types import MerchantNode, merchant_result
from schema.merchants.errors import Code
from schema.merchants.models import Merchant, MerchantAgreement
from schema.merchants.service import agreements
from schema.merchants.service.agreements import AgreementDraft, current_agreement


@strawberry.type(name="MerchantAgreement", description="A version of the merchant agreement.")
class AgreementNode(Node):
    version: str
    title: str
    body: str
    body_sha256: str = strawberry.field(description="SHA-256 of the body, hex: what is accepted.")
    published_at: datetime
    reacceptance_deadline: datetime | None = strawberry.field(
        description="Merchants that accepted an earlier version must accept this one by then."
    )
    current: bool = strawberry.field(description="Whether this is the version to accept now.")

    @classmethod
    def from_model(cls, row: MerchantAgreement, current_id: int | None) -> AgreementNode:
        return cls(
            id=to_global_id("MerchantAgreement", row.id),
            version=row.version,
            title=row.title,
            body=row.body,
            body_sha256=row.body_sha256,
            published_at=row.published_at,
            reacceptance_deadline=row.reacceptance_deadline,
            current=row.id == current_id,
        )


async def _node(row: MerchantAgreement | None) -> AgreementNode | None:
    if row is None:
        return None
    current = await current_agreement()
    return AgreementNode.from_model(row, current.id if current else None)


@strawberry.input(name="MerchantAgreementPublishInput")
class AgreementPublishInput:
    version: str = strawberry.field(description='The tenant\'s label, e.g. "2026-11".')
    title: str
    body: str
    reacceptance_deadline: datetime | None = strawberry.field(
        default=None,
        description="Require merchants to accept this version by then (in the future); "
        "without it, only merchants not yet trading accept it.",
    )


_TEXT = (Code.REQUIRED, Code.TOO_LONG, Code.INVALID)
PUBLISH = mutation_types(
    "merchantAgreementPublish",
    (*_TEXT, Code.OUT_OF_RANGE, Code.VERSION_TAKEN, *IDEMPOTENCY_CODES),
    agreement=AgreementNode,
)
ACCEPT = mutation_types(
    "merchantAgreementAccept",
    (
        Code.NOT_FOUND, Code.NOT_OWNER, Code.AGREEMENT_NOT_CURRENT, Code.ALREADY_ACCEPTED,
        Code.INVALID_TRANSITION, Code.CONFLICT,
    ),
    merchant=MerchantNode,
)  # fmt: skip


async def _agreement_result(row: MerchantAgreement) -> dict[str, Any]:
    return {"agreement": await _node(row)}


async def _fetch_agreement(key: str, context: Any) -> AgreementNode | None:
    ensure_authenticated(context)
    agreement_id = row_id(key)
    return await _node(
        await MerchantAgreement.get_or_none(id=agreement_id) if agreement_id else None
    )


register_node("MerchantAgreement", _fetch_agreement)


@strawberry.type
class AgreementsQuery:
    @strawberry.field(
        permission_classes=[authenticated],
        description="An agreement version; the current one when no version is given. "
        "Null when there is none.",
    )
    async def merchant_agreement(self, version: str | None = None) -> AgreementNode | None:
        if version is None:
            return await _node(await current_agreement())
        return await _node(await MerchantAgreement.get_or_none(version=version.strip()))

    @strawberry.field(
        permission_classes=[requires(MERCHANTS_READ)],
        description="Every published version, newest first.",
    )
    async def merchant_agreements(
        self,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AgreementNode]:
        current = await current_agreement()
        current_id = current.id if current else None
        return await paginate(
            MerchantAgreement.all(),
            PageRequest(first=first, after=after, last=last, before=before),
            lambda row: AgreementNode.from_model(row, current_id),
            newest_first=True,
        )


@strawberry.type
class AgreementsMutation:
    @strawberry.mutation(
        permission_classes=[requires_tenant_wide(MERCHANTS_CONFIGURE)],
        description="Publish a new agreement version; it is current from now on. With a "
        "re-acceptance deadline, the owners of trading merchants are mailed, and those "
        "that have not accepted it by then stop trading until they do.",
    )
    async def merchant_agreement_publish(
        self,
        info: strawberry.Info,
        input: AgreementPublishInput,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> PUBLISH.payload:
        draft = AgreementDraft(input.version, input.title, input.body, input.reacceptance_deadline)
        principal = principal_of(info.context)
        return await idempotent(
            info, PUBLISH, idempotency_key, input,
            lambda: agreements.publish(principal, draft),
            _agreement_result, rows_of(MerchantAgreement),
        )  # fmt: skip

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Accept the current agreement version for your merchant (its owner "
        "only). A merchant waiting for the agreement becomes active.",
    )
    async def merchant_agreement_accept(
        self, info: strawberry.Info, merchant_id: strawberry.ID, version: str
    ) -> ACCEPT.payload:
        async def accept() -> Merchant:
            principal = principal_of(info.context)
            merchant = await owned_merchant(principal, merchant_id, field="merchant_id")
            source = info.context.source_address
            return await agreements.accept(principal, merchant, version, source)

        return await ACCEPT.run(accept(), merchant_result)


QUERIES: list[type] = [AgreementsQuery]
MUTATIONS: list[type] = [AgreementsMutation]
TYPES: list[type] = [AgreementNode]
