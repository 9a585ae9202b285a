"""What the Merchant node shows of its agreements, staff and sanctions, and the types
and look-ups the agreements, staff and sanctions APIs share.

Each list is loaded for every merchant of a response at once (a DataLoader per
request, ``RequestContext.loader``): one query per list, not one per merchant. Who sees
what, beyond the merchant itself:

- ``agreementAcceptances``: whoever sees the merchant; the source address only to the
  person who accepted and to holders of a tenant-wide ``merchants:read`` (personal data:
  the merchant's staff do not see where their owner signed from).
- ``staff`` and ``invitations``: those who manage the merchant (its owner, or
  ``merchants:manage`` covering it); null for the others.
- ``sanctions`` with their appeals: whoever sees the merchant (its owner and staff, the
  tenant's reviewers and sanctioning officers). Who issued or decided stays internal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import strawberry
from strawberry.dataloader import DataLoader
from tortoise.queryset import QuerySet

from schema.access.models import RoleAssignment
from schema.core.errors import fail
from schema.core.nodes import Node, row_id, row_id_of, to_global_id
from schema.core.permissions import covers, ensure_authenticated, principal_of
from schema.core.principal import Principal
from schema.identity.models import User
from schema.merchants.api.common import MERCHANTS_MANAGE, MERCHANTS_READ, granted, is_owner
from schema.merchants.errors import Code
from schema.merchants.models import (
    AgreementAcceptance,
    Appeal,
    AppealDecision,
    Merchant,
    Sanction,
    SanctionKind,
    SanctionStatus,
    StaffInvitation,
)

strawberry.enum(SanctionKind, name="MerchantSanctionKind", description="What a sanction is.")
strawberry.enum(
    SanctionStatus, name="MerchantSanctionStatus", description="Whether a sanction holds."
)
strawberry.enum(
    AppealDecision, name="MerchantAppealDecision", description="What became of an appeal."
)


def merchant_gid(merchant_id: int) -> strawberry.ID:
    return to_global_id("Merchant", merchant_id)


@strawberry.type(
    name="MerchantAgreementAcceptance",
    description="Who accepted which agreement version for the merchant, when, from where.",
)
class AcceptanceType:
    version: str
    agreement_id: strawberry.ID = strawberry.field(description="The MerchantAgreement.")
    user_id: strawberry.ID = strawberry.field(description="The User who accepted.")
    accepted_at: datetime
    source_address: str | None = strawberry.field(
        description="The IP address it was accepted from: shown to the person who "
        "accepted and to holders of a tenant-wide merchants:read only."
    )


@strawberry.type(name="MerchantStaffMember", description="Someone who works for the merchant.")
class StaffMemberType:
    user_id: strawberry.ID
    full_name: str
    email: str
    owner: bool = strawberry.field(description="The merchant's owner (cannot be taken off).")
    roles: list[str] = strawberry.field(description="Keys of the roles held for the merchant.")


@strawberry.type(
    name="MerchantStaffInvitation", description="An invitation to work for a merchant."
)
class InvitationNode(Node):
    merchant_id: strawberry.ID
    email: str
    role_key: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_model(cls, row: StaffInvitation) -> InvitationNode:
        return cls(
            id=to_global_id("MerchantStaffInvitation", row.id),
            merchant_id=merchant_gid(row.merchant_id),
            email=row.email,
            role_key=row.role_key,
            created_at=row.created_at,
            expires_at=row.expires_at,
            accepted_at=row.accepted_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(
    name="MerchantAppeal", description="The merchant's appeal against one of its sanctions."
)
class AppealNode(Node):
    merchant_id: strawberry.ID
    statement: str
    submitted_at: datetime
    decision: AppealDecision | None
    decided_at: datetime | None
    decision_reason: str | None
    sanction: SanctionNode

    @classmethod
    def from_model(cls, row: Appeal, sanction: Sanction) -> AppealNode:
        """The appeal, with its sanction (whose ``appeal`` is this one)."""
        node = cls(
            id=to_global_id("MerchantAppeal", row.id),
            merchant_id=merchant_gid(row.merchant_id),
            statement=row.statement,
            submitted_at=row.submitted_at,
            decision=row.decision,
            decided_at=row.decided_at,
            decision_reason=row.decision_reason,
            sanction=None,  # type: ignore[arg-type]  # set just below: the two refer to each other
        )
        node.sanction = SanctionNode.from_model(sanction, node)
        return node


@strawberry.type(
    name="MerchantSanction", description="A warning, suspension or removal of a merchant."
)
class SanctionNode(Node):
    merchant_id: strawberry.ID
    kind: SanctionKind
    status: SanctionStatus
    reason: str
    evidence: list[str] = strawberry.field(description="What the sanction rests on.")
    issued_at: datetime
    ended_at: datetime | None = strawberry.field(description="When it was lifted or overturned.")
    end_reason: str | None
    appeal: AppealNode | None = strawberry.field(description="The merchant's one appeal.")

    @classmethod
    def from_model(cls, row: Sanction, appeal: AppealNode | None = None) -> SanctionNode:
        return cls(
            id=to_global_id("MerchantSanction", row.id),
            merchant_id=merchant_gid(row.merchant_id),
            kind=row.kind,
            status=row.status,
            reason=row.reason,
            evidence=[str(item["text"]) for item in row.evidence if "text" in item],
            issued_at=row.issued_at,
            ended_at=row.ended_at,
            end_reason=row.end_reason,
            appeal=appeal,
        )


def sanction_node(row: Sanction, appeal: Appeal | None) -> SanctionNode:
    """The sanction with its appeal, if any."""
    if appeal is None:
        return SanctionNode.from_model(row)
    return AppealNode.from_model(appeal, row).sanction


# --- loading per request -----------------------------------------------------------------

Row = TypeVar("Row")


def _grouped(rows: Iterable[Any], keys: Sequence[int]) -> list[list[Any]]:
    """``rows`` (each with a ``merchant_id``) in one list per key, in ``keys`` order."""
    groups: dict[int | None, list[Any]] = defaultdict(list)
    for row in rows:
        groups[row.merchant_id].append(row)
    return [groups[key] for key in keys]


def _by_merchant(query: Callable[[], QuerySet[Row]]) -> Callable[[], DataLoader[int, list[Row]]]:
    """A loader factory: ``query``'s rows of each merchant asked for, in one query."""

    async def load(keys: list[int]) -> list[list[Row]]:
        return _grouped(await query().filter(merchant_id__in=keys), keys)

    return lambda: DataLoader(load_fn=load)


def _pending_invitations() -> QuerySet[StaffInvitation]:
    return StaffInvitation.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=datetime.now(UTC)
    ).order_by("-id")


_acceptances = _by_merchant(
    lambda: AgreementAcceptance.all().select_related("agreement").order_by("-id")
)
_invitations = _by_merchant(_pending_invitations)
_staff_users = _by_merchant(lambda: User.all().order_by("id"))


async def _load_sanctions(keys: list[int]) -> list[list[SanctionNode]]:
    rows = await Sanction.filter(merchant_id__in=keys).order_by("-id")
    appeals = {a.sanction_id: a for a in await Appeal.filter(merchant_id__in=keys)}
    return [[sanction_node(r, appeals.get(r.id)) for r in group] for group in _grouped(rows, keys)]


async def _load_roles(keys: list[int]) -> list[dict[int, list[str]]]:
    """Per merchant: the keys of the roles each user holds for it."""
    held = await RoleAssignment.filter(merchant_id__in=keys).values_list(
        "merchant_id", "user_id", "role__key"
    )
    roles: dict[int, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for merchant_id, user_id, key in sorted(held):
        roles[merchant_id][user_id].append(key)
    return [roles[key] for key in keys]


def _sanctions() -> DataLoader[int, list[SanctionNode]]:
    return DataLoader(load_fn=_load_sanctions)


def _roles() -> DataLoader[int, dict[int, list[str]]]:
    return DataLoader(load_fn=_load_roles)


# --- the Merchant node's fields ----------------------------------------------------------


async def _load(
    info: strawberry.Info, factory: Callable[[], DataLoader[int, Any]], key: int
) -> Any:
    return await info.context.loader(factory).load(key)


async def acceptances_of(info: strawberry.Info, merchant: Merchant) -> list[AcceptanceType]:
    principal = principal_of(info.context)
    tenant_wide = covers(principal, MERCHANTS_READ, None)  # held for every merchant
    rows: list[AgreementAcceptance] = await _load(info, _acceptances, merchant.id)
    return [
        AcceptanceType(
            version=row.agreement.version,
            agreement_id=to_global_id("MerchantAgreement", row.agreement_id),
            user_id=to_global_id("User", row.user_id),
            accepted_at=row.accepted_at,
            source_address=(
                row.source_address if tenant_wide or principal.user_id == row.user_id else None
            ),
        )
        for row in rows
    ]


async def staff_of(info: strawberry.Info, merchant: Merchant) -> list[StaffMemberType] | None:
    if not manages(principal_of(info.context), merchant):
        return None
    users: list[User] = await _load(info, _staff_users, merchant.id)
    roles: dict[int, list[str]] = await _load(info, _roles, merchant.id)
    return [
        StaffMemberType(
            user_id=to_global_id("User", user.id),
            full_name=user.full_name,
            email=user.email,
            owner=user.id == merchant.owner_user_id,
            roles=roles.get(user.id, []),
        )
        for user in users
    ]


async def invitations_of(info: strawberry.Info, merchant: Merchant) -> list[InvitationNode] | None:
    if not manages(principal_of(info.context), merchant):
        return None
    rows: list[StaffInvitation] = await _load(info, _invitations, merchant.id)
    return [InvitationNode.from_model(row) for row in rows]


async def sanctions_of(info: strawberry.Info, merchant: Merchant) -> list[SanctionNode]:
    nodes: list[SanctionNode] = await _load(info, _sanctions, merchant.id)
    return nodes


# --- rows that belong to a merchant ------------------------------------------------------

# The rows that belong to one merchant and are named by global ID.
OfMerchant = TypeVar("OfMerchant", Sanction, Appeal, StaffInvitation)


async def merchant_row(
    model: type[OfMerchant],
    type_name: str,
    global_id: str,
    field: str,
    merchant: Callable[[str], Awaitable[Merchant]],
) -> tuple[OfMerchant, Merchant]:
    """The row ``global_id`` names and its merchant, when ``merchant`` (one of
    ``merchant_for``, ``managed_merchant``... given the merchant's global ID) lets the
    principal act on it; NOT_FOUND otherwise, as for an id that does not exist."""
    row_id = row_id_of(global_id, type_name)
    row = await model.get_or_none(id=row_id) if row_id is not None else None
    if row is None:
        raise fail(field, Code.NOT_FOUND, f"no such {type_name}")
    return row, await merchant(merchant_gid(row.merchant_id))


async def fetch_row(
    model: type[OfMerchant],
    key: str,
    context: Any,
    visible: Callable[[Principal, Merchant], bool],
) -> OfMerchant | None:
    """A node fetcher's row: the row of key ``key`` when its merchant is ``visible``."""
    principal = ensure_authenticated(context)
    key_id = row_id(key)
    row = await model.get_or_none(id=key_id) if key_id is not None else None
    merchant = await Merchant.get_or_none(id=row.merchant_id) if row is not None else None
    if row is None or merchant is None or not visible(principal, merchant):
        return None
    return row


def manages(principal: Principal, merchant: Merchant) -> bool:
    """Its owner, or ``merchants:manage`` covering it."""
    return is_owner(principal, merchant) or granted(principal, merchant, MERCHANTS_MANAGE)
