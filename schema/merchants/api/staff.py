"""GraphQL face of a merchant's staff (``service.staff``).

Inviting, revoking an invitation and taking someone off are for those who manage the
merchant (its owner, or ``merchants:manage`` covering it); inviting and taking off also
need the role's permissions (the access domain's rule: nobody grants what they do not
hold). Accepting needs only a signed-in user: the mailed token is the credential, and
it works only for the invited address. The lists are on the ``Merchant`` node
(``staff``, ``invitations``).
"""

from __future__ import annotations

from typing import Any

import strawberry

from schema.core.mutations import mutation_types
from schema.core.nodes import register_node, row_id_of
from schema.core.permissions import authenticated, principal_of
from schema.idempotency.api import CODES as IDEMPOTENCY_CODES
from schema.idempotency.api import IdempotencyKeyArgument, idempotent, rows_of
from schema.merchants.api.common import managed_merchant
from schema.merchants.api.profiles import MerchantProfile
from schema.merchants.api.related import InvitationNode, fetch_row, manages, merchant_row
from schema.merchants.api.types import MerchantNode, merchant_result
from schema.merchants.errors import Code
from schema.merchants.models import Merchant, StaffInvitation
from schema.merchants.service import staff
from schema.merchants.service.staff import DEFAULT_ROLE

_TEXT = (Code.REQUIRED, Code.TOO_LONG, Code.INVALID)
INVITE = mutation_types(
    "merchantStaffInvite",
    (
        *_TEXT, Code.NOT_FOUND, Code.MERCHANT_INACTIVE, Code.ALREADY_STAFF,
        Code.ROLE_NOT_FOUND, Code.ROLE_NOT_ALLOWED, Code.PERMISSION_NOT_HELD,
        *IDEMPOTENCY_CODES,
    ),
    invitation=InvitationNode,
)  # fmt: skip
ACCEPT = mutation_types(
    "merchantStaffInvitationAccept",
    (
        Code.NOT_A_USER, Code.TOKEN_INVALID, Code.EMAIL_MISMATCH, Code.EMAIL_NOT_VERIFIED,
        Code.ALREADY_STAFF, Code.MERCHANT_INACTIVE, Code.ROLE_NOT_ALLOWED,
    ),
    merchant=MerchantProfile,
)  # fmt: skip
REVOKE = mutation_types(
    "merchantStaffInvitationRevoke", (Code.NOT_FOUND, Code.NOT_PENDING), invitation=InvitationNode
)
REMOVE = mutation_types(
    "merchantStaffRemove",
    (*_TEXT, Code.NOT_FOUND, Code.CANNOT_REMOVE_OWNER, Code.PERMISSION_NOT_HELD),
    merchant=MerchantNode,
)


async def _invitation_result(row: StaffInvitation) -> dict[str, Any]:
    return {"invitation": InvitationNode.from_model(row)}


async def _profile_result(row: Merchant) -> dict[str, Any]:
    return {"merchant": MerchantProfile.from_model(row)}


async def _fetch_invitation(key: str, context: Any) -> InvitationNode | None:
    row = await fetch_row(StaffInvitation, key, context, manages)
    return InvitationNode.from_model(row) if row is not None else None


register_node("MerchantStaffInvitation", _fetch_invitation)


@strawberry.type
class StaffMutation:
    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Invite someone by email to work for a merchant you manage, with a "
        "role limited to it that you hold yourself; a link valid for 7 days is mailed. A "
        "pending invitation of the same address is replaced.",
    )
    async def merchant_staff_invite(
        self,
        info: strawberry.Info,
        merchant_id: strawberry.ID,
        email: str,
        role_key: str = DEFAULT_ROLE,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> INVITE.payload:
        async def invite() -> StaffInvitation:
            principal = principal_of(info.context)
            merchant = await managed_merchant(principal, merchant_id, field="merchant_id")
            return await staff.invite(principal, merchant, email, role_key)

        request = {"merchant_id": merchant_id, "email": email, "role_key": role_key}
        return await idempotent(
            info, INVITE, idempotency_key, request, invite, _invitation_result,
            rows_of(StaffInvitation),
        )  # fmt: skip

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Join the merchant that invited you, with the mailed token; you must "
        "be signed in with the invited email address.",
    )
    async def merchant_staff_invitation_accept(
        self, info: strawberry.Info, token: str
    ) -> ACCEPT.payload:
        call = staff.accept(principal_of(info.context), token)
        return await ACCEPT.run(call, _profile_result)

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Revoke a pending invitation of a merchant you manage.",
    )
    async def merchant_staff_invitation_revoke(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> REVOKE.payload:
        async def revoke() -> StaffInvitation:
            principal = principal_of(info.context)
            row, merchant = await merchant_row(
                StaffInvitation, "MerchantStaffInvitation", id, "id",
                lambda gid: managed_merchant(principal, gid),
            )  # fmt: skip
            return await staff.revoke(principal, merchant, row)

        return await REVOKE.run(revoke(), _invitation_result)

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Take someone off the staff of a merchant you manage: their roles for "
        "it go (you must hold what they grant), and so does their access. Not its owner.",
    )
    async def merchant_staff_remove(
        self, info: strawberry.Info, merchant_id: strawberry.ID, user_id: strawberry.ID, reason: str
    ) -> REMOVE.payload:
        async def remove() -> Merchant:
            principal = principal_of(info.context)
            merchant = await managed_merchant(principal, merchant_id, field="merchant_id")
            member = row_id_of(user_id, "User") or 0  # 0: no such user
            return await staff.remove(principal, merchant, member, reason)

        return await REMOVE.run(remove(), merchant_result)


QUERIES: list[type] = []
MUTATIONS: list[type] = [StaffMutation]
TYPES: list[type] = [InvitationNode]
